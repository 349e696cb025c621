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


def weighted_layers(model, prefix: str = ""):
    """(torch name, Keras layer) for every layer with weights, descending into nested models ('body.', 'head.')."""
    for layer in model.layers:
        if hasattr(layer, "layers") and layer.weights:  # a nested Model: its name is the torch prefix
            yield from weighted_layers(layer, f"{prefix}{layer.name}.")
        elif layer.weights:
            entry = layer_entry(layer)
            if entry not in LAYER_TABLE:
                raise ParityError(f"no porting rule for Keras layer {layer.name!r} of type {entry}")
            yield f"{prefix}{layer.name}", layer


def keras_variables(model):
    """(torch key, conversion name, Keras variable) for every variable, in the porting table's order."""
    for name, layer in weighted_layers(model):
        for (suffix, conversion), variable in zip(LAYER_TABLE[layer_entry(layer)], layer.weights):
            yield f"{name}.{suffix}", conversion, variable


def port_torch_to_keras(state: dict[str, np.ndarray], keras_model) -> int:
    """Copy a torch state dict (numpy values) into a Keras model whose layers carry torch names.

    Asserts every tensor's converted shape and that every torch key is used exactly once.
    Returns the number of tensors ported.
    """
    used = set()
    for key, conversion, variable in keras_variables(keras_model):
        if key not in state:
            raise ParityError(f"weights file is missing key {key!r} (Keras variable {variable.path!r})")
        value = CONVERSIONS[conversion].to_keras(np.asarray(state[key]))
        if value.shape != tuple(variable.shape):
            raise ParityError(f"shape mismatch for {key!r}: torch {np.shape(state[key])} -> {value.shape} "
                              f"({CONVERSIONS[conversion].layout}), Keras wants {tuple(variable.shape)}")
        variable.assign(value)
        used.add(key)
    extra = sorted(k for k in state if k not in used and not k.endswith(IGNORED_TORCH_SUFFIXES))
    if extra:
        raise ParityError(f"weights file has {len(extra)} keys no Keras layer takes, e.g. {extra[:3]}")
    return len(used)


def keras_state(keras_model) -> dict[str, np.ndarray]:
    """A Keras model's variables as a torch-named, torch-layout state dict (the Keras -> torch direction)."""
    return {key: CONVERSIONS[conversion].to_torch(np.asarray(variable.numpy()))
            for key, conversion, variable in keras_variables(keras_model)}
