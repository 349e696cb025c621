"""Losses as data, with a float64 reference of the per-sample loss and of d(mean loss)/d(logits).

'keras_softmax' is the thread's Keras code: a softmax output and sparse_categorical_crossentropy. On the
TensorFlow backend Keras reads the logits cached on the softmax output, so it is cross-entropy on logits;
where that cache is lost (Keras' torch backend, or a probability tensor made elsewhere) Keras clips the
probabilities to [1e-7, 1 - 1e-7] first: 'keras_clipped'.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from parity.core.errors import ParityError, unknown
from parity.runtime.client import client

KERAS_EPSILON = 1e-7


@dataclass(frozen=True)
class Loss:
    name: str
    source: str
    clipped: bool = False


LOSSES = {loss.name: loss for loss in [
    Loss("ce_logits", "torch F.cross_entropy / fastai CrossEntropyFlat on logits"),
    Loss("keras_softmax", "keras softmax output + sparse_categorical_crossentropy (TF backend: cached logits)"),
    Loss("keras_clipped", "keras sparse_categorical_crossentropy on probabilities: clipped to [1e-7, 1-1e-7]",
         clipped=True),
]}


def get_loss(name: str) -> Loss:
    if name not in LOSSES:
        raise unknown("loss", name, LOSSES)
    return LOSSES[name]


def reference_loss(name: str, logits, labels) -> tuple[np.ndarray, np.ndarray]:
    """float64 (per-sample loss, gradient of the mean loss with respect to the logits)."""
    spec = get_loss(name)
    z = np.asarray(logits, np.float64)
    labels = np.asarray(labels)
    rows = np.arange(len(z))
    p = np.exp(z - z.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    onehot = np.zeros_like(p)
    onehot[rows, labels] = 1.0
    if not spec.clipped:
        return -np.log(p[rows, labels]), (p - onehot) / len(z)
    pc = np.clip(p[rows, labels], KERAS_EPSILON, 1 - KERAS_EPSILON)
    inside = (p[rows, labels] > KERAS_EPSILON) & (p[rows, labels] < 1 - KERAS_EPSILON)
    # d(-log p_y)/dz = p - onehot where the clip is inactive, 0 where it holds p_y at a bound
    return -np.log(pc), np.where(inside[:, None], p - onehot, 0.0) / len(z)


def loss_and_grad(name: str, logits, labels, *, on: str) -> tuple[np.ndarray, np.ndarray]:
    """(per-sample loss, d mean loss / d logits) as backend `on` computes them."""

    get_loss(name)
    z = np.asarray(logits, np.float32)
    if z.ndim != 2:
        raise ParityError(f"logits must be (batch, classes), got shape {z.shape}")
    labels = np.asarray(labels, np.int64)
    if labels.shape != z.shape[:1] or labels.min() < 0 or labels.max() >= z.shape[1]:
        raise ParityError(f"labels {labels.tolist()[:8]} do not fit logits of shape {z.shape}")
    return client(on).loss.loss_and_grad(name, z, labels)
