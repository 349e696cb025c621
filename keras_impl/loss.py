"""Keras side of parity.loss: sparse_categorical_crossentropy from logits, on a softmax output (the thread's
code), and on probabilities without Keras' cached logits (the clipped path)."""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from parity import loss as spec


def per_sample_loss(name: str, logits, labels):
    """The loss of each sample as Keras computes it, differentiable (training steps and loss_and_grad)."""
    spec.get_loss(name)
    if name == "ce_logits":
        return keras.losses.sparse_categorical_crossentropy(labels, logits, from_logits=True)
    if name == "keras_softmax":  # the softmax output carries its logits; Keras uses them
        return keras.losses.sparse_categorical_crossentropy(labels, keras.activations.softmax(logits))
    # a probability tensor without the cache: Keras clips it to [1e-7, 1 - 1e-7]
    return keras.losses.sparse_categorical_crossentropy(labels, tf.identity(tf.nn.softmax(logits)))


def loss_and_grad(name: str, logits, labels) -> tuple[np.ndarray, np.ndarray]:
    """(per-sample loss, gradient of the mean loss with respect to the logits)."""
    z = tf.Variable(np.asarray(logits, np.float32))
    with tf.GradientTape() as tape:
        per_sample = per_sample_loss(name, z, np.asarray(labels, np.int64))
        mean = tf.reduce_mean(per_sample)
    return per_sample.numpy(), tape.gradient(mean, z).numpy()
