"""The backends: which package implements each, the environment its worker process starts with, and what it
cannot express (declared, shown in reports, never a silent fallback).

`keras_tf` and `keras_torch` run the same Keras code (keras_impl) on two Keras backends: where a torch-vs-
keras_tf divergence also appears against keras_torch it comes from Keras' API defaults; where it vanishes, from
TensorFlow's kernels.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from parity.errors import ParityError, unknown

BACKEND_ENV = "PARITY_BACKEND"  # set in a worker process: the backend it serves


@dataclass(frozen=True)
class Backend:
    name: str
    package: str  # the Python package whose modules satisfy parity.protocols
    api: str  # 'torch' or 'keras': backends with the same api share its defaults
    summary: str
    env: dict = field(default_factory=dict)  # set in the worker before the package is imported
    unsupported: dict = field(default_factory=dict)  # {(component, method): why}
    reference_only: bool = False  # a second process of a backend, for float64 references; never compared

    @property
    def builds_torch_models(self) -> bool:
        return self.package == "torch_impl"


_NOT_IN_KERAS_OPS = "keras.ops has no such op; its only TensorFlow form would run TF kernels, not torch's"

BACKENDS = {b.name: b for b in [
    Backend("torch", "torch_impl", "torch", "PyTorch 2 with torchvision: what fastai runs on",
            unsupported={("decoder", "tf_fast"): "PIL has no libjpeg IFAST DCT (TensorFlow's default decode)"}),
    Backend("torch_reference", "torch_impl", "torch", "a second torch process that computes the float64 "
            "references, while the torch backend computes its float32 side", reference_only=True),
    Backend("keras_tf", "keras_impl", "keras", "Keras 3 on TensorFlow: what the thread's Keras code runs on",
            env={"KERAS_BACKEND": "tensorflow"},
            unsupported={("models", "float64_copy"): "float64 references are computed by the torch backend"}),
    Backend("keras_torch", "keras_impl", "keras", "Keras 3 on its torch backend: Keras' API and defaults, torch's "
            "kernels", env={"KERAS_BACKEND": "torch"},
            unsupported={
                ("decoder", "tf_fast"): "JPEG decoding with TensorFlow's IFAST DCT needs TensorFlow",
                ("reader", "folder"): "keras.utils.image_dataset_from_directory needs "
                                                            "TensorFlow (tf.data)",
                ("models", "float64_copy"): "float64 references are computed by the torch backend",
                ("dtype", "float64"): "Keras' type promotion turns 64-bit into 32-bit on every backend but "
                                      "TensorFlow (keras/src/backend/common/dtypes.py, to match JAX), so a float64 "
                                      "model's BatchNormalization computes in float32 (measured: 7.8e-8 from float64)",
                **{("resize", m): _NOT_IN_KERAS_OPS for m in
                   ("fastai_v1", "fastai_v1_legacy", "fastai_v2", "interpolate_ac", "torch_nearest")},
            }),
]}
DEFAULT_BACKENDS = ("torch", "keras_tf")
REFERENCE = "torch_reference"
FRAMEWORKS = tuple(name for name, b in BACKENDS.items() if not b.reference_only)  # a recipe's `framework` values


def get_backend(name: str) -> Backend:
    if name not in BACKENDS:
        raise unknown("backend", name, BACKENDS)
    return BACKENDS[name]


def parse_backends(text: str | None) -> tuple[str, ...]:
    """'--backends torch,keras_tf,keras_torch' -> names, checked; at least two, each once."""
    if not text:
        return DEFAULT_BACKENDS
    names = tuple(n.strip() for n in text.split(",") if n.strip())
    for name in names:
        if get_backend(name).reference_only:
            raise unknown("backend", name, FRAMEWORKS)
    if len(names) < 2 or len(set(names)) != len(names):
        raise ParityError(f"--backends needs at least two different backends, got {text!r}")
    return names


def why_unsupported(backend: str, component: str, method: str) -> str | None:
    return get_backend(backend).unsupported.get((component, method))


def check_supported(backend: str, component: str, method: str) -> None:
    """An unimplemented method is an error naming the backend and the method, never a silent default."""
    why = why_unsupported(backend, component, method)
    if why is not None:
        raise Unsupported(f"backend {backend!r} does not implement {component} {method!r}: {why}")


class Unsupported(ParityError):
    """A backend cannot express a method: cases report it as unsupported, commands as bad input."""


def current() -> str | None:
    """The backend this process serves (a worker), or None (the coordinating process)."""
    return os.environ.get(BACKEND_ENV)


VERSIONED = ("torch", "torchvision", "tensorflow", "tensorflow-cpu", "keras", "fastai", "efficientnet-lite-pytorch")


def versions() -> dict:
    """Library versions for reports and the result store, read from package metadata (nothing is imported)."""
    import platform
    import sys
    from importlib import metadata

    import numpy
    import PIL

    out = {"python": sys.version.split()[0], "platform": platform.platform(), "numpy": numpy.__version__,
           "pillow": PIL.__version__}
    for name in VERSIONED:
        try:
            out[name.replace("tensorflow-cpu", "tensorflow")] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return out
