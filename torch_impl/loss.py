"""Torch side of parity.loss: F.cross_entropy on logits, and Keras' clipped-probability formula."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from parity import loss as spec


def loss_and_grad(name: str, logits, labels) -> tuple[np.ndarray, np.ndarray]:
    """(per-sample loss, gradient of the mean loss with respect to the logits)."""
    loss = spec.get_loss(name)
    z = torch.tensor(np.asarray(logits, np.float32), requires_grad=True)
    y = torch.from_numpy(np.asarray(labels, np.int64))
    if loss.clipped:
        p = torch.softmax(z, dim=1).clamp(spec.KERAS_EPSILON, 1 - spec.KERAS_EPSILON)
        per_sample = -torch.log(p.gather(1, y[:, None])[:, 0])
    else:  # 'keras_softmax' on TensorFlow is cross-entropy on the cached logits
        per_sample = F.cross_entropy(z, y, reduction="none")
    per_sample.mean().backward()
    return per_sample.detach().numpy(), z.grad.numpy()
