"""Keras side of the data pipeline: decoding, image_dataset_from_directory, normalisation, loaders.

On TensorFlow: tf.io decoding (either DCT), image_dataset_from_directory and tf.data, as the thread's Keras code
reads its images. On the torch backend, Keras decodes through keras.utils.load_img (PIL, so 'pil' only) and
serves batches from a keras.utils.PyDataset; image_dataset_from_directory needs TensorFlow.
"""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np

from keras_impl._backend import ON_TF
from keras_impl.resize import resize
from parity.components import data as spec
from parity.core.errors import ParityError

DECODERS = ("pil", "tf_fast") if ON_TF else ("pil",)


def _decode_tf(path, decoder: str) -> np.ndarray:
    import tensorflow as tf

    raw = tf.io.read_file(str(path))
    dct = spec.get_decoder(decoder).tf_dct_method
    # decode_image (what image_dataset_from_directory calls) sends JPEGs to decode_jpeg with dct '' (=
    # INTEGER_FAST); decode_jpeg is called directly here so the DCT can be chosen.
    try:
        return tf.cond(tf.io.is_jpeg(raw), lambda: tf.io.decode_jpeg(raw, channels=3, dct_method=dct),
                       lambda: tf.io.decode_image(raw, channels=3, expand_animations=False)).numpy()
    except (tf.errors.InvalidArgumentError, tf.errors.NotFoundError) as exc:
        raise ParityError(f"cannot decode image file {str(path)!r}: {exc.message.splitlines()[0]}") from exc


def _decode_pil(path, decoder: str) -> np.ndarray:
    try:
        return np.asarray(keras.utils.load_img(str(path), color_mode="rgb"), np.uint8)
    except (OSError, ValueError) as exc:
        raise ParityError(f"cannot decode image file {str(path)!r}: {exc}") from exc


def decode_image(path, decoder: str) -> np.ndarray:
    """One image file as HWC uint8 RGB, decoded the way Keras on this backend decodes it."""
    return _decode_tf(path, decoder) if ON_TF else _decode_pil(path, decoder)


def read_image_folder(root, split: str, decoder: str) -> spec.LoadedSplit:
    """`root/split/<class>/*` indexed by keras.utils.image_dataset_from_directory, decoded through tf.io
    (TensorFlow only: image_dataset_from_directory builds a tf.data pipeline)."""
    from PIL import Image

    listing = spec.list_image_folder(root, split)
    with Image.open(listing.paths[0]) as first:
        hw = (first.height, first.width)
    ds = keras.utils.image_dataset_from_directory(str(Path(root) / split), labels="inferred", label_mode="int",
                                                  batch_size=None, image_size=hw, shuffle=False, verbose=False)
    paths = tuple(ds.file_paths)
    if tuple(ds.class_names) != listing.classes or paths != listing.paths:
        raise AssertionError(f"image_dataset_from_directory order differs from parity's listing in {root}/{split}")
    labels = np.asarray([listing.classes.index(Path(p).parent.name) for p in paths], np.int64)
    images = spec.stack_same_size([_decode_tf(p, decoder) for p in paths], paths)
    return spec.LoadedSplit(images, labels, listing.classes, paths)


def normalize(images, mode: str) -> np.ndarray:
    """NHWC 0-255 float -> NHWC normalised float32 (keras.applications preprocess_input for its modes)."""
    x = np.array(images, np.float32)  # preprocess_input works in place on numpy input
    if mode == "none":
        return x
    return keras.applications.imagenet_utils.preprocess_input(x, data_format="channels_last", mode=mode)


class _Batches(keras.utils.PyDataset):
    """One batch per index, in the shared order, resized and normalised: Keras' backend-neutral loader."""

    def __init__(self, images, labels, order, out_hw, resize_method: str, norm: str):
        super().__init__()
        self.images, self.labels, self.order = images, labels, order
        self.out_hw, self.resize_method, self.norm = out_hw, resize_method, norm

    def __len__(self):
        return len(self.order)

    def __getitem__(self, i):
        x = np.asarray(self.images[self.order[i]], np.float32)
        if self.out_hw is not None:
            x = resize(x, self.out_hw, self.resize_method)
        return normalize(x, self.norm), np.asarray(self.labels[self.order[i]], np.int64)


def loader_batches(images, labels, order, size, resize_method: str, norm: str) -> list:
    """The batches Keras' loader yields in `order` (tf.data on TensorFlow, a PyDataset elsewhere), as numpy."""
    batches = _Batches(images, labels, order, size, resize_method, norm)
    if not ON_TF:
        return [batches[i] for i in range(len(batches))]
    import tensorflow as tf

    h, w = size if size is not None else np.asarray(images).shape[1:3]
    signature = (tf.TensorSpec((None, h, w, np.asarray(images).shape[-1]), tf.float32),
                 tf.TensorSpec((None,), tf.int64))
    ds = tf.data.Dataset.from_generator(lambda: (batches[i] for i in range(len(batches))), output_signature=signature)
    return [(x.numpy(), y.numpy()) for x, y in ds]


def download_cifar10(cache_dir) -> tuple[spec.LoadedSplit, spec.LoadedSplit]:
    """CIFAR-10 through keras.datasets (needs internet once). Keras caches under ~/.keras/datasets, not cache_dir."""
    try:
        splits = keras.datasets.cifar10.load_data()
    except Exception as exc:  # urllib, ssl, socket and checksum errors all mean: no usable download
        raise spec.download_error("CIFAR-10 (keras.datasets)", exc) from exc
    return tuple(spec.LoadedSplit(x, y.reshape(-1).astype(np.int64), spec.CIFAR10_CLASSES) for x, y in splits)
