"""Inputs shared by the cases of one `parity check` run, built lazily and at most once, and the models the
backends keep for it (released when the run ends)."""

from __future__ import annotations

import shutil
import tempfile
import threading
from functools import cached_property
from pathlib import Path

import numpy as np
from PIL import Image

from parity.check.case import Skip
from parity.components import data
from parity.runtime import workers


class CheckContext:
    def __init__(self, seed: int = 0, data_dir: str | Path | None = None):
        self.seed = seed
        self.data_dir = Path(data_dir) if data_dir else None
        self._tmp: Path | None = None  # a folder for generated files, made when a case first needs one
        self._memo: dict = {}
        self._locks: dict = {}
        self._lock = threading.Lock()

    def close(self) -> None:
        workers.release(list(self._memo.values()))
        self._memo.clear()
        if self._tmp is not None:
            shutil.rmtree(self._tmp, ignore_errors=True)
            self._tmp = None

    def memo(self, key, compute):
        """Compute a value once (a resize, a model in a backend) for the cases that share it; safe across the
        threads that run one case's backends at the same time."""
        with self._lock:
            lock = self._locks.setdefault(key, threading.Lock())
        with lock:
            if key not in self._memo:
                self._memo[key] = compute()
            return self._memo[key]

    @cached_property
    def thumbnails(self) -> np.ndarray:
        """Real 32x32 images (sklearn photo tiles), NHWC float32."""
        return data.photo_thumbnails(32).astype(np.float32)

    @cached_property
    def photos(self) -> np.ndarray:
        """The two sklearn photos, 427x640, NHWC float32."""
        return data.sample_photos().astype(np.float32)

    @cached_property
    def mixed_items(self) -> list[np.ndarray]:
        """Three HWC crops of the photos of different sizes and aspects (landscape, portrait, a small strip):
        what a folder of users' own photos holds."""
        p = self.photos
        return [p[0, :300, :500], p[1, 40:427, 100:420], p[0, 200:248, 300:380]]

    def resize_input(self, source: str) -> np.ndarray:
        if source == "squares":  # centre 384x384 of each photo
            return self.photos[:, 21:405, 128:512]
        return {"thumbnails": self.thumbnails, "photos": self.photos}[source]

    @cached_property
    def small_tree(self) -> Path:
        """A generated image-folder tree (train/test, 3 classes, 32x32 JPEG and PNG tiles of real photos)."""
        with self._lock:  # cases run in threads
            self._tmp = self._tmp or Path(tempfile.mkdtemp(prefix="parity-check-"))
        root = self._tmp / "tree"
        tiles = data.photo_thumbnails(32, per_photo=6)
        for split, start in (("train", 0), ("test", 6)):
            for c, name in enumerate(("cat", "dog", "ship")):
                folder = root / split / name
                folder.mkdir(parents=True)
                for k in range(2):
                    tile = tiles[(start + 2 * c + k) % len(tiles)]
                    ext = ".png" if k else ".jpg"
                    Image.fromarray(tile).save(folder / f"{k:04d}{ext}", quality=90)
        return root

    def need_data_dir(self) -> Path:
        if self.data_dir is None:
            raise Skip("no --data-dir (or PARITY_DATA_DIR) given")
        return self.data_dir

    def data_dir_files(self, split: str = "test", per_class: int = 50) -> list[str]:
        """The first `per_class` files of each class of the --data-dir tree."""
        listing = data.list_image_folder(self.need_data_dir(), split)
        return [p for c in range(len(listing.classes))
                for p in np.asarray(listing.paths)[listing.labels == c][:per_class]]
