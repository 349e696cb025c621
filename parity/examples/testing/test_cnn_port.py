"""A user's tests of their Keras port of SmallCNN, with parity.testing: the weights ported, the forward pass in
inference and in training mode (BN statistics), the gradients, and 20 Adam steps.

    pytest parity/examples/testing --parity-report reports/cnn-port
"""

import keras
import numpy as np
import pytest
import torch
from cnn_keras import small_cnn
from cnn_torch import SmallCNN

from parity.testing import (assert_forward_close, assert_gradients_close, assert_training_close, port_weights)


@pytest.fixture
def models(parity_seed):
    torch_model, keras_model = SmallCNN(), small_cnn()
    port_weights(torch_model, keras_model)
    return torch_model, keras_model


@pytest.fixture
def data(parity_seed):
    rng = np.random.default_rng(parity_seed)
    return [(rng.standard_normal((16, 16, 16, 3)).astype(np.float32), rng.integers(0, 10, 16)) for _ in range(4)]


@pytest.mark.parametrize("mode", ["eval", "train"])
def test_forward(models, data, mode):
    assert_forward_close(*models, data[0][0], mode=mode)


def test_gradients(models, data):
    assert_gradients_close(*models, *data[0])


def test_twenty_adam_steps(models, data):
    torch_model, keras_model = models
    assert_training_close(torch_model, torch.optim.Adam(torch_model.parameters(), lr=1e-3), keras_model,
                          keras.optimizers.Adam(learning_rate=1e-3, epsilon=1e-8), data, steps=20)
