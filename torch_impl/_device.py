"""Where this worker computes: the CPU, or a CUDA GPU set up for parity-grade determinism."""

from __future__ import annotations

import torch

DEVICE = {"current": torch.device("cpu")}
DETERMINISM: dict = {}  # what was set, for the report


def set_device(name: str) -> dict:
    """'cpu' or 'cuda'; on CUDA, TF32 off and cuDNN deterministic, benchmark off, deterministic algorithms."""
    if name == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False
        torch.backends.cudnn.deterministic = True
        torch.backends.cudnn.benchmark = False
        torch.use_deterministic_algorithms(True)
        DETERMINISM.update(tf32=False, cudnn_deterministic=True, cudnn_benchmark=False, deterministic_algorithms=True)
    DEVICE["current"] = torch.device(name)
    return dict(DETERMINISM)


def on_device(t: torch.Tensor) -> torch.Tensor:
    return t.to(DEVICE["current"])
