"""Loss parity: per-sample loss and its gradient in both frameworks against float64, including a confident,
wrong prediction; and how much Keras' probability clipping changes both."""

from __future__ import annotations

from functools import partial

import numpy as np

from parity.components import loss as spec
from parity.check.case import Case, Output, Sides
from parity.check.cases._shared import TORCH
from parity.runtime.backends import frameworks, get_backend


def batch(seed: int):
    """8 rows of logits at realistic spread; row 0 is confidently wrong (its label's p is ~1e-16)."""
    rng = np.random.default_rng(seed)
    logits = (rng.normal(size=(8, 10)) * 3).astype(np.float32)
    labels = np.arange(8) % 10
    logits[0, 3] = 40.0
    return logits, labels


_NO_CACHED_LOGITS = ("Keras on a backend other than TensorFlow keeps no logits on a softmax output: "
                     "sparse_categorical_crossentropy clips the probabilities to [1e-7, 1 - 1e-7] (the confidently "
                     "wrong row costs 16.1, not 39.6, and its gradient is 0): an API-level difference of that "
                     "backend, not a kernel one")
_LOGITS_LOST = [b for b in frameworks() if get_backend(b).api == "keras" and get_backend(b).kernels != "tensorflow"]
DIVERGING = {"keras_softmax": {pair: _NO_CACHED_LOGITS for lost in _LOGITS_LOST for kept in frameworks()
                               if kept not in _LOGITS_LOST for pair in ((kept, lost), (lost, kept))}}


def _as_layers(per_sample, grad) -> Output:
    return Output(value=per_sample, layers=[("loss", per_sample), ("d loss / d logits", grad)])


def _matched(name: str, backend: str, ctx) -> Output:
    return _as_layers(*spec.loss_and_grad(name, *batch(ctx.seed), on=backend))


def _reference(name: str, ctx) -> Output:
    return _as_layers(*spec.reference_loss(name, *batch(ctx.seed)))


def _clipping(ctx) -> Sides:
    logits, labels = batch(ctx.seed)
    a = spec.loss_and_grad("ce_logits", logits, labels, on=TORCH)
    b = spec.loss_and_grad("keras_clipped", logits, labels, on=TORCH)
    return Sides(a[0], b[0], labels=("cross-entropy on logits", "keras clipped probabilities"),
                 detail={"row0_loss": [float(a[0][0]), float(b[0][0])],
                         "row0_grad_max": [float(np.abs(a[1][0]).max()), float(np.abs(b[1][0]).max())]})


CASES = [
    *[Case("loss", f"{name}", "matched", partial(_matched, name), "loss_f32", spec.LOSSES[name].source,
           across=True, reference=partial(_reference, name), diverging_pairs=DIVERGING.get(name, {}), key=f"{name}")
      for name in spec.LOSSES],
    Case("loss", "on logits vs keras clipped probabilities", "divergence", _clipping, "loss_f32",
         "a confidently wrong prediction costs -log(p) on logits (39.6 here) but at most -log(1e-7) = 16.1 once "
         "clipped, and its gradient becomes 0: Keras without cached logits stops learning from such examples",
         key="logits_vs_clipped"),
]
