"""Training runs end to end on small digits: the feature cache, the result store, diverged runs, recipes
and the training commands of the CLI with their bad-input errors."""

import json

import numpy as np
import pytest
from PIL import Image

from parity.components import classifier, datasets
from parity.train import recipes, runner, training
from parity.runtime import workers
from parity.cli.app import main
from parity.train.store import ResultStore

TINY = datasets.DataSpec("digits", train_per_class=12, test_per_class=8)
BODY = "efficientnet_lite0"


@pytest.mark.parametrize("framework", ["torch", "keras_tf", "keras_torch", "keras_jax"])
def test_feature_cache_agrees_with_the_whole_model_within_float32_noise(framework):
    """The run that makes the features (whole model built) and a run on them (the head built alone) are one
    computation: equal bit for bit on any CPU. The run without the cache computes the frozen body over other
    batches, which some CPUs' kernels round differently: its logits agree within the cache_f32 tolerance and
    it predicts the same class for every image whose top-2 margin is above it (the store shares their key)."""
    from parity.check.tolerances import get_tolerance

    recipe = recipes.with_knobs(recipes.get_recipe("keras_thread_64"), framework=framework, epochs=2)
    spec = datasets.DataSpec("digits", train_per_class=4, test_per_class=4)  # TINY's third: keras_torch took 10 s
    workers.call_on(framework, "parity.train.training:forget_here")
    made = runner.run(recipe, spec, 3, BODY, use_cache=True, keep_logits=True)
    reused = runner.run(recipe, spec, 3, BODY, use_cache=True, keep_logits=True)
    direct = runner.run(recipe, spec, 3, BODY, use_cache=False, keep_logits=True)
    assert made["cached_features"] and reused["cached_features"] and not direct["cached_features"]
    assert made["body_built"] and not reused["body_built"] and direct["body_built"]
    np.testing.assert_array_equal(made["logits"], reused["logits"])
    assert made["final_loss"] == reused["final_loss"] and made["accuracy"] == reused["accuracy"]
    tol = get_tolerance("cache_f32").max_abs * np.abs(direct["logits"]).max()
    np.testing.assert_allclose(made["logits"], direct["logits"], rtol=0, atol=tol)
    top2 = np.sort(direct["logits"], axis=1)[:, -2:]
    clear = top2[:, 1] - top2[:, 0] > 2 * tol  # a near-tie may flip within the noise
    assert clear.mean() > 0.9
    np.testing.assert_array_equal(made["logits"].argmax(1)[clear], direct["logits"].argmax(1)[clear])
    assert made["final_loss"] == pytest.approx(direct["final_loss"], rel=get_tolerance("cache_f32").max_abs)


def test_train_bn_is_never_served_from_the_cache():
    assert not training.cacheable(recipes.get_recipe("fastai_v1_fit"))
    assert training.cacheable(recipes.get_recipe("keras_thread"))


def test_nan_loss_is_recorded_as_diverged():
    recipe = recipes.with_knobs(recipes.get_recipe("torch_plain"), lr=1e36, epochs=4)
    result = runner.run(recipe, TINY, 0, BODY)
    assert result["diverged"] and result["accuracy"] is None
    assert result["steps"] < 4 * 2


def test_store_resumes_without_retraining(tmp_path):
    recipe = recipes.with_knobs(recipes.get_recipe("torch_plain"), epochs=1)
    first = runner.Runner(TINY, BODY, ResultStore(tmp_path), progress=False)
    done = first(recipe, 0)
    second = runner.Runner(TINY, BODY, ResultStore(tmp_path), progress=False)
    again = second(recipes.with_knobs(recipe, name="renamed"), 0)  # same knobs: same run
    assert second.trained == 0 and again["accuracy"] == done["accuracy"]
    assert [p.suffix for p in tmp_path.iterdir()] == [".json"]  # no temporary files left behind
    assert json.loads(next(tmp_path.iterdir()).read_text())["identity"]["seed"] == 0
    assert runner.Runner(TINY, BODY, ResultStore(tmp_path), progress=False)(recipe, 1) is not None


def test_recipes_are_complete_and_diff_names_knobs():
    for name in ("fastai_v1_fit", "fastai_v1_fit_lr003", "fastai_v1_nosize", "keras_thread", "keras_matched",
                 "fastai_v2_default", "torch_plain"):
        assert set(recipes.get_recipe(name).knobs()) == set(recipes.KNOBS)
    assert recipes.diff(recipes.get_recipe("fastai_v1_fit"), recipes.get_recipe("fastai_v1_fit_lr003")) == {
        "lr": ((3e-3,), 3e-3)}
    assert recipes.diff(recipes.get_recipe("fastai_v1_fit"), recipes.get_recipe("keras_matched")) == {
        "framework": ("torch", "keras_tf")}


def test_cli_recipes_and_diff(capsys):
    assert main(["recipes"]) == 0
    assert "keras_thread" in capsys.readouterr().out
    assert main(["recipes", "--diff", "fastai_v1_fit", "fastai_v1_nosize"]) == 0
    assert "size  64  ->  None" in capsys.readouterr().out


@pytest.mark.parametrize("argv, message", [
    (["train", "--recipe", "fastai_v3"], "recipe 'fastai_v3' is not one of"),
    (["train", "--recipe", "torch_plain", "--set", "colour=red"], "recipe knob 'colour' is not one of"),
    (["train", "--recipe", "torch_plain", "--set", "optimizer=sgd"], "optimizer 'sgd' is not one of"),
    (["train", "--recipe", "torch_plain", "--set", "epochs=0"], "knob epochs takes a positive integer, got 0"),
    (["train", "--recipe", "torch_plain", "--seeds", "x"], "--seeds must be"),
    (["bisect", "--from", "torch_plain", "--to", "torch_plain"], "have the same knobs"),
    (["train", "--recipe", "torch_plain", "--data-dir", "/nonexistent/cifar"], "does not exist"),
])
def test_bad_input_exits_2_with_a_clear_message(argv, message, tmp_path, capsys):
    assert main([*argv, "--no-store", "--out", str(tmp_path / "rep")]) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "rep").exists()


def test_class_count_mismatch_is_refused(tmp_path, capsys):
    for split in ("train", "test"):
        for c in ("a", "b", "c"):
            (tmp_path / "data" / split / c).mkdir(parents=True)
            Image.fromarray(np.full((8, 8, 3), 100, np.uint8)).save(tmp_path / "data" / split / c / "0.png")
    code = main(["train", "--recipe", "torch_plain", "--data-dir", str(tmp_path / "data"), "--no-store",
                 "--seeds", "1", "--out", str(tmp_path / "rep")])
    assert code == 2
    err = capsys.readouterr().err
    assert "class count mismatch" in err and "has 3 classes" in err and "expects 10" in err
    assert "--set n_classes=3" in err
    assert not (tmp_path / "rep").exists()


def test_cli_train_prints_seeds_and_ci_and_writes_a_report(tmp_path, capsys):
    out = tmp_path / "rep"
    assert main(["train", "--recipe", "torch_plain", "--set", "epochs=1", "--seeds", "2", "--train-per-class",
                 "12", "--test-per-class", "8", "--quiet", "--store", str(tmp_path / "store"), "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "seed 0:" in text and "seed 1:" in text and "95% CI" in text
    assert {p.name for p in out.iterdir()} == {"report.md", "report.html", "results.json", ".parity-report.json"}
    assert main(["train", "--recipe", "torch_plain", "--set", "epochs=1", "--seeds", "2", "--train-per-class",
                 "12", "--test-per-class", "8", "--quiet", "--store", str(tmp_path / "store"), "--out", str(out)]) == 0
    assert "0 runs trained, 2 read from the store" in capsys.readouterr().out


def test_cli_bisect_end_to_end_and_free_rerun(tmp_path, capsys):
    argv = ["bisect", "--from", "fastai_v1_fit", "--to", "fastai_v1_fit_lr003", "--seeds", "2", "--train-per-class",
            "12", "--test-per-class", "8", "--quiet", "--store", str(tmp_path / "store"), "--set-from", "epochs=1",
            "--set-to", "epochs=1"]  # one epoch: four train_bn runs, not a study
    assert main([*argv, "--out", str(tmp_path / "first")]) == 0
    first = capsys.readouterr().out
    assert first.startswith("Going from fastai_v1_fit")
    assert "4 runs trained, 0 read from the store" in first
    assert {p.name for p in (tmp_path / "first").iterdir()} == {"report.md", "report.html", "results.json",
                                                                "waterfall.png", ".parity-report.json"}
    result = json.loads((tmp_path / "first" / "results.json").read_text())["bisect"]
    assert result["factors"] == ["lr"] and result["runs"] == 4
    assert main([*argv, "--out", str(tmp_path / "again")]) == 0
    assert "0 runs trained, 4 read from the store" in capsys.readouterr().out


def test_unknown_bisect_method_is_refused(tmp_path, capsys):
    assert main(["bisect", "--from", "fastai_v1_fit", "--to", "fastai_v1_fit_lr003", "--methods", "magic",
                 "--no-store", "--out", str(tmp_path / "rep")]) == 2
    assert "bisect method 'magic' is not one of" in capsys.readouterr().err
    assert not (tmp_path / "rep").exists()


@pytest.mark.parametrize("shape, most, expected", [((500, 32, 32, 3), 128, 128), ((500, 64, 64, 3), 128, 128),
                                                   ((500, 224, 224, 3), 128, 10), ((500, 224, 224, 3), 64, 10),
                                                   ((500, 7, 7, 1280), 64, 64), ((1, 4096, 4096, 3), 128, 1)])
def test_inference_chunks_are_sized_by_pixels(shape, most, expected):
    """Keras keeps every layer's output of an eager call until it returns: 128 Lite0 images at 224 px took
    13 GB and the thread session's Keras worker was killed for memory; chunks now hold <= 128 x 64 x 64 pixels."""
    assert classifier.images_per_chunk(np.zeros((1, *shape[1:]), np.uint8), most) == expected


def test_traced_keras_training_equals_eager_bit_for_bit(monkeypatch):
    """Runs of _TRACE_FROM_STEPS steps or more trace the forward/backward and the optimizer update: the same
    kernels as eager calls (Grappler's rewrites are off), so the same weights to the last bit."""
    import importlib

    from parity.components import optim

    keras_classifier = importlib.import_module("keras_impl.classifier")
    torch_state = importlib.import_module("torch_impl.classifier").model_state(
        importlib.import_module("torch_impl.classifier").build_model("resnet18", "fastai_v1", 3, None, False, 0))
    rng = np.random.default_rng(0)
    batches = [(rng.standard_normal((4, 32, 32, 3), dtype=np.float32), rng.integers(0, 3, 4)) for _ in range(3)]
    lrs = [[1e-3 * (i + 1), 2e-3, 1e-2] for i in range(3)]

    def train(trace_from: int) -> tuple:
        monkeypatch.setattr(keras_classifier, "_TRACE_FROM_STEPS", trace_from)
        model = keras_classifier.build_model("resnet18", "fastai_v1", 3, None, False, 0)
        keras_classifier.load_model_state(model, torch_state)
        groups = {name: optim.layer_group(name, 3) for name in keras_classifier.model_state(model)}
        losses = keras_classifier.train_steps(model, batches, "fastai_v1_adamw_l2", lrs, "train_bn", groups)
        return losses, keras_classifier.model_state(model)

    eager, traced = train(len(lrs) + 1), train(1)
    np.testing.assert_array_equal(eager[0], traced[0])
    assert traced[1]["head.4.weight"].tolist() != torch_state["head.4.weight"].tolist()  # it trained
    for name, value in eager[1].items():
        np.testing.assert_array_equal(value, traced[1][name], err_msg=name)
