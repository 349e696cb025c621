"""Torch side of parity.components.loss: F.cross_entropy on logits, and Keras' clipped-probability formula."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from parity.components import loss as spec


def per_sample_loss(name: str, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """The loss of each sample, differentiable (what training steps and loss_and_grad both use)."""
    if spec.get_loss(name).clipped:
        p = torch.softmax(logits, dim=1).clamp(spec.KERAS_EPSILON, 1 - spec.KERAS_EPSILON)
        return -torch.log(p.gather(1, labels[:, None])[:, 0])
    return F.cross_entropy(logits, labels, reduction="none")  # 'keras_softmax' on TF: the cached logits


def loss_and_grad(name: str, logits, labels) -> tuple[np.ndarray, np.ndarray]:
    """(per-sample loss, gradient of the mean loss with respect to the logits)."""
    z = torch.tensor(np.asarray(logits, np.float32), requires_grad=True)
    per_sample = per_sample_loss(name, z, torch.from_numpy(np.asarray(labels, np.int64)))
    per_sample.mean().backward()
    return per_sample.detach().numpy(), z.grad.numpy()
