"""torch -> Keras weight porting as an explicit table of layout conversions, with an assertion per tensor
and on the key count. Keras layers carry the torch module names, so the table is keyed by layer type.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from parity.errors import ParityError


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


def layer_entry(layer) -> str:
    kind = type(layer).__name__
    if kind in ("Conv2D", "Dense") and (layer.use_bias != (kind == "Dense")):
        return f"{kind}+bias" if layer.use_bias else f"{kind}-bias"
    return kind


def port_torch_to_keras(state: dict[str, np.ndarray], keras_model) -> int:
    """Copy a torch state dict (numpy values) into a Keras model whose layers carry torch names.

    Asserts every tensor's converted shape and that every torch key is used exactly once.
    Returns the number of tensors ported.
    """
    used = set()
    for layer in keras_model.layers:
        if not layer.weights:
            continue
        entry = layer_entry(layer)
        if entry not in LAYER_TABLE:
            raise ParityError(f"no porting rule for Keras layer {layer.name!r} of type {entry}")
        values = []
        for (suffix, conversion), target in zip(LAYER_TABLE[entry], layer.get_weights()):
            key = f"{layer.name}.{suffix}"
            if key not in state:
                raise ParityError(f"weights file is missing key {key!r} (Keras layer {layer.name!r})")
            value = CONVERSIONS[conversion].to_keras(np.asarray(state[key]))
            if value.shape != target.shape:
                raise ParityError(f"shape mismatch for {key!r}: torch {np.shape(state[key])} -> "
                                  f"{value.shape} ({CONVERSIONS[conversion].layout}), Keras wants {target.shape}")
            values.append(value)
            used.add(key)
        layer.set_weights(values)
    extra = sorted(k for k in state if k not in used and not k.endswith(IGNORED_TORCH_SUFFIXES))
    if extra:
        raise ParityError(f"weights file has {len(extra)} keys no Keras layer takes, e.g. {extra[:3]}")
    return len(used)
