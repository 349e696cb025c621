"""torch <-> Keras weight porting as an explicit table of layout conversions. Keras layers carry the torch
module names, so the table is keyed by layer type; keras_impl walks a model with it, asserting every tensor's
shape and the key count. Weights cross between backends only as torch-named numpy states through this table.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np



@dataclass(frozen=True)
class Conversion:
    layout: str
    to_keras: Callable[[np.ndarray], np.ndarray]
    to_torch: Callable[[np.ndarray], np.ndarray]


CONVERSIONS = {
    "conv": Conversion("OIHW -> HWIO", lambda w: w.transpose(2, 3, 1, 0), lambda w: w.transpose(3, 2, 0, 1)),
    "depthwise": Conversion("(C, 1, H, W) -> (H, W, C, 1)", lambda w: w.transpose(2, 3, 0, 1),
                            lambda w: w.transpose(2, 3, 0, 1)),
    "linear": Conversion("(out, in) -> (in, out)", lambda w: w.T, lambda w: w.T),
    "vector": Conversion("(C,) -> (C,)", lambda w: w, lambda w: w),
}

# Keras layer class -> [(torch parameter suffix, conversion)] in the order of layer.get_weights().
LAYER_TABLE = {
    "Conv2D": [("weight", "conv")],
    "Conv2D+bias": [("weight", "conv"), ("bias", "vector")],
    "DepthwiseConv2D": [("weight", "depthwise")],
    "Dense": [("weight", "linear"), ("bias", "vector")],
    "Dense-bias": [("weight", "linear")],
    "BatchNormalization": [("weight", "vector"), ("bias", "vector"), ("running_mean", "vector"),
                           ("running_var", "vector")],
}
IGNORED_TORCH_SUFFIXES = ("num_batches_tracked",)  # torch BN step counter; Keras has no counterpart
