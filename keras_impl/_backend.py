"""What differs between Keras' TensorFlow and torch backends inside keras_impl: which one runs, and how a
gradient is taken (Keras 3 leaves custom training loops to each backend's autodiff: tf.GradientTape on
TensorFlow, autograd's backward() on torch)."""

from __future__ import annotations

import keras

ON_TF = keras.backend.backend() == "tensorflow"


def value_and_grads(compute, variables):
    """(compute(), d compute() / d each variable) for a scalar `compute()` of Keras variables."""
    if ON_TF:
        import tensorflow as tf

        # watch only what is differentiated: a tape watches every variable created trainable, and a frozen
        # body's variables were, so it would backpropagate through the whole body for nothing
        with tf.GradientTape(watch_accessed_variables=False) as tape:
            tape.watch([var.value if hasattr(var, "value") else var for var in variables])
            value = compute()
        return value, tape.gradient(value, variables)
    for var in variables:
        var.value.grad = None
    value = compute()
    value.backward()
    return value.detach(), [var.value.grad for var in variables]
