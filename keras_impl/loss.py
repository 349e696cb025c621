"""Keras side of parity.components.loss: sparse_categorical_crossentropy from logits, on a softmax output (the thread's
code), and on probabilities without Keras' cached logits (the clipped path)."""

from __future__ import annotations

import keras
import numpy as np

from keras_impl._backend import value_and_grads


def per_sample_loss(name: str, logits, labels):
    """The loss of each sample as Keras computes it, differentiable (training steps and loss_and_grad).

    'keras_softmax' is the thread's softmax output: on TensorFlow the softmax leaves its logits on the output
    (and in a graph its op type), which the crossentropy reads instead of the probabilities. 'keras_clipped'
    copies the probabilities first, as any tensor made elsewhere would arrive, so the crossentropy clips them.
    """
    if name == "ce_logits":
        return keras.losses.sparse_categorical_crossentropy(labels, logits, from_logits=True)
    probabilities = keras.activations.softmax(logits)
    if name == "keras_clipped":
        probabilities = keras.ops.copy(probabilities)  # tf.identity on TensorFlow: no cached logits, no Softmax op
    return keras.losses.sparse_categorical_crossentropy(labels, probabilities)


def loss_and_grad(name: str, logits, labels) -> tuple[np.ndarray, np.ndarray]:
    """(per-sample loss, gradient of the mean loss with respect to the logits)."""
    z = keras.Variable(np.asarray(logits, np.float32))
    labels = keras.ops.convert_to_tensor(np.asarray(labels, np.int64))
    def mean_loss():
        per_sample = per_sample_loss(name, z, labels)
        return keras.ops.mean(per_sample), per_sample

    _, (grad,), per_sample = value_and_grads(mean_loss, [z], has_aux=True)
    return keras.ops.convert_to_numpy(per_sample), keras.ops.convert_to_numpy(grad)
