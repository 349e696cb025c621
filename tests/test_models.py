"""Bodies and the porting table: structure facts, key and shape assertions, bad input."""

import numpy as np
import pytest

from parity import models, porting
from parity.errors import ParityError
from parity.frameworks import mirror

SIDES = pytest.mark.parametrize("side", [0, 1], ids=["torch", "keras"])


def test_lite0_block_table_matches_the_package():
    """parity's Lite0 table against efficientnet-lite-pytorch's own decoded model (channels, strides, pads)."""
    torch_models, _ = mirror("models")
    net = torch_models.build_body("efficientnet_lite0")
    blocks = models.lite0_blocks(224)
    assert len(blocks) == len(net._blocks) == 16
    for (index, expand, kernel, stride, f_in, f_out, pad, skip), block in zip(blocks, net._blocks):
        conv = block._depthwise_conv
        assert (conv.in_channels, conv.kernel_size[0], conv.stride[0]) == (f_in * expand, kernel, stride), index
        assert block._project_conv.out_channels == f_out
        torch_pad = getattr(conv.static_padding, "padding", (0, 0, 0, 0))
        assert tuple(torch_pad[:2]) == pad, index


@pytest.fixture(scope="module")
def resnet18_pair():
    torch_models, keras_models = mirror("models")
    return torch_models.build_body("resnet18"), keras_models.build_body("resnet18")


def test_port_counts_every_tensor(resnet18_pair):
    torch_models, keras_models = mirror("models")
    state = torch_models.body_state(resnet18_pair[0])
    assert porting.port_torch_to_keras(state, resnet18_pair[1]) == 100  # 120 minus 20 BN step counters
    back = keras_models.body_state(resnet18_pair[1])
    assert set(back) == {k for k in state if not k.endswith("num_batches_tracked")}
    assert all(np.array_equal(back[k], state[k]) for k in back)


def test_port_missing_key(resnet18_pair):
    state = mirror("models")[0].body_state(resnet18_pair[0])
    del state["layer2.0.conv1.weight"]
    with pytest.raises(ParityError, match=r"missing key 'layer2.0.conv1.weight'"):
        porting.port_torch_to_keras(state, resnet18_pair[1])


def test_port_extra_key(resnet18_pair):
    state = mirror("models")[0].body_state(resnet18_pair[0])
    state["fc.weight"] = np.zeros((1000, 512), np.float32)
    with pytest.raises(ParityError, match=r"1 keys no Keras layer takes, e.g. \['fc.weight'\]"):
        porting.port_torch_to_keras(state, resnet18_pair[1])


def test_port_shape_mismatch(resnet18_pair):
    state = mirror("models")[0].body_state(resnet18_pair[0])
    state["conv1.weight"] = np.zeros((64, 3, 3, 3), np.float32)
    with pytest.raises(ParityError, match=r"shape mismatch for 'conv1.weight'.*OIHW -> HWIO"):
        porting.port_torch_to_keras(state, resnet18_pair[1])


@SIDES
@pytest.mark.parametrize("name", list(models.BODIES))
def test_body_output_channels_match_the_spec(side, name):
    if side == 0 and name not in models.PORTABLE_BODIES:
        pytest.skip("keras.applications only")
    models_side = mirror("models")[side]
    features = models_side.forward_features(models_side.build_body(name), np.zeros((1, 32, 32, 3), np.float32))
    assert features.shape == (1, 1, 1, models.BODIES[name].features)


@SIDES
def test_unknown_body(side):
    with pytest.raises(ParityError, match=r"body 'resnet51' is not one of: efficientnet_lite0, resnet18"):
        mirror("models")[side].build_body("resnet51")


@SIDES
def test_wrong_channel_count(side, resnet18_pair):
    with pytest.raises(ParityError, match=r"body input must be NHWC with 3 channels, got shape \(1, 8, 8, 1\)"):
        mirror("models")[side].forward_features(resnet18_pair[side], np.zeros((1, 8, 8, 1), np.float32))


def test_resnet_weights_offline_is_a_clear_error(monkeypatch):
    import torchvision.models._api as weights_api

    def offline(*args, **kwargs):
        raise OSError("network is unreachable")

    monkeypatch.setattr(weights_api, "load_state_dict_from_url", offline)  # where torchvision looks it up
    with pytest.raises(ParityError, match=r"cannot load resnet50 weights 'IMAGENET1K_V2'.*needs internet"):
        mirror("models")[0].build_body("resnet50", "IMAGENET1K_V2")


@SIDES
def test_lite0_classifies_the_sample_photos(side, check_context):
    """The ported ImageNet head gives the upstream-documented classes: china.jpg 442, flower.jpg 985."""
    from parity import data
    from parity.cases.model import imagenet_input

    models_side = mirror("models")[side]
    x = imagenet_input(check_context)
    top1 = models_side.classify(models_side.build_imagenet_classifier("efficientnet_lite0"), x).argmax(axis=1)
    names = [p.rsplit("/", 1)[-1] for p in data.sample_photo_paths()]
    assert dict(zip(names, top1.tolist())) == {"china.jpg": 442, "flower.jpg": 985}


def test_layerwise_names_the_first_layer_that_parts():
    """Break one Keras BN layer on purpose: the case fails and names exactly that layer."""
    from parity.cases.model import ported_pair
    from parity.compare import run_case
    from parity.context import CheckContext
    from parity.registry import all_cases

    case = next(c for c in all_cases() if c.name == "resnet18 64px inference")
    ctx = CheckContext(seed=0)
    try:
        _, keras_model, _ = ported_pair(ctx, "resnet18")
        layer = keras_model.get_layer("layer3.0.bn1")
        gamma, *rest = layer.get_weights()
        layer.set_weights([gamma * 1.001, *rest])
        row = run_case(case, ctx)
    finally:
        ctx.close()
    assert row["status"] == "FAIL"
    assert row["detail"]["first_over_tol"] == "layer3.0.bn1"


def test_gradient_case_catches_a_wrong_keras_weight():
    """Scale one Keras head weight by 1%: the gradient case fails, first at the logits."""
    from parity.cases.grad import _pair
    from parity.compare import run_case
    from parity.context import CheckContext
    from parity.registry import all_cases

    case = next(c for c in all_cases() if c.name == "resnet18 + keras_thread head, frozen")
    ctx = CheckContext(seed=0)
    try:
        dense = _pair(ctx, "resnet18", "keras_thread")[1].get_layer("head").get_layer("8")
        kernel, bias = dense.get_weights()
        dense.set_weights([kernel * 1.01, bias])
        row = run_case(case, ctx)
    finally:
        ctx.close()
    assert row["status"] == "FAIL" and row["detail"]["first_over_tol"] == "logits"


@SIDES
def test_head_class_count_must_fit_the_labels(side):
    classifier = mirror("classifier")[side]
    model = classifier.build_model("resnet18", "linear", 3)
    with pytest.raises(ParityError, match=r"class count mismatch: labels span 0..7, the head has 3 classes"):
        classifier.gradients(model, np.zeros((2, 32, 32, 3), np.float32), np.array([0, 7]), "frozen")


@SIDES
def test_unknown_head_and_policy(side):
    classifier = mirror("classifier")[side]
    with pytest.raises(ParityError, match=r"head 'fastai_v3' is not one of: fastai_v1, fastai_v2, keras_thread"):
        classifier.build_model("resnet18", "fastai_v3", 3)
    model = classifier.build_model("resnet18", "linear", 3)
    with pytest.raises(ParityError, match=r"BN policy 'train' is not one of: frozen, stats_only, train_bn"):
        classifier.apply_bn_policy(model, "train")


@SIDES
def test_weights_with_missing_keys_do_not_load(side):
    torch_classifier, _ = mirror("classifier")
    state = torch_classifier.model_state(torch_classifier.build_model("resnet18", "fastai_v1", 3))
    del state["head.4.weight"]
    classifier = mirror("classifier")[side]
    with pytest.raises(ParityError, match=r"missing"):
        classifier.load_model_state(classifier.build_model("resnet18", "fastai_v1", 3), state)


def test_head_weights_port_keras_to_torch():
    """The Keras -> torch direction: a Keras-initialised head (glorot) loads into torch and gives the same logits."""
    torch_classifier, keras_classifier = mirror("classifier")
    keras_model = keras_classifier.build_model("resnet18", "keras_thread", 5, dropout=False, seed=3)
    torch_model = torch_classifier.build_model("resnet18", "keras_thread", 5, dropout=False)
    assert torch_classifier.load_model_state(torch_model, keras_classifier.model_state(keras_model)) > 0
    x = np.random.default_rng(0).normal(size=(2, 64, 64, 3)).astype(np.float32)
    labels = np.array([0, 4])
    logits_torch, _ = torch_classifier.gradients(torch_model, x, labels, "frozen")
    logits_keras, _ = keras_classifier.gradients(keras_model, x, labels, "frozen")
    np.testing.assert_allclose(logits_torch, logits_keras, rtol=1e-4, atol=1e-4)


def test_keras_only_body_is_a_clear_error_in_torch():
    with pytest.raises(ParityError, match=r"body 'resnet50v2_keras' exists only in keras.applications"):
        mirror("models")[0].build_body("resnet50v2_keras")


def test_keras_applications_weights_offline_is_a_clear_error(monkeypatch):
    from keras.src.applications import resnet  # where keras.applications looks get_file up

    def offline(*args, **kwargs):
        raise OSError("network is unreachable")

    monkeypatch.setattr(resnet.file_utils, "get_file", offline)
    with pytest.raises(ParityError, match=r"cannot load resnet50v2_keras weights 'imagenet'.*needs internet"):
        mirror("models")[1].build_body("resnet50v2_keras", "imagenet")


def test_torch_states_are_copies_not_views():
    """A state read before a training step must not change with the model (it did: numpy views)."""
    torch_classifier, _ = mirror("classifier")
    model = torch_classifier.build_model("resnet18", "linear", 3)
    before = torch_classifier.model_state(model)
    torch_classifier.gradients(model, np.ones((2, 32, 32, 3), np.float32), np.array([0, 1]), "train_bn")
    after = torch_classifier.model_state(model)
    assert not np.array_equal(before["body.bn1.running_mean"], after["body.bn1.running_mean"])


@SIDES
def test_unknown_model_dtype(side):
    with pytest.raises(ParityError, match=r"model dtype 'float16' is not one of: float32, float64"):
        mirror("classifier")[side].build_model("resnet18", "linear", 3, dtype="float16")


def test_keras_float64_build_restores_the_global_dtype():
    import keras

    mirror("classifier")[1].build_model("resnet18", "linear", 3, dtype="float64")
    assert keras.config.floatx() == "float32"


@pytest.mark.parametrize("case_name, tensor", [
    ("resnet18 + fastai_v1 head, train_bn", "head.4.weight"),
    ("resnet18 + fastai_v1 head, train_bn, float64 in both", "body.layer2.0.bn1.bias"),
])
def test_gradient_cases_fail_on_a_planted_gradient_error(case_name, tensor, monkeypatch):
    """A 1% error in one Keras gradient: the case that judges that tensor fails and names it first; the float32
    case shows the body BN tensors it leaves to the float64 twin instead of judging them."""
    from parity.compare import run_case
    from parity.context import CheckContext
    from parity.registry import all_cases

    keras_classifier = mirror("classifier")[1]
    real = keras_classifier.gradients

    def planted(model, images, labels, policy):
        logits, grads = real(model, images, labels, policy)
        grads[tensor] = grads[tensor] * 1.01
        return logits, grads

    case = next(c for c in all_cases() if c.name == case_name)
    ctx = CheckContext(seed=0)
    try:
        clean = run_case(case, ctx)
        monkeypatch.setattr(keras_classifier, "gradients", planted)
        row = run_case(case, ctx)
    finally:
        ctx.close()
    assert clean["status"] == "pass"
    assert row["status"] == "FAIL" and row["detail"]["first_over_tol"] == tensor
    if "float64" not in case_name:
        (excluded,) = clean["detail"]["excluded"]
        assert excluded["count"] == 40 and excluded["judged_by"].endswith("float64 in both")  # resnet18: 20 BN x 2
