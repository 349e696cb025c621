"""Data-pipeline parity cases: JPEG decoding, image-folder readers, normalisation, shared batch order."""

from __future__ import annotations

from functools import partial

import numpy as np

from parity.components import data as spec
from parity.check.case import Case, Sides
from parity.runtime.backends import decoding_backend, native
from parity.runtime.client import client


def _paths(files: str, ctx) -> list[str]:
    return spec.sample_photo_paths() if files == "photos" else ctx.data_dir_files("test", per_class=100)


def _decoded(decoder: str, files: str, backend: str, ctx) -> np.ndarray:
    return np.concatenate([spec.decode_image(p, decoder, on=backend).ravel() for p in _paths(files, ctx)])


def _decode_defaults(files: str, ctx) -> Sides:
    """PIL (torch, fastai) against TensorFlow's default decode (keras_tf's image_dataset_from_directory)."""
    a = _decoded("pil", files, decoding_backend("pil"), ctx)
    b = _decoded("tf_fast", files, decoding_backend("tf_fast"), ctx)
    return Sides(a, b, labels=("torch pil", "keras_tf tf_fast"),
                 detail={"files": len(_paths(files, ctx)), "values_differing": int(np.count_nonzero(a != b)),
                         "values": int(a.size)})


def _folder(tree: str, backend: str, ctx) -> np.ndarray:
    """The backend's own folder reader (ImageFolder, image_dataset_from_directory): order, labels, pixels."""
    root = ctx.small_tree if tree == "generated" else ctx.need_data_dir()
    split = spec.read_image_folder(root, "test", "pil", on=backend)
    return np.concatenate([split.labels, split.images.ravel()])


def keras_reader_here(root: str) -> tuple[np.ndarray, np.ndarray]:
    """Runs inside the keras_tf worker: image_dataset_from_directory's own images, and keras_impl's tf_fast decode
    of the same files."""
    import keras

    from keras_impl.data import decode_image

    ds = keras.utils.image_dataset_from_directory(root, batch_size=None, image_size=(32, 32), shuffle=False,
                                                  verbose=False)
    library = np.stack([x.numpy() for x, _ in ds])
    return np.stack([decode_image(p, "tf_fast") for p in ds.file_paths]).astype(np.float32), library


def _keras_reader(ctx) -> Sides:
    """keras_impl's 'tf_fast' decode is what image_dataset_from_directory itself yields."""
    ours, library = client(native("keras")).run(keras_reader_here, str(ctx.small_tree / "test"))
    return Sides(ours, library, labels=("keras_impl tf_fast", "image_dataset_from_directory"))


def _normalize(mode: str, backend: str, ctx) -> np.ndarray:
    return spec.normalize(ctx.thumbnails, mode, on=backend)


def _normalize_cross(mode_a: str, mode_b: str, ctx) -> Sides:
    return Sides(spec.normalize(ctx.thumbnails, mode_a, on="torch"), spec.normalize(ctx.thumbnails, mode_b, on="torch"),
                 labels=(f"torch {mode_a}", f"torch {mode_b}"))


def _batches(backend: str, ctx) -> np.ndarray:
    """Two epochs from the shared seeded order, resized (tf_resize, 64: bitwise equal everywhere) and normalised
    by the backend's own loader."""
    images, labels = ctx.thumbnails, np.arange(len(ctx.thumbnails))
    epochs = [spec.batch_order(len(images), 3, seed=ctx.seed + e, drop_last=False) for e in range(2)]
    got = [batch for order in epochs
           for batch in spec.loader_batches(images, labels, order, 64, "tf_resize", "torch", on=backend)]
    return np.concatenate([np.concatenate([x.ravel(), y.astype(np.float32)]) for x, y in got])


def _drop_last(ctx) -> Sides:
    """Images seen per epoch on sklearn digits at bs=64: fastai drops the partial batch, Keras keeps it."""
    images, _ = spec.digits_rgb()
    seen = [sum(len(b) for b in spec.batch_order(len(images), 64, ctx.seed, drop_last=d)) for d in (True, False)]
    return Sides(np.array([seen[0]]), np.array([seen[1]]), labels=("fastai drop_last=True", "keras fit"),
                 detail={"dataset": "sklearn digits", "n": len(images), "batch_size": 64})


_ISLOW = "decoded with libjpeg-turbo's ISLOW DCT and fancy upsampling everywhere (PIL; tf.io's INTEGER_ACCURATE)"
_IFAST = "tf.io.decode_image (image_dataset_from_directory) uses the IFAST integer DCT; PIL uses ISLOW"

CASES = [
    Case("data", "decode pil vs tf accurate (sklearn photos)", "matched", partial(_decoded, "pil", "photos"),
         "exact", _ISLOW, across=True, requires=(("decoder", "pil"),), key="decode.accurate.photos"),
    Case("data", "decode pil vs tf default (sklearn photos)", "divergence", partial(_decode_defaults, "photos"),
         "exact", _IFAST, key="decode.default.photos"),
    Case("data", "decode pil vs tf accurate (data-dir)", "matched", partial(_decoded, "pil", "data_dir"),
         "exact", _ISLOW, across=True, requires=(("decoder", "pil"),), key="decode.accurate.data_dir"),
    Case("data", "decode pil vs tf default (data-dir)", "divergence", partial(_decode_defaults, "data_dir"),
         "exact", _IFAST, key="decode.default.data_dir"),
    Case("data", "folder reader (generated tree)", "matched", partial(_folder, "generated"), "exact",
         "ImageFolder and image_dataset_from_directory both sort classes and files", across=True,
         requires=(("reader", "folder"),), key="reader.generated"),
    Case("data", "folder reader (data-dir test split)", "matched", partial(_folder, "data_dir"), "exact",
         "ImageFolder and image_dataset_from_directory both sort classes and files", across=True,
         requires=(("reader", "folder"),), key="reader.data_dir"),
    Case("data", "keras reader is tf_fast decode", "matched", _keras_reader, "exact",
         "image_dataset_from_directory decodes with tf.io.decode_image's default DCT", key="reader.keras_is_tf_fast"),
    *[Case("data", f"normalize {mode}", "matched", partial(_normalize, mode), "normalized_f32",
           spec.NORMALIZATIONS[mode].summary, across=True,
           reference=lambda ctx, mode=mode: spec.reference_normalize(ctx.thumbnails, mode), key=f"normalize.{mode}")
      for mode in spec.NORMALIZATIONS],
    Case("data", "normalize torch vs tf", "divergence", partial(_normalize_cross, "torch", "tf"), "normalized_f32",
         "the thread: fastai imagenet_stats vs ResNet50V2's x/127.5-1 feed the body different input ranges",
         key="normalize.torch_vs_tf"),
    Case("data", "batches from the shared order", "matched", _batches, "normalized_f32",
         "every loader consumes parity.components.data.batch_order, then resizes and normalises each batch",
         across=True,
         key="batches.shared_order"),
    Case("data", "drop_last images per epoch", "divergence", _drop_last, "exact",
         "fastai's train loader drops the last partial batch (drop_last=True); Keras fit keeps it", key="drop_last"),
]
