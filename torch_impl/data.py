"""Torch side of the data pipeline: PIL/torchvision decoding and folders, normalisation, loaders, CIFAR-10."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torchvision
import torchvision.transforms.v2.functional as TF
from PIL import Image, UnidentifiedImageError

from parity import data as spec
from parity.errors import ParityError
from torch_impl.resize import resize

_DECODERS = ("pil",)  # PIL cannot run libjpeg's IFAST DCT, so 'tf_fast' has no torch form


def _check_decoder(decoder: str | None) -> str:
    decoder = decoder or spec.DEFAULT_DECODER["torch"]
    spec.get_decoder(decoder)
    if decoder not in _DECODERS:
        raise ParityError(f"decoder {decoder!r} cannot be expressed in torch_impl (it has: {', '.join(_DECODERS)})")
    return decoder


def decode_image(path, decoder: str | None = None) -> np.ndarray:
    """One image file as HWC uint8 RGB, decoded as torchvision's ImageFolder loader does (PIL, convert RGB)."""
    _check_decoder(decoder)
    try:
        with Image.open(path) as img:
            return np.asarray(img.convert("RGB"))
    except (UnidentifiedImageError, OSError) as exc:
        raise ParityError(f"cannot decode image file {str(path)!r}: {exc}") from exc


def load_image_folder(root, split: str, decoder: str | None = None) -> spec.LoadedSplit:
    """`root/split/<class>/*` through torchvision.datasets.ImageFolder, checked against parity's listing."""
    _check_decoder(decoder)
    listing = spec.list_image_folder(root, split)
    folder = torchvision.datasets.ImageFolder(str(Path(root) / split), loader=decode_image,
                                              is_valid_file=lambda p: p.lower().endswith(spec.IMAGE_EXTENSIONS))
    paths = tuple(p for p, _ in folder.samples)
    if tuple(folder.classes) != listing.classes or paths != listing.paths:
        raise AssertionError(f"torchvision ImageFolder order differs from parity's listing in {root}/{split}")
    images = spec.stack_same_size([decode_image(p) for p in paths], paths)
    return spec.LoadedSplit(images, np.asarray(folder.targets, np.int64), listing.classes, paths)


def normalize(images, mode: str) -> np.ndarray:
    """NHWC 0-255 float -> NHWC normalised float32 (torchvision's normalize for mode 'torch')."""
    norm = spec.get_normalization(mode)
    x = torch.from_numpy(np.asarray(images, np.float32)).permute(0, 3, 1, 2)  # NHWC -> NCHW
    if norm.bgr:
        x = x.flip(1)
    x = TF.normalize(x * norm.scale, list(norm.mean), list(norm.std))
    return x.permute(0, 2, 3, 1).contiguous().numpy()  # NCHW -> NHWC


def make_loader(images, labels, order, size=None, resize_method: str = "fastai_v1", norm: str = "none"):
    """Batches in `order` (a list of index arrays) as torch (x NCHW float32, y int64), resized and normalised."""
    batches = spec.prepared_batches(images, labels, order, size, resize_method, norm, resize, normalize)
    return ((torch.from_numpy(x).permute(0, 3, 1, 2), torch.from_numpy(y)) for x, y in batches)  # NHWC -> NCHW


def to_numpy(batch) -> tuple[np.ndarray, np.ndarray]:
    """A loader batch back at the boundary: (x NHWC float32, y int64)."""
    x, y = batch
    return x.permute(0, 2, 3, 1).numpy(), y.numpy()  # NCHW -> NHWC


def download_cifar10(cache_dir) -> tuple[spec.LoadedSplit, spec.LoadedSplit]:
    """CIFAR-10 through torchvision's downloader (needs internet once; cached under cache_dir)."""
    try:
        sets = [torchvision.datasets.CIFAR10(str(cache_dir), train=t, download=True) for t in (True, False)]
    except Exception as exc:  # urllib, ssl, socket and checksum errors all mean: no usable download
        raise spec.download_error("CIFAR-10 (torchvision)", exc) from exc
    return tuple(spec.LoadedSplit(s.data, np.asarray(s.targets, np.int64), tuple(s.classes)) for s in sets)
