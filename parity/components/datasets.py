"""Where a run's images come from: sklearn digits (embedded, the offline default), an image-folder tree
(`--data-dir`, e.g. the CIFAR-10 JPEG tree), or CIFAR-10 downloaded through torchvision (needs internet).

A fixed per-class subset is taken with its own seed (DATA_SEED), so every run seed sees the same images;
JPEG files are decoded by the decoder a recipe names (PIL on the torch side, tf.io on the Keras side).
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from parity.components import data, resize
from parity.core.errors import ParityError, unknown
from parity.runtime.backends import decoding_backend, native
from parity.runtime.client import client

SOURCES = ("digits", "folder", "cifar10")
DATA_SEED = 20261123  # the subset is part of the dataset, not of a run seed
CACHE_ENV = "PARITY_CACHE_DIR"


def cache_dir() -> Path:
    return Path(os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "parity")


@dataclass(frozen=True)
class DataSpec:
    source: str = "digits"
    root: str | None = None  # image-folder tree for source 'folder'
    train_per_class: int | None = None  # None: all
    test_per_class: int | None = None

    def __post_init__(self):
        if self.source not in SOURCES:
            raise unknown("data source", self.source, SOURCES)
        if self.source == "folder" and not self.root:
            raise ParityError("data source 'folder' needs a folder (--data-dir)")
        for name in ("train_per_class", "test_per_class"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, int) or value < 1):
                raise ParityError(f"{name.replace('_', '-')} must be a positive integer, got {value!r}")

    def key(self) -> dict:
        """What identifies the images (for the result store); a folder is named by its resolved path."""
        root = str(Path(self.root).resolve()) if self.root else None
        return {"source": self.source, "root": root, "train_per_class": self.train_per_class,
                "test_per_class": self.test_per_class}


def per_class_subset(labels: np.ndarray, per_class: int | None, skip: dict | None = None) -> np.ndarray:
    """Indices of at most `per_class` images of each class (a fixed random pick), in ascending order;
    `skip` {class: count} leaves the first picks of a class to another split."""
    rng = np.random.default_rng(DATA_SEED)
    chosen = []
    for c in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == c))
        start = (skip or {}).get(int(c), 0)
        chosen.append(members[start:start + per_class] if per_class else members[start:])
    return np.sort(np.concatenate(chosen))


def _digits_train_n(spec: DataSpec, counts: dict) -> int:
    return spec.train_per_class or min(counts.values()) // 2


def _fewest(counts: dict, classes) -> tuple[str, int]:
    """(class name, image count) of the class with the fewest images."""
    label = min(counts, key=lambda c: (counts[c], c))
    return str(classes[label]), counts[label]


def check_per_class(spec: DataSpec) -> None:
    """--train-per-class and --test-per-class against what every class of the data holds, before any work: an
    error names the option, the class with the fewest images and its count."""
    if spec.source == "digits":
        _, labels = data.digits_rgb()
        counts = {int(c): int((labels == c).sum()) for c in np.unique(labels)}
        name, most = _fewest(counts, [str(c) for c in sorted(counts)])
        train_n = _digits_train_n(spec, counts)
        if train_n >= most:  # the test split takes its images from what training leaves
            raise ParityError(f"--train-per-class {train_n}: class {name!r} of the digits holds {most} images, and "
                              f"at least one per class must be left for testing")
        if spec.test_per_class and train_n + spec.test_per_class > most:
            raise ParityError(f"--test-per-class {spec.test_per_class}: class {name!r} of the digits holds {most} "
                              f"images, {most - train_n} of them left after --train-per-class {train_n}")
        return
    if spec.source != "folder":
        return
    for split, wanted in (("train", spec.train_per_class), ("test", spec.test_per_class)):
        if wanted is None:
            continue
        listing = data.list_image_folder(spec.root, split)
        counts = {int(c): int((listing.labels == c).sum()) for c in range(len(listing.classes))}
        name, most = _fewest(counts, listing.classes)
        if wanted > most:
            raise ParityError(f"--{split}-per-class {wanted}: class {name!r} of {str(Path(spec.root) / split)!r} "
                              f"holds {most} images")


def _digits(spec: DataSpec):
    """sklearn digits: one fixed split, train picks first, test picks from the rest of each class."""
    check_per_class(spec)  # also when a DataSpec is used directly, not through a command
    images, labels = data.digits_rgb()
    counts = {int(c): int((labels == c).sum()) for c in np.unique(labels)}
    train_n = _digits_train_n(spec, counts)
    train = per_class_subset(labels, train_n)
    test = per_class_subset(labels, spec.test_per_class, skip={c: train_n for c in counts})
    classes = tuple(str(i) for i in range(10))
    return (data.LoadedSplit(images[train], labels[train], classes),
            data.LoadedSplit(images[test], labels[test], classes))


def _as_decoded(arrays) -> np.ndarray:
    """Items kept as decoded: one NHWC array when they share a size, else an object array of HWC arrays."""
    if len({np.shape(a) for a in arrays}) == 1:
        return np.stack(arrays)
    out = np.empty(len(arrays), dtype=object)
    for i, a in enumerate(arrays):
        out[i] = a
    return out


def _loaded(arrays, paths, load: tuple | None, backend: str, split: str = "test") -> np.ndarray:
    """Decoded items as one NHWC array: as they are (one size), or each resized at load by (method, size).
    With load = (method, size, 'random') the training items stay as decoded (each epoch crops them anew,
    parity.train.training.epoch_inputs) and the test items get the centre crop."""
    if load is not None and len(load) > 2:
        if split == "train":
            return _as_decoded(list(arrays))
        load = load[:2]
    if load is None:
        return data.stack_same_size(arrays, paths)
    return resize.load_resize(arrays, load[1], load[0], on=backend)


def _folder_split(spec: DataSpec, split: str, per_class: int | None, decoder: str,
                  load: tuple | None = None) -> data.LoadedSplit:
    """One split's per-class subset decoded with `decoder`, file by file, in the process that runs this."""
    listing = data.list_image_folder(spec.root, split)
    index = per_class_subset(listing.labels, per_class)
    paths = [listing.paths[i] for i in index]
    backend = decoding_backend(decoder)
    arrays = [data.decode_image(p, decoder, on=backend) for p in paths]
    return data.LoadedSplit(_loaded(arrays, paths, load, backend, split), listing.labels[index], listing.classes,
                            tuple(paths))


def decode_here(spec: DataSpec, decoder: str, load: tuple | None = None) -> tuple[data.LoadedSplit, data.LoadedSplit]:
    """Runs in the worker of the decoder's backend: both splits of a folder or of CIFAR-10, decoded, and with
    `load` = (resize method, size) each image resized as the reader loads it."""
    if spec.source == "cifar10":
        splits = data.download_cifar10(cache_dir() / "cifar10-download", on=native("torch"))
        out = []
        for name, split, per_class in zip(("train", "test"), splits, (spec.train_per_class, spec.test_per_class)):
            index = per_class_subset(split.labels, per_class)
            images = split.images[index] if load is None else _loaded(list(split.images[index]), None, load, "torch",
                                                                      name)
            out.append(data.LoadedSplit(images, split.labels[index], split.classes))
        return tuple(out)
    train = _folder_split(spec, "train", spec.train_per_class, decoder, load)
    test = _folder_split(spec, "test", spec.test_per_class, decoder, load)
    data.check_same_classes(data.FolderSplit(Path(spec.root), "train", train.classes, (), train.labels),
                            data.FolderSplit(Path(spec.root), "test", test.classes, (), test.labels))
    return train, test


def _files_digest(spec: DataSpec) -> str:
    """What decides a folder's decoded arrays besides the spec: every file's name, size and modification time."""
    digest = hashlib.sha256()
    for split in ("train", "test"):
        listing = data.list_image_folder(spec.root, split)
        for path in listing.paths:
            st = os.stat(path)
            digest.update(f"{path}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return digest.hexdigest()[:16]


def decoded_file(spec: DataSpec, decoder: str, load: tuple | None = None) -> Path | None:
    """The decoded dataset as one .npz in the cache (written once, atomically, by the decoder's backend worker),
    so every training worker, local or remote, reads it by path; None for the embedded digits. `load`:
    (resize method, size) applied to each image as it is read, or None."""
    if spec.source == "digits":
        if load is not None:
            raise ParityError(f"load_size={load[1]} resizes image files as they are read; the embedded digits are "
                              f"arrays of one size (use --data-dir, or leave load_size unset)")
        return None
    data.get_decoder(decoder)
    key = {**spec.key(), "decoder": decoder, "files": _files_digest(spec) if spec.source == "folder" else None,
           "data_seed": DATA_SEED, **({"load": list(load)} if load else {})}
    name = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:24]
    path = cache_dir() / "decoded" / f"{name}.npz"
    if not path.exists():
        backend = native("torch") if spec.source == "cifar10" else decoding_backend(decoder)  # torchvision downloads
        train, test = client(backend).run(decode_here, spec, decoder, load)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{name}.", suffix=".npz", dir=path.parent)
        try:
            with os.fdopen(fd, "wb") as fh:
                np.savez(fh, train_images=train.images, train_labels=train.labels, test_images=test.images,
                         test_labels=test.labels, classes=np.array(train.classes))
            os.replace(tmp, path)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
    return path


def load(spec: DataSpec, path: Path | None) -> tuple[data.LoadedSplit, data.LoadedSplit]:
    """(train, test): the digits, or a decoded dataset file from decoded_file()."""
    if spec.source == "digits":
        return _digits(spec)
    with np.load(path, allow_pickle=True) as f:  # parity's own cache: items of mixed sizes are an object array
        classes = tuple(str(c) for c in f["classes"])
        return (data.LoadedSplit(f["train_images"], f["train_labels"], classes),
                data.LoadedSplit(f["test_images"], f["test_labels"], classes))


def split_shapes(spec: DataSpec, path: Path | None) -> dict[str, tuple]:
    """{'train': shape, 'test': shape} of the loaded image arrays (NHWC; (N,) for items of mixed sizes), read
    from the decoded file's array headers without loading the images."""
    if spec.source == "digits":
        train, test = _digits(spec)
        return {"train": train.images.shape, "test": test.images.shape}
    shapes = {}
    with zipfile.ZipFile(path) as archive:
        for split in ("train", "test"):
            with archive.open(f"{split}_images.npy") as fh:
                read_header = {(1, 0): np.lib.format.read_array_header_1_0,
                               (2, 0): np.lib.format.read_array_header_2_0}[np.lib.format.read_magic(fh)]
                shapes[split] = read_header(fh)[0]
    return shapes


def classes_of(spec: DataSpec, path: Path | None) -> tuple[str, ...]:
    if spec.source == "digits":
        return tuple(str(i) for i in range(10))
    with np.load(path) as f:
        return tuple(str(c) for c in f["classes"])


def check_classes(classes, n_classes: int, recipe: str, spec: DataSpec) -> None:
    """A recipe's head has n_classes outputs; data with another class count is refused before training."""
    if len(classes) != n_classes:
        where = spec.root if spec.source == "folder" else spec.source
        raise ParityError(f"class count mismatch: data {where!r} has {len(classes)} classes "
                          f"({', '.join(classes[:12])}), recipe {recipe!r} expects {n_classes}; set the recipe's "
                          f"class count with --set n_classes={len(classes)}")

