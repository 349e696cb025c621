"""Bodies, heads and the porting table through the front layer: structure facts, key and shape assertions, bad
input, and planted faults that the layer-wise cases must name."""

import importlib
import re

import numpy as np
import pytest

from conftest import BACKENDS
from parity.components import classifier, models, porting
from parity.runtime import workers
from parity.check.cases import all_cases
from parity.check.compare import run_case
from parity.check.context import CheckContext
from parity.core.errors import ParityError


def test_lite0_block_table_matches_the_package():
    """parity's Lite0 table against efficientnet-lite-pytorch's own decoded model (channels, strides, pads)."""
    net = importlib.import_module("torch_impl.models").build_body("efficientnet_lite0")
    blocks = models.lite0_blocks(224)
    assert len(blocks) == len(net._blocks) == 16
    for (index, expand, kernel, stride, f_in, f_out, pad, skip), block in zip(blocks, net._blocks):
        conv = block._depthwise_conv
        assert (conv.in_channels, conv.kernel_size[0], conv.stride[0]) == (f_in * expand, kernel, stride), index
        assert block._project_conv.out_channels == f_out
        # the package's ZeroPad2d, or the conv's own padding where build_body folded an equal pad into it
        torch_pad = getattr(conv.static_padding, "padding", conv.padding * 2)
        assert tuple(torch_pad[:2]) == pad, index


def test_lite0_pads_folded_into_their_convs_give_the_package_outputs():
    """build_body moves every equal-sided ZeroPad2d into its conv's own padding: the outputs of the package's
    pad-then-conv modules, bit for bit, in inference and train mode."""
    import copy

    import torch

    torch_models = importlib.import_module("torch_impl.models")
    net = torch_models._lite0(None)
    package = copy.deepcopy(net)
    body = torch_models._LiteBody(net)
    folded = [m for m in body.modules()
              if isinstance(getattr(m, "static_padding", None), torch.nn.Identity) and m.padding != (0, 0)]
    assert len(folded) == 12  # every stride-1 depthwise conv; the 4 stride-2 ones pad one side and keep it
    x = torch.randn(2, 64, 64, 3).permute(0, 3, 1, 2)  # channels-last, as the classifier feeds it
    for training in (False, True):  # the package's modules through the same loop (no drop-connect)
        body.train(training), package.train(training)
        assert torch.equal(body(x), torch_models._LiteBody.forward(package, x)), training


def test_a_keras_model_called_again_runs_traced_with_the_eager_numbers():
    import gc

    from keras_impl import _backend
    from keras_impl.classifier import build_model

    if not _backend.ON_TF:
        pytest.skip("tracing is TensorFlow's; Keras on torch runs eagerly")
    model = build_model("resnet18", "fastai_v1", 10)
    x = np.random.default_rng(0).normal(size=(6, 32, 32, 3)).astype(np.float32)
    signature = ((None, 32, 32, 3), "float32")
    eager = _backend.inference(model, x)
    assert _backend._INFERENCE[model] == {signature: None}  # one call: eager
    assert np.array_equal(_backend.inference(model, x), eager)
    assert _backend._INFERENCE[model][signature] is not None  # called again: traced, same numbers
    assert np.array_equal(_backend.inference(model, x[4:]), eager[4:])  # another batch size, the same trace
    held = len(_backend._INFERENCE)
    del model
    gc.collect()
    assert len(_backend._INFERENCE) == held - 1  # the trace does not keep its model alive


@pytest.fixture(scope="module")
def resnet18_keras():
    """A Keras resnet18 twin in this process, with the in-process torch body's state at hand."""
    torch_models, keras_models = (importlib.import_module(f"{p}.models") for p in ("torch_impl", "keras_impl"))
    return torch_models.body_state(torch_models.build_body("resnet18")), keras_models.build_body("resnet18")


def test_port_counts_every_tensor(resnet18_keras):
    from keras_impl._porting import load_state, state_of

    state, keras_body = resnet18_keras
    assert load_state(keras_body, state) == 100  # 120 minus 20 BN step counters
    back = state_of(keras_body)
    assert set(back) == {k for k in state if not k.endswith("num_batches_tracked")}
    assert all(np.array_equal(back[k], state[k]) for k in back)


@pytest.mark.parametrize("mutate, message", [
    (lambda s: s.pop("layer2.0.conv1.weight"), r"missing key 'layer2.0.conv1.weight'"),
    (lambda s: s.__setitem__("fc.weight", np.zeros((1000, 512), np.float32)),
     r"1 keys no Keras layer takes, e.g. \['fc.weight'\]"),
    (lambda s: s.__setitem__("conv1.weight", np.zeros((64, 3, 3, 3), np.float32)),
     r"shape mismatch for 'conv1.weight'.*OIHW -> HWIO"),
])
def test_port_asserts_keys_and_shapes(resnet18_keras, mutate, message):
    from keras_impl._porting import load_state

    state = dict(resnet18_keras[0])
    mutate(state)
    with pytest.raises(ParityError, match=message):
        load_state(resnet18_keras[1], state)


def test_porting_table_names_its_layouts():
    assert {c.layout for c in porting.CONVERSIONS.values()} >= {"OIHW -> HWIO", "(out, in) -> (in, out)"}


@BACKENDS
@pytest.mark.parametrize("name", list(models.BODIES))
def test_body_output_channels_match_the_spec(backend, name):
    if backend == "torch" and name not in models.PORTABLE_BODIES:
        pytest.skip("keras.applications only")
    body = models.build_body(models.CHECK_WEIGHTS[name], on=backend)
    features = models.forward_features(body, np.zeros((1, 32, 32, 3), np.float32))
    workers.release([body])
    assert features.shape == (1, 1, 1, models.BODIES[name].features)


def test_unknown_body_and_weights():
    with pytest.raises(ParityError, match=r"body 'resnet51' is not one of: efficientnet_lite0, resnet18"):
        models.get_body("resnet51")
    with pytest.raises(ParityError, match=r"weights 'resnet18.DEFAULT' is not one of"):
        models.build_body("resnet18.DEFAULT", on="torch")


@BACKENDS
def test_wrong_channel_count(backend):
    body = models.build_body("resnet18.init", on=backend)
    with pytest.raises(ParityError, match=r"body input must be NHWC with 3 channels, got shape \(1, 8, 8, 1\)"):
        models.forward_features(body, np.zeros((1, 8, 8, 1), np.float32))


def test_resnet_weights_offline_is_a_clear_error(monkeypatch):
    import torchvision.models._api as weights_api

    def offline(*args, **kwargs):
        raise OSError("network is unreachable")

    monkeypatch.setattr(weights_api, "load_state_dict_from_url", offline)  # where torchvision looks it up
    with pytest.raises(ParityError, match=r"cannot load resnet50 weights 'IMAGENET1K_V2'.*needs internet"):
        importlib.import_module("torch_impl.models").build_body("resnet50", "IMAGENET1K_V2")


@BACKENDS
def test_lite0_classifies_the_sample_photos(backend, check_context):
    """The ported ImageNet head gives the upstream-documented classes: china.jpg 442, flower.jpg 985."""
    from parity.components import data
    from parity.check.cases.model import imagenet_input

    net = models.imagenet_classifier("efficientnet_lite0", on=backend)
    top1 = models.classify(net, imagenet_input(check_context)).argmax(axis=1)
    names = [p.rsplit("/", 1)[-1] for p in data.sample_photo_paths()]
    assert dict(zip(names, top1.tolist())) == {"china.jpg": 442, "flower.jpg": 985}


def _case(name: str):
    return next(c for c in all_cases() if c.name == name)


def test_layerwise_names_the_first_layer_that_parts():
    """Break one Keras BN layer on purpose (its gamma x 1.001): the case fails and names exactly that layer."""
    from parity.check.cases._shared import body

    ctx = CheckContext(seed=0)
    try:
        keras_body = body(ctx, "resnet18", "keras_tf")
        state = models.body_state(keras_body)
        state["layer3.0.bn1.weight"] = state["layer3.0.bn1.weight"] * 1.001
        workers.call("keras_tf", "models.load_body_state", keras_body, state)
        row = run_case(_case("resnet18 64px inference"), ctx)
    finally:
        ctx.close()
    assert row["status"] == "FAIL"
    assert row["detail"]["first_over_tol"] == "layer3.0.bn1"


def test_gradient_case_catches_a_wrong_keras_weight():
    """Scale one Keras head weight by 1%: the gradient case fails, first at the logits."""
    from parity.check.cases._shared import model

    ctx = CheckContext(seed=0)
    try:
        keras_model = model(ctx, "resnet18", "keras_thread", "keras_tf")
        state = classifier.model_state(keras_model)
        state["head.8.weight"] = state["head.8.weight"] * 1.01
        classifier.load_model_state(keras_model, state)
        row = run_case(_case("resnet18 + keras_thread head, frozen"), ctx)
    finally:
        ctx.close()
    assert row["status"] == "FAIL" and row["detail"]["first_over_tol"] == "logits"


@pytest.mark.parametrize("case_name, tensor", [
    ("resnet18 + keras_thread head, frozen", "head.4.weight"),
    ("resnet18 + fastai_v1 head, train_bn, float64 in both", "head.4.weight"),
    ("resnet18 + fastai_v1 head, train_bn, float64 in both", "body.layer2.0.bn1.bias"),
])
def test_gradient_cases_fail_on_a_planted_gradient_error(case_name, tensor):
    """A 1% error planted in one Keras gradient: the case that judges that tensor fails and names it first."""
    case = _case(case_name)
    ctx = CheckContext(seed=0)
    try:
        clean = run_case(case, ctx)
        workers.call("keras_tf", "parity.selftest.faults:apply_here", "keras_impl.classifier", "gradients", "scale_tensor",
                     tensor, 1.01)
        row = run_case(case, ctx)
    finally:
        workers.call("keras_tf", "parity.selftest.faults:undo_here")
        ctx.close()
    assert clean["status"] == "pass"
    assert row["status"] == "FAIL" and row["detail"]["first_over_tol"] == tensor


def test_train_bn_gradients_float32_cannot_judge_are_left_to_the_float64_twin():
    """Under train_bn, float32 judges only the logits: every body and head gradient goes to the float64 twin."""
    (rule,) = _case("resnet18 + fastai_v1 head, train_bn").exclude
    assert all(re.search(rule.match, name) for name in ("body.layer2.0.bn1.bias", "head.4.weight", "head.2.bias"))
    assert not re.search(rule.match, "logits")
    assert rule.judged_by == "grad.resnet18.fastai_v1.train_bn.f64"
    assert rule.judged_by in {c.id for c in all_cases()}


@BACKENDS
def test_head_class_count_must_fit_the_labels(backend):
    model = classifier.build_model("resnet18", "linear", 3, "resnet18.init", on=backend)
    with pytest.raises(ParityError, match=r"class count mismatch: labels span 0..7, the head has 3 classes"):
        classifier.gradients(model, np.zeros((2, 32, 32, 3), np.float32), np.array([0, 7]), "frozen")


def test_unknown_head_policy_and_dtype():
    with pytest.raises(ParityError, match=r"head 'fastai_v3' is not one of: fastai_v1, fastai_v1_square, fastai_v2, "
                                          r"keras_thread"):
        classifier.build_model("resnet18", "fastai_v3", 3, "resnet18.init", on="torch")
    with pytest.raises(ParityError, match=r"model dtype 'float16' is not one of: float32, float64"):
        classifier.build_model("resnet18", "linear", 3, "resnet18.init", dtype="float16", on="torch")
    model = classifier.build_model("resnet18", "linear", 3, "resnet18.init", on="torch")
    with pytest.raises(ParityError, match=r"BN policy 'train' is not one of: frozen, stats_only, train_bn"):
        classifier.apply_bn_policy(model, "train")


@BACKENDS
def test_weights_with_missing_keys_do_not_load(backend):
    state = classifier.torch_model_state("resnet18", "fastai_v1", 3, "resnet18.init")
    state = {k: v for k, v in state.items() if k != "head.4.weight"}
    model = classifier.build_model("resnet18", "fastai_v1", 3, "resnet18.init", on=backend)
    with pytest.raises(ParityError, match=r"missing"):
        classifier.load_model_state(model, state)


def test_head_weights_port_keras_to_torch():
    """The Keras -> torch direction: a Keras-initialised head (glorot) loads into torch, the same logits."""
    keras_model = workers.call("keras_tf", "classifier.build_model", "resnet18", "keras_thread", 5, None, False, 3)
    torch_model = classifier.build_model("resnet18", "keras_thread", 5, "resnet18.init", dropout=False, on="torch")
    assert classifier.load_model_state(torch_model, workers.call("keras_tf", "classifier.model_state", keras_model)) > 0
    x = np.random.default_rng(0).normal(size=(2, 64, 64, 3)).astype(np.float32)
    logits_torch = classifier.evaluate(torch_model, x, [0, 4])[0]
    logits_keras = workers.call("keras_tf", "classifier.evaluate", keras_model, x)
    np.testing.assert_allclose(logits_torch, logits_keras, rtol=1e-4, atol=1e-4)


def test_keras_only_body_is_a_clear_error_in_torch():
    with pytest.raises(ParityError, match=r"body 'resnet50v2_keras' exists only in keras.applications"):
        models.build_body("resnet50v2_keras.init", on="torch")


def test_keras_applications_weights_offline_is_a_clear_error(monkeypatch):
    from keras.src.applications import resnet  # where keras.applications looks get_file up

    def offline(*args, **kwargs):
        raise OSError("network is unreachable")

    monkeypatch.setattr(resnet.file_utils, "get_file", offline)
    with pytest.raises(ParityError, match=r"cannot load resnet50v2_keras weights 'imagenet'.*needs internet"):
        importlib.import_module("keras_impl.models").build_body("resnet50v2_keras", "imagenet")


def test_torch_states_are_copies_not_views():
    """A state read before a training step must not change with the model (it did: numpy views)."""
    torch_classifier = importlib.import_module("torch_impl.classifier")
    model = torch_classifier.build_model("resnet18", "linear", 3)
    before = torch_classifier.model_state(model)
    torch_classifier.gradients(model, np.ones((2, 32, 32, 3), np.float32), np.array([0, 1]), "train_bn")
    after = torch_classifier.model_state(model)
    assert not np.array_equal(before["body.bn1.running_mean"], after["body.bn1.running_mean"])


def test_keras_float64_build_restores_the_global_dtype():
    import keras

    importlib.import_module("keras_impl.classifier").build_model("resnet18", "linear", 3, dtype="float64")
    assert keras.config.floatx() == "float32"


def test_keras_torch_refuses_float64_models():
    from parity.runtime.backends import Unsupported

    with pytest.raises(Unsupported, match=r"backend 'keras_torch' does not implement dtype 'float64'"):
        classifier.build_model("resnet18", "linear", 3, "resnet18.init", dtype="float64", on="keras_torch")


def test_a_repeated_torch_build_is_a_fresh_build():
    """build_body keeps its first build of a (body, weights, seed) and hands out copies: a copy must be the module
    a new build makes, leave torch's generator where a new build leaves it, and share no tensor with the kept one."""
    import torch

    torch_models = importlib.import_module("torch_impl.models")
    torch_models._BUILT.clear()
    after = []
    for _ in range(3):
        built = torch_models.build_body("resnet18", None, 3)
        after.append(torch.rand(4))
        with torch.no_grad():
            built.conv1.weight.add_(1.0)  # a caller changing what it was given
    second = torch_models.build_body("resnet18", None, 3)
    torch_models._BUILT.clear()
    fresh = torch_models.build_body("resnet18", None, 3)
    after_fresh = torch.rand(4)
    assert list(second.state_dict()) == list(fresh.state_dict())
    for name, value in fresh.state_dict().items():
        assert torch.equal(second.state_dict()[name], value), name
    assert all(torch.equal(a, after_fresh) for a in after)
    assert not second.training


def test_a_planted_fault_is_not_hidden_by_a_kept_torch_build():
    """A build made before a fault was planted (or after it was undone) is not reused under other code."""
    from parity.selftest import faults

    torch_models = importlib.import_module("torch_impl.models")
    assert "bn1.weight" in torch_models.build_body("resnet18", None, 0).state_dict()
    faults.apply_here("torch_impl.models", "_resnet", "set_on_result", "bn1", None)
    try:
        assert "bn1.weight" not in torch_models.build_body("resnet18", None, 0).state_dict()
    finally:
        faults.undo_here()
    assert "bn1.weight" in torch_models.build_body("resnet18", None, 0).state_dict()


@BACKENDS
def test_a_train_mode_pass_gives_back_its_snapshot(backend):
    """`restored` snapshots a shared model (one Handle per tensor) and must free all of them in the worker,
    or every train-mode case leaks a copy of its model's weights for the rest of the run."""
    from parity.check.cases._shared import restored

    handle = classifier.build_model("resnet18", "fastai_v1", 10, models.CHECK_WEIGHTS["resnet18"],
                                    dropout=False, on=backend)
    ctx = CheckContext(seed=0)
    try:
        before = workers.call_on(backend, "parity.runtime.workers:kept")
        with restored(ctx, handle, backend):
            assert workers.call_on(backend, "parity.runtime.workers:kept") > before  # the snapshot is held meanwhile
        assert workers.call_on(backend, "parity.runtime.workers:kept") == before
    finally:
        workers.release(handle)
        ctx.close()


@BACKENDS
def test_a_statistics_snapshot_gives_back_what_a_pass_moves(backend):
    """`restored(..., passes_only=True)` copies the BN statistics alone: a train-mode forward and backward moves
    them, and giving the snapshot back restores the whole model state bit for bit."""
    handle = classifier.build_model("resnet18", "fastai_v1", 10, models.CHECK_WEIGHTS["resnet18"],
                                    dropout=False, on=backend)
    x = np.random.default_rng(0).normal(size=(4, 64, 64, 3)).astype(np.float32)
    try:
        before = classifier.model_state(handle)
        saved = classifier.snapshot(handle, statistics_only=True)
        classifier.gradients(handle, x, np.arange(4), "train_bn")
        moved = classifier.model_state(handle)
        classifier.restore(handle, saved)
        after = classifier.model_state(handle)
    finally:
        workers.release(handle)
    statistics = [k for k in before if k.endswith(("running_mean", "running_var"))]
    assert len(saved) >= len(statistics) and len(saved) < len(before) / 2, len(saved)
    assert any(not np.array_equal(moved[k], before[k]) for k in statistics), "the pass moved no statistic"
    for key in before:
        np.testing.assert_array_equal(after[key], before[key], err_msg=key)
    workers.release(saved)


@BACKENDS
@pytest.mark.parametrize("body", models.PORTABLE_BODIES)
def test_a_body_runs_at_its_declared_smallest_input(body, backend):
    """models.Body.min_size, which training refuses smaller images against, is where each backend's body
    starts to run: at min_size every backend computes features; torch's body refuses one pixel less."""
    net = models.build_body(models.CHECK_WEIGHTS[body], on=backend)
    smallest = models.get_body(body).min_size
    try:
        features = models.forward_features(net, np.zeros((2, smallest, smallest, 3), np.float32))
        assert features.shape[0] == 2 and np.isfinite(features).all()
        if smallest > 1 and backend == "torch":
            with pytest.raises(Exception):
                models.forward_features(net, np.zeros((2, smallest - 1, smallest - 1, 3), np.float32))
    finally:
        workers.release(net)


@pytest.mark.parametrize("backend", ["torch", "keras_tf", "keras_torch", "keras_jax"])
def test_an_unknown_body_family_is_an_error_never_another_family(backend):
    """A body whose family a backend's FAMILIES table lacks is refused by name, not built as Lite0; every family
    of the spec is in the table (torch has no keras.applications bodies)."""
    message = workers.call_on(backend, "tests.worker_probe:build_unknown_family")
    assert "'vit_tiny'" in message and "'vit'" in message, message
    expected = set(models.FAMILIES) - ({"keras_applications"} if backend == "torch" else set())
    assert set(workers.call_on(backend, "tests.worker_probe:body_families")) == expected
