"""PyTorch / torchvision side of every component (the `torch` backend): modules satisfy parity.runtime.protocols."""

import sys

import torch

if "tensorflow" not in sys.modules:  # a process that loaded TensorFlow first (a user's test of parity.testing)
    # cannot load torchvision any more: the reverse order segfaults. Only torch_impl.models needs it.
    import torchvision  # noqa: F401  (before anything imports TensorFlow in a shared process)


def configure_threads(threads: int) -> None:
    """Compute threads of this process (a worker gets cores / workers, so workers do not oversubscribe)."""
    torch.set_num_threads(threads)


def visible_gpus() -> int:
    """How many CUDA GPUs torch sees in this process (a cpu worker hides them all)."""
    return torch.cuda.device_count() if torch.cuda.is_available() else 0


def configure_device(device: str) -> dict:
    """'cpu' or 'cuda' for this worker's models; returns the determinism settings it made."""
    from torch_impl._device import set_device

    return set_device(device)
