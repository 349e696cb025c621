"""Module states as torch-named numpy dicts, both directions (shared by the models and classifier modules)."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from parity.core.errors import ParityError


def state_of(model: nn.Module) -> dict[str, np.ndarray]:
    """Parameters and buffers as numpy copies (never views: a later step must not change them), by torch name."""
    return {k: v.detach().cpu().numpy().copy() for k, v in model.state_dict().items()}


def load_state(model: nn.Module, state: dict[str, np.ndarray]) -> int:
    """Every key but torch's BN step counters must be given, and no other; shapes must fit."""
    own = model.state_dict()
    missing = sorted(k for k in own if k not in state and not k.endswith("num_batches_tracked"))
    extra = sorted(k for k in state if k not in own)
    if missing or extra:
        raise ParityError(f"weights do not fit the model: missing {missing[:3]} ({len(missing)}), "
                          f"extra {extra[:3]} ({len(extra)})")
    for key, value in state.items():
        if tuple(own[key].shape) != tuple(np.shape(value)):
            raise ParityError(f"shape mismatch for {key!r}: model {tuple(own[key].shape)}, weights {np.shape(value)}")
        own[key] = torch.from_numpy(np.asarray(value)).to(own[key].dtype)
    model.load_state_dict(own)
    return len(state)
