"""The Keras side of parity.testing, in the user's own process (Keras on TensorFlow or on torch): a model's layers
in graph order with their outputs, its weights by layer name, gradients of a loss, and one optimizer step.
torch_impl.testing has the same functions. A layer with a fused activation (Conv2D(..., activation="relu"))
yields two points, the layer (no output to compare: Keras never shows the pre-activation) and its activation."""

from __future__ import annotations

import keras
import numpy as np

from keras_impl._backend import to_numpy, value_and_grads

KINDS = {"Conv2D": "conv", "DepthwiseConv2D": "depthwise", "Dense": "linear", "BatchNormalization": "bn",
         "Dropout": "dropout", "SpatialDropout2D": "dropout", "MaxPooling2D": "maxpool", "AveragePooling2D": "avgpool",
         "GlobalAveragePooling2D": "gap", "Flatten": "flatten", "ReLU": "relu", "Softmax": "softmax"}
_ACTIVATIONS = {"relu": "relu", "softmax": "softmax"}
WEIGHTED = ("conv", "depthwise", "linear", "bn")
LOSSES = {"cross_entropy": lambda out, y: keras.ops.mean(
              keras.losses.sparse_categorical_crossentropy(y, out, from_logits=True)),
          "sum": lambda out, y: keras.ops.sum(out)}


def _kind(layer) -> str | None:
    if type(layer).__name__ == "Activation":
        return _ACTIVATIONS.get(getattr(layer.activation, "__name__", ""))
    return next((KINDS[c.__name__] for c in type(layer).__mro__ if c.__name__ in KINDS), None)


def _layers(model) -> list:
    """The model's layers in graph order, nested models opened."""
    out = []
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            out.extend(_layers(layer))
        elif not isinstance(layer, keras.layers.InputLayer):
            out.append(layer)
    return out


def trace(model, x: np.ndarray, training: bool = False, forward=None) -> list[dict]:
    """Every layer of a known kind, in graph order: name, kind, layer, and its output (NHWC as Keras has it).
    `forward` is torch_impl.testing.trace's, for the mirror's signature: a Keras graph needs none."""
    chosen = [layer for layer in _layers(model) if _kind(layer)]
    probe = _probe(model, chosen)
    # inference is the model called as its user calls it, model(x): a layer built with training=True stays so
    values = probe(np.asarray(x, np.float32), training=True) if training else probe(np.asarray(x, np.float32))
    values = values if isinstance(values, (list, tuple)) else [values]
    points = []
    for layer, value in zip(chosen, values):
        activation = getattr(getattr(layer, "activation", None), "__name__", "linear")
        fused = type(layer).__name__ != "Activation" and activation not in ("linear", None)
        points.append({"name": layer.name, "kind": _kind(layer), "layer": layer, "input_shape": (),
                       "output": None if fused else to_numpy(value)})
        if fused:
            points.append({"name": f"{layer.name}+{activation}", "kind": _ACTIVATIONS.get(activation, activation),
                           "layer": layer, "input_shape": (), "output": to_numpy(value)})
    return points


_PROBES: dict = {}  # (model, layers) -> the functional model that returns their outputs (built once)


def _probe(model, chosen: list):
    key = (id(model), tuple(id(layer) for layer in chosen))
    if key not in _PROBES or _PROBES[key][0] is not model:
        inputs = model.inputs[0] if len(model.inputs) == 1 else model.inputs
        _PROBES[key] = (model, keras.Model(inputs, [layer.output for layer in chosen]))
    return _PROBES[key][1]


def weights_of(layer) -> dict[str, np.ndarray]:
    """A layer's variables under torch's tensor names (Keras layout): weight, bias, running_mean / running_var."""
    if isinstance(layer, keras.layers.BatchNormalization):
        names = [n for n, on in (("weight", layer.scale), ("bias", layer.center)) if on]
        names += ["running_mean", "running_var"]
    else:
        names = ["weight", "bias"][:len(layer.weights)]
    return {n: to_numpy(v.value if hasattr(v, "value") else v).copy() for n, v in zip(names, layer.weights)}


def assign(layer, values: dict[str, np.ndarray]) -> None:
    """Set a layer's variables from torch-named values already in Keras layout (weights_of's order)."""
    names = list(weights_of(layer))
    for name, variable in zip(names, layer.weights):
        variable.assign(np.asarray(values[name], dtype=variable.dtype))


def float64_copy(model):
    """Not offered: float64 references are torch's (parity.testing measures the noise on the torch side)."""
    from parity.core.errors import ParityError

    raise ParityError("float64 reference copies come from the torch side")


def bn_settings(layer) -> dict:
    return {"eps": layer.epsilon, "keras_momentum": layer.momentum}


def _variables_by_name(model) -> list[tuple[str, str, object]]:
    """(layer name, torch tensor name, variable) for every trainable variable."""
    out = []
    for layer in _layers(model):
        names = list(weights_of(layer))
        for name, variable in zip(names, layer.weights):
            if variable.trainable:
                out.append((layer.name, name, variable))
    return out


def gradients(model, x: np.ndarray, y: np.ndarray, loss: str, training: bool) -> dict:
    """d loss / d each trainable variable, by (layer name, torch tensor name), Keras layout."""
    named = _variables_by_name(model)
    xs, ys = np.asarray(x, np.float32), np.asarray(y)
    value, grads = value_and_grads(lambda: LOSSES[loss](model(xs, training=training), ys), [v for *_, v in named])
    return {"loss": float(to_numpy(value)), "grads": {(l, n): to_numpy(g).copy() for (l, n, _), g in zip(named, grads)}}


def train_step(model, optimizer, x: np.ndarray, y: np.ndarray, loss: str) -> dict:
    """One step in training mode: gradients of the loss, then optimizer.apply_gradients (BN statistics update in
    the forward pass, as fit's step does). Returns the loss and the gradients it applied."""
    named = _variables_by_name(model)
    xs, ys = np.asarray(x, np.float32), np.asarray(y)
    value, grads = value_and_grads(lambda: LOSSES[loss](model(xs, training=True), ys), [v for *_, v in named])
    optimizer.apply_gradients(zip(grads, [v for *_, v in named]))
    return {"loss": float(to_numpy(value)), "grads": {(l, n): to_numpy(g).copy() for (l, n, _), g in zip(named, grads)}}


def optimizer_state(optimizer, layer, tensor: str) -> dict[str, np.ndarray]:
    """Adam's first and second moments of one variable, under torch's names (Keras layout)."""
    names = list(weights_of(layer))
    if tensor not in names or not hasattr(optimizer, "_momentums") or not optimizer._momentums:
        return {}
    variable = layer.weights[names.index(tensor)]
    try:
        index = optimizer._get_variable_index(variable)
    except (KeyError, ValueError):
        return {}
    return {"exp_avg": to_numpy(optimizer._momentums[index].value).copy(),
            "exp_avg_sq": to_numpy(optimizer._velocities[index].value).copy()}


def adam_hyper(optimizer) -> dict | None:
    if type(optimizer).__name__ not in ("Adam", "AdamW"):
        return None
    return {"beta1": float(optimizer.beta_1), "beta2": float(optimizer.beta_2), "eps": float(optimizer.epsilon),
            "weight_decay": float(optimizer.weight_decay or 0.0), "lr": float(to_numpy(optimizer.learning_rate)),
            "decoupled": True}


def set_dropout(model, rate: float | None, saved: dict | None = None) -> dict:
    out = {}
    for layer in _layers(model):
        if isinstance(layer, (keras.layers.Dropout, keras.layers.SpatialDropout2D)):
            out[layer.name] = layer.rate
            layer.rate = saved[layer.name] if saved is not None else rate
    return out


def set_seed(seed: int) -> None:
    keras.utils.set_random_seed(seed)
