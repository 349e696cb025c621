"""Keras side of the data pipeline: tf.io decoding, image_dataset_from_directory, normalisation, tf.data."""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np
import tensorflow as tf
from PIL import Image

from keras_impl.resize import resize
from parity import data as spec
from parity.errors import ParityError


def _check_decoder(decoder: str | None) -> spec.Decoder:
    return spec.get_decoder(decoder or spec.DEFAULT_DECODER["keras"])


def _decode(raw: tf.Tensor, dct_method: str) -> tf.Tensor:
    # decode_image (what image_dataset_from_directory calls) dispatches JPEGs to decode_jpeg with dct ''
    # (= INTEGER_FAST); decode_jpeg is called directly here so the DCT can be chosen.
    is_jpeg = tf.io.is_jpeg(raw)
    return tf.cond(is_jpeg, lambda: tf.io.decode_jpeg(raw, channels=3, dct_method=dct_method),
                   lambda: tf.io.decode_image(raw, channels=3, expand_animations=False))


def decode_image(path, decoder: str | None = None) -> np.ndarray:
    """One image file as HWC uint8 RGB through tf.io."""
    dct = _check_decoder(decoder).tf_dct_method
    try:
        return _decode(tf.io.read_file(str(path)), dct).numpy()
    except (tf.errors.InvalidArgumentError, tf.errors.NotFoundError) as exc:
        raise ParityError(f"cannot decode image file {str(path)!r}: {exc.message.splitlines()[0]}") from exc


def _decode_all(paths, dct: str) -> list:
    ds = tf.data.Dataset.from_tensor_slices(list(paths))
    ds = ds.map(lambda p: _decode(tf.io.read_file(p), dct), num_parallel_calls=tf.data.AUTOTUNE,
                deterministic=True)
    try:
        return [img.numpy() for img in ds]
    except tf.errors.InvalidArgumentError:  # tf.data does not say which file: find it one by one
        for path in paths:
            decode_image(path, "tf_fast" if dct == "INTEGER_FAST" else "pil")
        raise


def load_image_folder(root, split: str, decoder: str | None = None) -> spec.LoadedSplit:
    """`root/split/<class>/*` indexed by keras.utils.image_dataset_from_directory, decoded through tf.io."""
    dct = _check_decoder(decoder).tf_dct_method
    listing = spec.list_image_folder(root, split)
    with Image.open(listing.paths[0]) as first:
        hw = (first.height, first.width)
    ds = keras.utils.image_dataset_from_directory(str(Path(root) / split), labels="inferred", label_mode="int",
                                                  batch_size=None, image_size=hw, shuffle=False, verbose=False)
    paths = tuple(ds.file_paths)
    if tuple(ds.class_names) != listing.classes or paths != listing.paths:
        raise AssertionError(f"image_dataset_from_directory order differs from parity's listing in {root}/{split}")
    labels = np.asarray([listing.classes.index(Path(p).parent.name) for p in paths], np.int64)
    images = spec.stack_same_size(_decode_all(paths, dct), paths)
    return spec.LoadedSplit(images, labels, listing.classes, paths)


def normalize(images, mode: str) -> np.ndarray:
    """NHWC 0-255 float -> NHWC normalised float32 (keras.applications preprocess_input for its modes)."""
    norm = spec.get_normalization(mode)
    x = np.array(images, np.float32)  # preprocess_input works in place on numpy input
    if mode == "none":
        return x
    return keras.applications.imagenet_utils.preprocess_input(x, data_format="channels_last", mode=mode)


def make_loader(images, labels, order, size=None, resize_method: str = "fastai_v1", norm: str = "none"):
    """Batches in `order` (a list of index arrays) as a tf.data.Dataset of (x NHWC float32, y int64)."""
    spec.prepared_batches(images, labels, order, size, resize_method, norm, resize, normalize)  # checks knobs
    batches = lambda: spec.prepared_batches(images, labels, order, size, resize_method, norm, resize,  # noqa: E731
                                            normalize)
    h, w = spec.resize_target_or(size, np.asarray(images).shape[1:3])
    signature = (tf.TensorSpec((None, h, w, np.asarray(images).shape[-1]), tf.float32),
                 tf.TensorSpec((None,), tf.int64))
    return tf.data.Dataset.from_generator(batches, output_signature=signature)


def to_numpy(batch) -> tuple[np.ndarray, np.ndarray]:
    """A loader batch back at the boundary: (x NHWC float32, y int64)."""
    x, y = batch
    return x.numpy(), y.numpy()


def download_cifar10(cache_dir) -> tuple[spec.LoadedSplit, spec.LoadedSplit]:
    """CIFAR-10 through keras.datasets (needs internet once). Keras caches under ~/.keras/datasets, not cache_dir."""
    try:
        splits = keras.datasets.cifar10.load_data()
    except Exception as exc:  # urllib, ssl, socket and checksum errors all mean: no usable download
        raise spec.download_error("CIFAR-10 (keras.datasets)", exc) from exc
    return tuple(spec.LoadedSplit(x, y.reshape(-1).astype(np.int64), spec.CIFAR10_CLASSES) for x, y in splits)
