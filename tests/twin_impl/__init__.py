"""A test double of a fourth backend's package: torch_impl's modules under another package name. What a real new
backend (Keras on JAX, a jax_impl) would write as nine modules satisfying parity.runtime.protocols."""

import importlib
import sys

from torch_impl import configure_device, configure_threads, visible_gpus  # noqa: F401 (the Package protocol)

for _module in ("resize", "data", "models", "heads", "optim", "schedules", "loss", "classifier"):
    sys.modules[f"{__name__}.{_module}"] = importlib.import_module(f"torch_impl.{_module}")
