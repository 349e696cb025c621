"""Keras side of parity.loss: sparse_categorical_crossentropy from logits, on a softmax output (the thread's
code), and on probabilities without Keras' cached logits (the clipped path)."""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from parity import loss as spec


def loss_and_grad(name: str, logits, labels) -> tuple[np.ndarray, np.ndarray]:
    """(per-sample loss, gradient of the mean loss with respect to the logits)."""
    spec.get_loss(name)
    z = tf.Variable(np.asarray(logits, np.float32))
    y = np.asarray(labels, np.int64)
    with tf.GradientTape() as tape:
        if name == "ce_logits":
            per_sample = keras.losses.sparse_categorical_crossentropy(y, z, from_logits=True)
        elif name == "keras_softmax":  # the softmax output carries its logits; Keras uses them
            per_sample = keras.losses.sparse_categorical_crossentropy(y, keras.activations.softmax(z))
        else:  # a probability tensor without the cache: Keras clips it to [1e-7, 1 - 1e-7]
            per_sample = keras.losses.sparse_categorical_crossentropy(y, tf.identity(tf.nn.softmax(z)))
        mean = tf.reduce_mean(per_sample)
    return per_sample.numpy(), tape.gradient(mean, z).numpy()
