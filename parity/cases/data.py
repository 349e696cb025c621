"""Data-pipeline parity cases: JPEG decoding, image-folder readers, normalisation, shared batch order."""

from __future__ import annotations

from functools import partial

import numpy as np

from parity import data as spec
from parity.frameworks import mirror
from parity.registry import Case, Sides


def _decode(decoder_b: str, files: str, ctx) -> Sides:
    """PIL on the torch side against TF's decoder `decoder_b` on the same JPEG files."""
    torch_side, keras_side = mirror("data")
    paths = spec.sample_photo_paths() if files == "photos" else ctx.data_dir_files("test", per_class=100)
    a = np.concatenate([torch_side.decode_image(p, "pil").ravel() for p in paths])
    b = np.concatenate([keras_side.decode_image(p, decoder_b).ravel() for p in paths])
    differing = int(np.count_nonzero(a != b))
    return Sides(a, b, labels=("torch pil", f"keras {decoder_b}"),
                 detail={"files": len(paths), "values_differing": differing, "values": int(a.size)})


def _folder(tree: str, ctx) -> Sides:
    """torchvision ImageFolder against keras image_dataset_from_directory: same order, labels and pixels."""
    torch_side, keras_side = mirror("data")
    root = ctx.small_tree if tree == "generated" else ctx.need_data_dir()
    a, b = torch_side.load_image_folder(root, "test", "pil"), keras_side.load_image_folder(root, "test", "pil")
    same_order = a.paths == b.paths and a.classes == b.classes
    flat = lambda s: np.concatenate([s.labels, s.images.ravel()])  # noqa: E731
    return Sides(flat(a), flat(b), detail={"images": len(a.paths), "classes": list(a.classes),
                                           "same_file_order": same_order})


def _keras_reader(ctx) -> Sides:
    """keras_impl's 'tf_fast' decode is what image_dataset_from_directory itself yields."""
    import keras

    _, keras_side = mirror("data")
    root = ctx.small_tree / "test"
    ds = keras.utils.image_dataset_from_directory(str(root), batch_size=None, image_size=(32, 32),
                                                  shuffle=False, verbose=False)
    native = np.stack([x.numpy() for x, _ in ds])
    ours = np.stack([keras_side.decode_image(p, "tf_fast") for p in ds.file_paths])
    return Sides(ours.astype(np.float32), native, labels=("keras_impl tf_fast", "image_dataset_from_directory"))


def _normalize(mode: str, ctx) -> Sides:
    torch_side, keras_side = mirror("data")
    x = ctx.thumbnails
    return Sides(torch_side.normalize(x, mode), keras_side.normalize(x, mode), spec.reference_normalize(x, mode))


def _normalize_cross(mode_a: str, mode_b: str, ctx) -> Sides:
    torch_side, _ = mirror("data")
    return Sides(torch_side.normalize(ctx.thumbnails, mode_a), torch_side.normalize(ctx.thumbnails, mode_b),
                 labels=(f"torch {mode_a}", f"torch {mode_b}"))


def _batches(ctx) -> Sides:
    """Two epochs from the shared seeded order, resized (tf_resize, 64: bitwise equal in both) and normalised."""
    torch_side, keras_side = mirror("data")
    images, labels = ctx.thumbnails, np.arange(len(ctx.thumbnails))
    out = []
    for side in (torch_side, keras_side):
        epochs = [spec.batch_order(len(images), 3, seed=ctx.seed + e, drop_last=False) for e in range(2)]
        got = [side.to_numpy(batch) for order in epochs
               for batch in side.make_loader(images, labels, order, 64, "tf_resize", "torch")]
        out.append(np.concatenate([np.concatenate([x.ravel(), y.astype(np.float32)]) for x, y in got]))
    return Sides(*out, detail={"epochs": 2, "batch_size": 3, "images": len(images)})


def _drop_last(ctx) -> Sides:
    """Images seen per epoch on sklearn digits at bs=64: fastai drops the partial batch, Keras keeps it."""
    images, _ = spec.digits_rgb()
    seen = [sum(len(b) for b in spec.batch_order(len(images), 64, ctx.seed, drop_last=d)) for d in (True, False)]
    return Sides(np.array([seen[0]]), np.array([seen[1]]), labels=("fastai drop_last=True", "keras fit"),
                 detail={"dataset": "sklearn digits", "n": len(images), "batch_size": 64})


CASES = [
    Case("data", "decode pil vs tf accurate (sklearn photos)", "matched", partial(_decode, "pil", "photos"),
         "exact", "both run libjpeg-turbo's ISLOW DCT with fancy upsampling"),
    Case("data", "decode pil vs tf default (sklearn photos)", "divergence", partial(_decode, "tf_fast", "photos"),
         "exact", "tf.io.decode_image (image_dataset_from_directory) uses the IFAST integer DCT; PIL uses ISLOW"),
    Case("data", "decode pil vs tf accurate (data-dir)", "matched", partial(_decode, "pil", "data_dir"),
         "exact", "both run libjpeg-turbo's ISLOW DCT with fancy upsampling"),
    Case("data", "decode pil vs tf default (data-dir)", "divergence", partial(_decode, "tf_fast", "data_dir"),
         "exact", "tf.io.decode_image (image_dataset_from_directory) uses the IFAST integer DCT; PIL uses ISLOW"),
    Case("data", "folder reader (generated tree)", "matched", partial(_folder, "generated"), "exact",
         "ImageFolder and image_dataset_from_directory both sort classes and files"),
    Case("data", "folder reader (data-dir test split)", "matched", partial(_folder, "data_dir"), "exact",
         "ImageFolder and image_dataset_from_directory both sort classes and files"),
    Case("data", "keras reader is tf_fast decode", "matched", _keras_reader, "exact",
         "image_dataset_from_directory decodes with tf.io.decode_image's default DCT"),
    *[Case("data", f"normalize {mode}", "matched", partial(_normalize, mode), "normalized_f32",
           spec.NORMALIZATIONS[mode].summary) for mode in spec.NORMALIZATIONS],
    Case("data", "normalize torch vs tf", "divergence", partial(_normalize_cross, "torch", "tf"), "normalized_f32",
         "the thread: fastai imagenet_stats vs ResNet50V2's x/127.5-1 feed the body different input ranges"),
    Case("data", "batches from the shared order", "matched", _batches, "normalized_f32",
         "both loaders consume parity.data.batch_order, then resize and normalise each batch"),
    Case("data", "drop_last images per epoch", "divergence", _drop_last, "exact",
         "fastai's train loader drops the last partial batch (drop_last=True); Keras fit keeps it"),
]
