"""Framework-neutral data facts: image-folder listing and its checks, decoders, normalisation modes with a
float64 reference, the embedded offline data (sklearn), and the seeded batch order both frameworks share.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from parity.core.errors import ParityError, unknown
from parity.components.resize import get_method, target_hw
from parity.runtime.backends import check_supported
from parity.runtime.client import client

# Files both readers accept: torchvision's IMG_EXTENSIONS also takes .ppm/.pgm/.tif/.tiff/.webp, which
# keras.utils.image_dataset_from_directory skips silently, so those would make the two datasets differ.
IMAGE_EXTENSIONS = (".bmp", ".gif", ".jpeg", ".jpg", ".png")


@dataclass(frozen=True)
class Decoder:
    name: str
    summary: str
    tf_dct_method: str | None  # how TensorFlow reproduces it; None where TF cannot


DECODERS = {d.name: d for d in [
    Decoder("pil", "PIL / libjpeg-turbo ISLOW DCT (torchvision ImageFolder, fastai)", "INTEGER_ACCURATE"),
    Decoder("tf_fast", "tf.io.decode_image default = libjpeg IFAST DCT (keras image_dataset_from_directory)",
            "INTEGER_FAST"),
]}


@dataclass(frozen=True)
class Normalization:
    name: str
    summary: str
    scale: float  # x * scale, then
    mean: tuple[float, float, float]  # minus mean, then
    std: tuple[float, float, float]  # divided by std, channel by channel (after the BGR flip if bgr)
    bgr: bool = False


NORMALIZATIONS = {n.name: n for n in [
    Normalization("torch", "x/255, ImageNet mean/std (fastai imagenet_stats, torchvision, keras mode='torch')",
                  1 / 255, (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)),
    Normalization("tf", "x/127.5 - 1 (keras ResNet50V2, MobileNet; EfficientNet-Lite)", 1 / 127.5,
                  (1.0, 1.0, 1.0), (1.0, 1.0, 1.0)),
    Normalization("caffe", "RGB->BGR, minus (103.939, 116.779, 123.68) (keras ResNet50 v1, VGG)", 1.0,
                  (103.939, 116.779, 123.68), (1.0, 1.0, 1.0), bgr=True),
    Normalization("none", "no normalisation (0-255 float)", 1.0, (0.0, 0.0, 0.0), (1.0, 1.0, 1.0)),
]}


def get_normalization(mode: str) -> Normalization:
    if mode not in NORMALIZATIONS:
        raise unknown("normalisation mode", mode, NORMALIZATIONS)
    return NORMALIZATIONS[mode]


def get_decoder(name: str) -> Decoder:
    if name not in DECODERS:
        raise unknown("decoder", name, DECODERS)
    return DECODERS[name]


def reference_normalize(images, mode: str) -> np.ndarray:
    """float64 ground truth of a normalisation mode on NHWC 0-255 images."""
    spec = get_normalization(mode)
    x = np.asarray(images, dtype=np.float64)
    if spec.bgr:
        x = x[..., ::-1]
    return (x * spec.scale - np.array(spec.mean)) / np.array(spec.std)


# --- image folders --------------------------------------------------------------------------------------

@dataclass(frozen=True)
class FolderSplit:
    """One split of an image-folder tree, in the sorted order torchvision and Keras both use."""
    root: Path
    split: str
    classes: tuple[str, ...]
    paths: tuple[str, ...]
    labels: np.ndarray  # int64, index into classes


def _class_dirs(split_dir: Path) -> list[str]:
    return sorted(e.name for e in os.scandir(split_dir) if e.is_dir() and not e.name.startswith("."))


def _image_files(class_dir: Path) -> list[str]:
    files = sorted(e.name for e in os.scandir(class_dir) if e.is_file() and not e.name.startswith("."))
    for name in files:
        if not name.lower().endswith(IMAGE_EXTENSIONS):
            raise ParityError(f"file {str(class_dir / name)!r} is not an image type both frameworks read "
                              f"({', '.join(IMAGE_EXTENSIONS)})")
    if not files:
        raise ParityError(f"class folder {str(class_dir)!r} holds no image files")
    return [str(class_dir / name) for name in files]


def list_image_folder(root, split: str) -> FolderSplit:
    """List `root/split/<class>/<image>` and check it: missing folders, empty classes, foreign files."""
    root = Path(root)
    if not root.is_dir():
        raise ParityError(f"data folder {str(root)!r} does not exist")
    split_dir = root / split
    if not split_dir.is_dir():
        raise ParityError(f"data folder {str(root)!r} has no {split!r} subfolder")
    classes = _class_dirs(split_dir)
    if not classes:
        raise ParityError(f"split folder {str(split_dir)!r} holds no class folders")
    paths, labels = [], []
    for index, name in enumerate(classes):
        files = _image_files(split_dir / name)
        paths += files
        labels += [index] * len(files)
    return FolderSplit(root, split, tuple(classes), tuple(paths), np.asarray(labels, dtype=np.int64))


def check_same_classes(train: FolderSplit, test: FolderSplit) -> None:
    """fastai's split_by_folder needs one class list; a mismatch would silently shift label indices."""
    if train.classes != test.classes:
        only_train = sorted(set(train.classes) - set(test.classes))
        only_test = sorted(set(test.classes) - set(train.classes))
        raise ParityError(f"class sets differ between {train.split!r} and {test.split!r} in {str(train.root)!r}: "
                          f"only in {train.split}: {only_train}; only in {test.split}: {only_test}")


def stack_same_size(arrays, paths) -> np.ndarray:
    """Stack decoded HWC uint8 images into NHWC; a size mismatch names both files."""
    first = arrays[0].shape
    for arr, path in zip(arrays, paths):
        if arr.shape != first:
            raise ParityError(f"images differ in size: {paths[0]!r} is {first}, {path!r} is {arr.shape}; "
                              f"give the recipe a load-time resize (e.g. --set load_size=64 "
                              f"--set load_resize=fastai_v2, "
                              f"or load_size in its TOML file)")
    return np.stack(arrays)


# --- embedded offline data ------------------------------------------------------------------------------

def _sklearn_file(*parts: str) -> Path:
    """A data file scikit-learn ships, found without importing it: `import sklearn.datasets` costs ~1 s of CPU
    (scipy and more), paid in every worker that loaded the digits (about a dozen in one `nox -s tests`)."""
    import importlib.util

    spec = importlib.util.find_spec("sklearn")
    if spec is None or not spec.submodule_search_locations:
        raise ParityError("the embedded offline data (digits, sample photos) comes with scikit-learn, "
                          "which is not installed: pip install scikit-learn")
    path = Path(list(spec.submodule_search_locations)[0], *parts)
    if not path.exists():
        raise ParityError(f"{path} is missing: the embedded offline data (digits, sample photos) is read from "
                          f"the files scikit-learn ships, where sklearn.datasets reads them")
    return path


def sample_photo_paths() -> list[str]:
    """sklearn's two bundled JPEG photos (china.jpg, flower.jpg, 427x640): real camera images offline."""
    return sorted(str(p) for p in _sklearn_file("datasets", "images").glob("*.jpg"))


def sample_photos() -> np.ndarray:
    """The two sklearn photos decoded, (2, 427, 640, 3) uint8: sklearn.datasets.load_sample_images' images,
    read as it reads them (PIL, in file-name order)."""
    from PIL import Image

    photos = []
    for path in sample_photo_paths():
        with Image.open(path) as image:
            photos.append(np.asarray(image))
    return np.stack(photos)


def photo_thumbnails(size: int = 32, per_photo: int = 4) -> np.ndarray:
    """Real 32x32 images for resize cases: box-filtered tiles of the sklearn photos, (2*per_photo, s, s, 3)."""
    from PIL import Image

    tiles = []
    for photo in sample_photos():
        for k in range(per_photo):
            top, left = 40 * k, 60 * k
            tile = photo[top:top + 320, left:left + 320]
            tiles.append(np.asarray(Image.fromarray(tile).resize((size, size), Image.BOX)))
    return np.stack(tiles)


def digits_rgb() -> tuple[np.ndarray, np.ndarray]:
    """sklearn digits (1,797 real 8x8 scans) as uint8 RGB images and int64 labels, read from the table that
    sklearn.datasets.load_digits reads (64 pixels in 0..16, then the label, per row)."""
    import gzip

    with gzip.open(_sklearn_file("datasets", "data", "digits.csv.gz"), "rt") as table:
        rows = np.loadtxt(table, delimiter=",")
    grey = np.rint(rows[:, :-1].reshape(-1, 8, 8) * (255 / 16)).astype(np.uint8)
    return np.repeat(grey[..., None], 3, axis=-1), rows[:, -1].astype(np.int64)


# --- batch order ----------------------------------------------------------------------------------------

def batch_order(n: int, batch_size: int, seed: int, shuffle: bool = True, drop_last: bool = False) -> list:
    """Index arrays of one epoch, from numpy's PCG64 so both frameworks can consume the same batches.

    fastai's train loader drops the last partial batch (drop_last=True); Keras' fit keeps it.
    """
    if n <= 0 or batch_size <= 0:
        raise ParityError(f"batch order needs n > 0 and batch_size > 0, got n={n}, batch_size={batch_size}")
    index = np.random.default_rng(seed).permutation(n) if shuffle else np.arange(n)
    stop = n - n % batch_size if drop_last else n
    return [index[i:i + batch_size] for i in range(0, stop, batch_size)]


@dataclass(frozen=True)
class LoadedSplit:
    """Decoded images of one split: NHWC uint8, int64 labels, class names, the file each came from."""
    images: np.ndarray
    labels: np.ndarray
    classes: tuple[str, ...]
    paths: tuple[str, ...] = ()


CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")


def download_error(what: str, exc: Exception) -> ParityError:
    return ParityError(f"{what} download failed ({type(exc).__name__}: {exc}); without internet, pass an "
                       f"image-folder tree with --data-dir (train/<class>/*, test/<class>/*)")


# --- the front layer: checked once here, computed by a backend ------------------------------------------

def _check_decoder(decoder: str, backend: str) -> None:
    get_decoder(decoder)
    check_supported(backend, "decoder", decoder)


def decode_image(path, decoder: str, *, on: str) -> np.ndarray:
    """One image file as HWC uint8 RGB, decoded by backend `on` with `decoder`."""
    _check_decoder(decoder, on)
    return client(on).data.decode_image(str(path), decoder)


def read_image_folder(root, split: str, decoder: str, *, on: str) -> LoadedSplit:
    """`root/split/<class>/*` read by the backend's own folder reader (torchvision ImageFolder, Keras'
    image_dataset_from_directory); the tree is checked here first."""
    list_image_folder(root, split)
    _check_decoder(decoder, on)
    check_supported(on, "reader", "folder")
    return client(on).data.read_image_folder(str(root), split, decoder)


def normalize(images, mode: str, *, on: str) -> np.ndarray:
    get_normalization(mode)
    return client(on).data.normalize(np.asarray(images, np.float32), mode)


def loader_batches(images, labels, order, size, resize_method: str, norm: str, *, on: str) -> list:
    """[(x NHWC float32, y int64)] as the backend's loader yields them in `order`, resized then normalised."""
    get_normalization(norm)
    out_hw = None
    if size is not None:
        out_hw = target_hw(size)
        get_method(resize_method)
        check_supported(on, "resize", resize_method)
    return client(on).data.loader_batches(np.asarray(images), np.asarray(labels), list(order), out_hw,
                                          resize_method, norm)


def download_cifar10(cache_dir, *, on: str) -> tuple[LoadedSplit, LoadedSplit]:
    return client(on).data.download_cifar10(str(cache_dir))
