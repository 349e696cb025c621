"""Loss parity: per-sample loss and its gradient in both frameworks against float64, including a confident,
wrong prediction; and how much Keras' probability clipping changes both."""

from __future__ import annotations

from functools import partial

import numpy as np

from parity import loss as spec
from parity.frameworks import mirror
from parity.registry import Case, Sides


def batch(seed: int):
    """8 rows of logits at realistic spread; row 0 is confidently wrong (its label's p is ~1e-16)."""
    rng = np.random.default_rng(seed)
    logits = (rng.normal(size=(8, 10)) * 3).astype(np.float32)
    labels = np.arange(8) % 10
    logits[0, 3] = 40.0
    return logits, labels


def _matched(name: str, ctx) -> Sides:
    torch_side, keras_side = mirror("loss")
    logits, labels = batch(ctx.seed)
    a, b = torch_side.loss_and_grad(name, logits, labels), keras_side.loss_and_grad(name, logits, labels)
    ref = spec.reference_loss(name, logits, labels)
    return Sides(a[0], b[0], ref[0], layers=[("loss", a[0], b[0], ref[0]), ("d loss / d logits", a[1], b[1],
                                                                              ref[1])])


def _clipping(ctx) -> Sides:
    torch_side, _ = mirror("loss")
    logits, labels = batch(ctx.seed)
    a = torch_side.loss_and_grad("ce_logits", logits, labels)
    b = torch_side.loss_and_grad("keras_clipped", logits, labels)
    return Sides(a[0], b[0], labels=("cross-entropy on logits", "keras clipped probabilities"),
                 detail={"row0_loss": [float(a[0][0]), float(b[0][0])],
                         "row0_grad_max": [float(np.abs(a[1][0]).max()), float(np.abs(b[1][0]).max())]})


CASES = [
    *[Case("loss", f"{name}", "matched", partial(_matched, name), "loss_f32", spec.LOSSES[name].source)
      for name in spec.LOSSES],
    Case("loss", "on logits vs keras clipped probabilities", "divergence", _clipping, "loss_f32",
         "a confidently wrong prediction costs -log(p) on logits (39.6 here) but at most -log(1e-7) = 16.1 once "
         "clipped, and its gradient becomes 0: Keras without cached logits stops learning from such examples"),
]
