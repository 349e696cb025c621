"""Keras heads (fastai's create_head layout, layers named by fastai's indices) and initialisers."""

from __future__ import annotations

import math

import keras
import numpy as np
from keras import initializers, layers

from parity.components import heads as spec


def _initializers(init: str, fan_in: int, seed: int):
    """(kernel, bias) Keras initialisers for the Keras-side form of `init`."""
    spec.get_init(init)
    kernel = {
        "kaiming_normal": lambda: initializers.VarianceScaling(2.0, "fan_in", "untruncated_normal", seed=seed),
        "glorot_uniform": lambda: initializers.GlorotUniform(seed=seed),
        "torch_default": lambda: initializers.VarianceScaling(1 / 3, "fan_in", "uniform", seed=seed),
        "keras_he_normal": lambda: initializers.HeNormal(seed=seed),
    }[init]()
    bound = 1 / math.sqrt(fan_in)
    bias = (initializers.RandomUniform(-bound, bound, seed=seed + 1) if init == "torch_default"
            else initializers.Zeros())
    return kernel, bias


def sample_init(init: str, fan_in: int, fan_out: int, seed: int = 0) -> np.ndarray:
    """A (fan_out, fan_in) weight drawn by the Keras-side form of `init` (torch layout)."""
    kernel, _ = _initializers(init, fan_in, seed)
    return keras.ops.convert_to_numpy(kernel((fan_in, fan_out))).T  # Keras (in, out) -> torch (out, in)


def _pool(order: str, x):
    """Index 0 is the pool: the Concatenate of the two, or the single pooling layer."""
    parts = order.split("_")
    single = {"name": "0"} if len(parts) == 1 else {}
    pools = {"max": lambda: layers.GlobalMaxPooling2D(**single), "avg": lambda: layers.GlobalAveragePooling2D(**single)}
    outs = [pools[p]()(x) for p in parts]
    return layers.Concatenate(name="0")(outs) if len(outs) > 1 else outs[0]


def build_head(name: str, features: int, n_classes: int, dropout: bool = True, seed: int = 0,
               init: str | None = None) -> keras.Model:
    """(N, H, W, C) body features -> (N, n_classes) logits, with fastai's module indices as layer names."""
    head = spec.get_head(name, init)
    inputs = keras.Input((None, None, features))
    x = _pool(head.pool, inputs)
    for bn, drop, lin, w_in, w_out, p, relu in spec.linear_layers(head, features, n_classes, dropout):
        if bn is not None:
            x = layers.BatchNormalization(momentum=1 - head.bn_torch_momentum, epsilon=head.bn_eps,
                                          beta_initializer=initializers.Constant(head.bn_bias), name=str(bn))(x)
        if drop is not None:
            x = layers.Dropout(p, seed=seed + drop, name=str(drop))(x)
        kernel, bias = _initializers(head.init, w_in, seed + lin)
        x = layers.Dense(w_out, use_bias=head.linear_bias, kernel_initializer=kernel, bias_initializer=bias,
                         name=str(lin))(x)
        if relu:
            x = layers.ReLU(name=str(lin + 1))(x)
    return keras.Model(inputs, x, name="head")
