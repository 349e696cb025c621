"""Walk a Keras model with parity.components.porting's table: (torch name, conversion, variable) for every weight, and
the two directions of the port, each asserting every shape and the key count."""

from __future__ import annotations

import numpy as np

from parity.core.errors import ParityError
from parity.components.porting import CONVERSIONS, IGNORED_TORCH_SUFFIXES, LAYER_TABLE

# Keras layers carry torch module names, with '-' for '.': Keras' torch backend registers layers as torch
# modules, whose names cannot contain '.'. No torch name here contains '-', so the mapping is one to one.
SEPARATOR = "-"


def keras_name(torch_name: str) -> str:
    return torch_name.replace(".", SEPARATOR)


def torch_name(keras_layer_name: str) -> str:
    return keras_layer_name.replace(SEPARATOR, ".")


def layer_entry(layer) -> str:
    kind = type(layer).__name__
    if kind in ("Conv2D", "Dense") and (layer.use_bias != (kind == "Dense")):
        return f"{kind}+bias" if layer.use_bias else f"{kind}-bias"
    return kind


def weighted_layers(model, prefix: str = ""):
    """(torch name, Keras layer) for every layer with weights, descending into nested models ('body.', 'head.')."""
    for layer in model.layers:
        if hasattr(layer, "layers") and layer.weights:  # a nested Model: its name is the torch prefix
            yield from weighted_layers(layer, f"{prefix}{torch_name(layer.name)}.")
        elif layer.weights:
            entry = layer_entry(layer)
            if entry not in LAYER_TABLE:
                raise ParityError(f"no porting rule for Keras layer {layer.name!r} of type {entry}")
            yield f"{prefix}{torch_name(layer.name)}", layer


def keras_variables(model):
    """(torch key, conversion name, Keras variable) for every variable, in the porting table's order."""
    for name, layer in weighted_layers(model):
        for (suffix, conversion), variable in zip(LAYER_TABLE[layer_entry(layer)], layer.weights):
            yield f"{name}.{suffix}", conversion, variable


def load_state(keras_model, state: dict[str, np.ndarray]) -> int:
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


def state_of(keras_model) -> dict[str, np.ndarray]:
    """A Keras model's variables as a torch-named, torch-layout state dict (the Keras -> torch direction)."""
    return {key: CONVERSIONS[conversion].to_torch(np.asarray(variable.numpy()))
            for key, conversion, variable in keras_variables(keras_model)}
