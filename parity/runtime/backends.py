"""The backends: which package implements each, the environment its worker process starts with, and what it
cannot express (declared, shown in reports, never a silent fallback).

`keras_tf` and `keras_torch` run the same Keras code (keras_impl) on two Keras backends: where a torch-vs-
keras_tf divergence also appears against keras_torch it comes from Keras' API defaults; where it vanishes, from
TensorFlow's kernels.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from parity.core.errors import ParityError, unknown

BACKEND_ENV = "PARITY_BACKEND"  # set in a worker process: the backend it serves


@dataclass(frozen=True)
class Backend:
    """Every per-backend fact: nothing outside this module asks a backend's name or package what it can do."""
    name: str
    package: str  # the Python package whose modules satisfy parity.runtime.protocols
    api: str  # 'torch' or 'keras': backends with the same api share its defaults (and its planted faults)
    kernels: str  # whose compute kernels run: 'torch', 'tensorflow', 'jax'
    summary: str
    decoder: str = "pil"  # the JPEG decoder its own data reader uses
    decodes: tuple[str, ...] = ()  # decoders this backend decodes a dataset's files for, for every backend
    builds_torch_models: bool = False  # builds the source models whose weights the others get ported in
    native: bool = False  # the one backend its api's users run (torch for fastai, Keras on TensorFlow)
    check_workers: int = 1  # how many workers a long `parity check` spreads this backend's cases over
    env: dict = field(default_factory=dict)  # set in the worker before the package is imported
    unsupported: dict = field(default_factory=dict)  # {(component, method): why}
    reference_only: bool = False  # a second process of a backend, for float64 references; never compared


_NOT_IN_KERAS_OPS = "keras.ops has no such op; its only TensorFlow form would run TF kernels, not this backend's"
_KERAS_WITHOUT_TF = {  # what keras_impl cannot express on a Keras backend other than TensorFlow
    ("decoder", "tf_fast"): "JPEG decoding with TensorFlow's IFAST DCT needs TensorFlow",
    ("reader", "folder"): "keras.utils.image_dataset_from_directory needs TensorFlow (tf.data)",
    ("models", "float64_copy"): "float64 references are computed by the torch backend",
    ("dtype", "float64"): "Keras' type promotion turns 64-bit into 32-bit on every backend but TensorFlow "
                          "(keras/src/backend/common/dtypes.py, to match JAX), so a float64 model's "
                          "BatchNormalization computes in float32 (measured on keras_torch: 7.8e-8 from float64)",
    **{("resize", m): _NOT_IN_KERAS_OPS for m in
       ("fastai_v1", "fastai_v1_legacy", "fastai_v2", "interpolate_ac", "torch_nearest")},
}

BACKENDS = {b.name: b for b in [
    Backend("torch", "torch_impl", "torch", "torch", "PyTorch 2 with torchvision: what fastai runs on",
            decoder="pil", decodes=("pil",), builds_torch_models=True, native=True,
            unsupported={("decoder", "tf_fast"): "PIL has no libjpeg IFAST DCT (TensorFlow's default decode)"}),
    Backend("torch_reference", "torch_impl", "torch", "torch", "a second torch process that computes the float64 "
            "references, while the torch backend computes its float32 side", builds_torch_models=True,
            reference_only=True),
    # Keras on CPU: two workers make a long check faster (one: 134 s of Keras cases; two: 103 s; a third costs
    # more start-up and memory than it saves: benchmarks/bench.py --only check)
    Backend("keras_tf", "keras_impl", "keras", "tensorflow", "Keras 3 on TensorFlow: what the thread's Keras code "
            "runs on", decoder="tf_fast", decodes=("tf_fast",), native=True, check_workers=2,
            env={"KERAS_BACKEND": "tensorflow"},
            unsupported={("models", "float64_copy"): "float64 references are computed by the torch backend"}),
    Backend("keras_torch", "keras_impl", "keras", "torch", "Keras 3 on its torch backend: Keras' API and defaults, "
            "torch's kernels", decoder="pil", check_workers=2, env={"KERAS_BACKEND": "torch"},
            unsupported=_KERAS_WITHOUT_TF),
    Backend("keras_jax", "keras_impl", "keras", "jax", "Keras 3 on JAX: Keras' API and defaults, XLA's kernels",
            decoder="pil", env={"KERAS_BACKEND": "jax"}, unsupported=_KERAS_WITHOUT_TF),
]}
DEFAULT_BACKENDS = ("torch", "keras_tf")
REFERENCE = "torch_reference"
PORT_SOURCE = "torch"  # whose models every other backend's are ported from (a seed means one starting point)
PLUGIN_ENV = "PARITY_BACKEND_PLUGINS"  # comma-separated modules that register more backends (in every process)


def register(backend: Backend) -> Backend:
    """Add a backend: its record here and its package are all a new backend needs. A module named in
    PARITY_BACKEND_PLUGINS calls this when imported, so workers and the coordinator see the same registry."""
    if backend.name in BACKENDS and BACKENDS[backend.name] != backend:
        raise ParityError(f"backend {backend.name!r} is already registered")
    BACKENDS[backend.name] = backend
    return backend


def _load_plugins() -> None:
    import importlib

    for module in filter(None, (m.strip() for m in os.environ.get(PLUGIN_ENV, "").split(","))):
        importlib.import_module(module)


def frameworks() -> tuple[str, ...]:
    """The backends a recipe's `framework` and `--backends` may name (the reference process is not one)."""
    return tuple(name for name, b in BACKENDS.items() if not b.reference_only)


def native(api: str) -> str:
    """The backend the users of an api run: 'torch' -> torch, 'keras' -> keras_tf."""
    found = [b.name for b in BACKENDS.values() if b.native and b.api == api]
    if len(found) != 1:
        raise ParityError(f"the registry names {len(found)} native backends of api {api!r}: {found}")
    return found[0]


def decoding_backend(decoder: str) -> str:
    """Which backend decodes a dataset's files for `decoder` (once, for every backend)."""
    for b in BACKENDS.values():
        if decoder in b.decodes:
            return b.name
    raise unknown("decoder", decoder, [d for b in BACKENDS.values() for d in b.decodes])


def with_api(api: str, among) -> list[str]:
    return [name for name in among if get_backend(name).api == api]


def get_backend(name: str) -> Backend:
    if name not in BACKENDS:
        _load_plugins()  # a plugin named since this process started (a worker forked before the variable was set)
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
            raise unknown("backend", name, frameworks())
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


_load_plugins()
