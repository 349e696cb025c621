"""Lazy access to the two mirror packages, torch side first (torchvision after TensorFlow segfaults)."""

from __future__ import annotations

import importlib

FRAMEWORKS = ("torch", "keras")


def mirror(module: str):
    """(torch_impl.<module>, keras_impl.<module>), imported in the one safe order."""
    torch_side = importlib.import_module(f"torch_impl.{module}")
    keras_side = importlib.import_module(f"keras_impl.{module}")
    return torch_side, keras_side


def versions() -> dict:
    """Library versions for results.json (the frameworks only if already imported or importable)."""
    import platform
    import sys

    import numpy
    import PIL

    out = {"python": sys.version.split()[0], "platform": platform.platform(), "numpy": numpy.__version__,
           "pillow": PIL.__version__}
    mirror("resize")
    for name in ("torch", "torchvision", "tensorflow", "keras"):
        out[name] = importlib.import_module(name).__version__
    return out
