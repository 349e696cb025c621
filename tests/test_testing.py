"""parity.testing on a user's own models: the worked example (parity/examples/testing: SmallCNN in both
frameworks) passes as written, and each mistake a port commonly makes fails with a message naming the layer or
the step: BN momentum given as torch's 0.1 in Keras, a square Dense left untransposed, Keras Adam's epsilon left
at 1e-7, padding='same' on a stride-2 conv, a Dropout left active. Also: layers that do not align, a name map,
the report the pytest plugin writes, and the example under Keras on torch."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import parity
from parity.core.errors import ParityError

EXAMPLE = Path(parity.__file__).parent / "examples" / "testing"
sys.path.insert(0, str(EXAMPLE))

from cnn_keras import small_cnn  # noqa: E402
from cnn_torch import SmallCNN  # noqa: E402

from parity.testing import (assert_forward_close, assert_training_close, compare_forward,  # noqa: E402
                            compare_gradients, compare_training, layer_map, port_weights)


def _batches(n=4, seed=0):
    rng = np.random.default_rng(seed)
    return [(rng.standard_normal((16, 16, 16, 3)).astype(np.float32), rng.integers(0, 10, 16)) for _ in range(n)]


def _pair(**mistake):
    import torch

    torch.manual_seed(0)
    torch_model, keras_model = SmallCNN(), small_cnn(**mistake)
    port_weights(torch_model, keras_model)
    return torch_model, keras_model


def _adam(torch_model, eps=1e-8):
    import keras
    import torch

    return torch.optim.Adam(torch_model.parameters(), lr=1e-3), keras.optimizers.Adam(learning_rate=1e-3, epsilon=eps)


def test_the_faithful_port_agrees_forward_gradients_and_twenty_steps():
    torch_model, keras_model = _pair()
    x, y = _batches(1)[0]
    for mode in ("eval", "train"):
        c = compare_forward(torch_model, keras_model, x, mode=mode)
        assert c.ok, c.message()
        assert all(r["noise"] is not None for r in c.rows)  # every layer carries its float32 noise
    c = compare_gradients(torch_model, keras_model, x, y)
    assert c.ok and len(c.rows) == 14, c.message()  # 5 layers' weights and biases, 2 BNs' scale and shift
    topt, kopt = _adam(torch_model)
    c = compare_training(torch_model, topt, keras_model, kopt, _batches(), steps=20)
    assert c.ok, c.message()
    assert {r["step"] for r in c.rows} == set(range(1, 21))


MISTAKES = {  # mistake -> (how the Keras side is built, what the comparison is, what the message names)
    "bn momentum 0.1": ({"bn_momentum": 0.1}, "forward_train", "bn1.running_mean / bn1"),
    "padding same on the stride-2 conv": ({"same_padding": True}, "forward", "at conv2 / conv2:"),
    "dropout left active": ({"dropout_always": True}, "forward", "at drop / drop:"),
}


@pytest.mark.parametrize("mistake", MISTAKES)
def test_a_planted_mistake_is_named_by_its_layer(mistake):
    build, how, named = MISTAKES[mistake]
    torch_model, keras_model = _pair(**build)
    x = _batches(1)[0][0]
    with pytest.raises(AssertionError) as failure:
        assert_forward_close(torch_model, keras_model, x, mode="train" if how == "forward_train" else "eval")
    assert named in str(failure.value)
    first = failure.value.args[0].split("first over tolerance at ")[1]
    assert first.startswith(named.removeprefix("at ").rstrip(":").split(" / ")[0])


def test_bn_momentum_is_explained_in_the_message():
    torch_model, keras_model = _pair(bn_momentum=0.1)
    with pytest.raises(AssertionError, match="torch momentum 0.1 is Keras momentum 0.9"):
        assert_forward_close(torch_model, keras_model, _batches(1)[0][0], mode="train")


def test_a_square_dense_left_untransposed_is_named():
    """A hand port that copies fc2's 32 x 32 weight as it is: the shapes fit, the layer is wrong."""
    torch_model, keras_model = _pair()
    keras_model.get_layer("fc2").kernel.assign(torch_model.fc2.weight.detach().numpy())
    c = compare_forward(torch_model, keras_model, _batches(1)[0][0])
    assert not c.ok and c.first_over["name"] == "fc2+relu4 / fc2+relu"  # fc2's output, after its activation
    assert [r["within"] for r in c.rows][:c.rows.index(c.first_over)] == [True] * c.rows.index(c.first_over)


def test_keras_adam_epsilon_left_at_its_default_is_noticed_within_twenty_steps():
    torch_model, keras_model = _pair()
    topt, kopt = _adam(torch_model, eps=1e-7)
    with pytest.raises(AssertionError) as failure:
        assert_training_close(torch_model, topt, keras_model, kopt, _batches(), steps=20)
    message = str(failure.value)
    assert "first over tolerance at step " in message and " update / " in message
    assert "eps: torch 1e-08, Keras 1e-07" in message


def test_models_that_do_not_align_name_the_first_layer():
    import keras
    from keras import layers

    inputs = keras.Input((16, 16, 3))
    x = layers.Conv2D(16, 3, padding="same")(inputs)
    x = layers.MaxPooling2D(2)(x)  # torch has a BN here
    other = keras.Model(inputs, layers.Dense(10)(layers.GlobalAveragePooling2D()(x)))
    with pytest.raises(ParityError, match=r"do not align at layer 2: torch 'bn1' \(BatchNorm2d\) is a bn, Keras"):
        port_weights(SmallCNN(), other)


def test_a_name_map_pairs_layers_by_name_and_a_bad_name_is_named():
    torch_model, keras_model = _pair()
    names = {"conv1": "conv1", "bn1": "bn1", "conv2": "conv2", "bn2": "bn2", "fc1": "fc1", "fc2": "fc2", "out": "out"}
    lmap = layer_map(torch_model, keras_model, name_map=names)
    assert [p.torch.name for p in lmap.weighted()] == list(names)
    assert lmap.weighted()[4].flatten_from == (32, 4, 4)  # fc1 follows the Flatten: its columns are permuted
    with pytest.raises(ParityError, match="name_map: Keras layer 'fc9' is not a layer parity compares"):
        layer_map(torch_model, keras_model, name_map={"fc1": "fc9"})


def test_the_example_as_its_user_runs_it_with_a_report(tmp_path):
    """`pytest parity/examples/testing --parity-report DIR`: the user's four tests pass and the report lists
    their comparisons as check rows; also under Keras on torch (KERAS_BACKEND=torch)."""
    import json

    for backend in ("tensorflow", "torch"):
        out = tmp_path / backend
        done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-c", os.devnull,
                               "--rootdir", str(EXAMPLE), str(EXAMPLE), "--parity-report", str(out)],
                              env={**os.environ, "KERAS_BACKEND": backend}, capture_output=True, text=True)
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
        assert "4 passed" in done.stdout
        results = json.loads((out / "results.json").read_text())
        assert len(results["cases"]) == 4 and {c["status"] for c in results["cases"]} == {"pass"}
        assert results["backends"] == ["torch", {"tensorflow": "keras_tf", "torch": "keras_torch"}[backend]]
        assert "test_twenty_adam_steps" in (out / "report.md").read_text()


def test_parity_re_exports_the_testing_names():
    import parity.testing

    assert set(parity.TESTING_NAMES) == set(parity.testing.__all__)
    assert parity.port_weights is parity.testing.port_weights
    with pytest.raises(AttributeError, match="no attribute 'port_weight'"):
        parity.port_weight  # noqa: B018
