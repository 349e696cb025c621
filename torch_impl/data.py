"""Torch side of the data pipeline: PIL/torchvision decoding and folders, normalisation, loaders, CIFAR-10."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torchvision
import torchvision.transforms.v2.functional as TF
from PIL import Image, UnidentifiedImageError

from parity.components import data as spec
from parity.core.errors import ParityError
from torch_impl.resize import resize

DECODERS = ("pil",)  # PIL cannot run libjpeg's IFAST DCT, so 'tf_fast' has no torch form


def decode_image(path, decoder: str) -> np.ndarray:
    """One image file as HWC uint8 RGB, decoded as torchvision's ImageFolder loader does (PIL, convert RGB)."""
    try:
        with Image.open(path) as img:
            return np.asarray(img.convert("RGB"))
    except (UnidentifiedImageError, OSError) as exc:
        raise ParityError(f"cannot decode image file {str(path)!r}: {exc}") from exc


def read_image_folder(root, split: str, decoder: str) -> spec.LoadedSplit:
    """`root/split/<class>/*` through torchvision.datasets.ImageFolder, checked against parity's listing."""
    listing = spec.list_image_folder(root, split)
    folder = torchvision.datasets.ImageFolder(str(Path(root) / split), loader=lambda p: decode_image(p, decoder),
                                              is_valid_file=lambda p: p.lower().endswith(spec.IMAGE_EXTENSIONS))
    paths = tuple(p for p, _ in folder.samples)
    if tuple(folder.classes) != listing.classes or paths != listing.paths:
        raise AssertionError(f"torchvision ImageFolder order differs from parity's listing in {root}/{split}")
    images = spec.stack_same_size([folder.loader(p) for p in paths], paths)
    return spec.LoadedSplit(images, np.asarray(folder.targets, np.int64), listing.classes, paths)


def normalize(images, mode: str) -> np.ndarray:
    """NHWC 0-255 float -> NHWC normalised float32 (torchvision's normalize for mode 'torch')."""
    norm = spec.get_normalization(mode)
    x = torch.from_numpy(np.asarray(images, np.float32)).permute(0, 3, 1, 2)  # NHWC -> NCHW
    if norm.bgr:
        x = x.flip(1)
    x = TF.normalize(x * norm.scale, list(norm.mean), list(norm.std))
    return x.permute(0, 2, 3, 1).contiguous().numpy()  # NCHW -> NHWC


class _Batches(torch.utils.data.Dataset):
    """One batch per item, in the shared order: torch's DataLoader serves it as a user's loader would."""

    def __init__(self, images, labels, order, out_hw, resize_method: str, norm: str):
        self.images, self.labels, self.order = images, labels, order
        self.out_hw, self.resize_method, self.norm = out_hw, resize_method, norm

    def __len__(self):
        return len(self.order)

    def __getitem__(self, i):
        x = np.asarray(self.images[self.order[i]], np.float32)
        if self.out_hw is not None:
            x = resize(x, self.out_hw, self.resize_method)
        x = torch.from_numpy(normalize(x, self.norm)).permute(0, 3, 1, 2)  # NHWC -> NCHW
        return x, torch.from_numpy(np.asarray(self.labels[self.order[i]], np.int64))


def loader_batches(images, labels, order, size, resize_method: str, norm: str) -> list:
    """The batches a torch DataLoader yields in `order`, brought back to the boundary (x NHWC, y int64)."""
    loader = torch.utils.data.DataLoader(_Batches(images, labels, order, size, resize_method, norm), batch_size=None)
    return [(x.permute(0, 2, 3, 1).numpy(), y.numpy()) for x, y in loader]  # NCHW -> NHWC


def download_cifar10(cache_dir) -> tuple[spec.LoadedSplit, spec.LoadedSplit]:
    """CIFAR-10 through torchvision's downloader (needs internet once; cached under cache_dir)."""
    try:
        sets = [torchvision.datasets.CIFAR10(str(cache_dir), train=t, download=True) for t in (True, False)]
    except Exception as exc:  # urllib, ssl, socket and checksum errors all mean: no usable download
        raise spec.download_error("CIFAR-10 (torchvision)", exc) from exc
    return tuple(spec.LoadedSplit(s.data, np.asarray(s.targets, np.int64), tuple(s.classes)) for s in sets)
