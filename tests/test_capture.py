"""`parity capture` on the acceptance programs of parity/examples/programs/ (fastai 2, Keras 3, plain PyTorch,
and the bad ones), the recipe file it writes, `recipes --diff` with provenance, and its parts: the static reading
of a program's text, the body shapes table, the post-import hooks. The thread's two programs are captured in
test_thread_scripts.py (Keras) and test_oracle_fastai_v1.py (fastai 1.0.61, with the diff and the bisect)."""

import json
import sys

import pytest

from parity.capture import bodies, imports, match
from parity.capture.program import loop_epochs, training_calls
from parity.cli.app import main
from parity.train import recipefiles, recipes
from thread_capture import PROGRAMS, captured, digest, image_tree


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    return image_tree(tmp_path_factory.mktemp("cifar"))


def _uncovered(recipe) -> dict:
    return dict(recipe.origin.uncovered)


def test_fastai2_fine_tune_is_captured_as_far_as_the_knobs_go(tree):
    recipe = captured("fastai2_fine_tune", tree)
    assert {k: recipe.knobs()[k] for k in ("framework", "decoder", "size", "resize", "norm", "body", "head", "init",
                                           "bn_policy", "optimizer", "lr", "loss", "batch_size", "epochs",
                                           "drop_last", "n_classes")} == {
        "framework": "torch", "decoder": "pil", "size": 224, "resize": "fastai_v2", "norm": "torch",
        "body": "resnet34", "head": "fastai_v2", "init": "kaiming_normal", "bn_policy": "train_bn",
        "optimizer": "fastai_v2_adam", "lr": (2e-3,), "loss": "ce_logits", "batch_size": 64, "epochs": 3,
        "drop_last": True, "n_classes": 10}
    assert recipe.origin.approximate == ("schedule",)
    assert set(_uncovered(recipe)) == {"augmentation", "fine_tune's second phase"}
    assert "Flip" in _uncovered(recipe)["augmentation"]
    assert recipe.origin.weights == ("ResNet34_Weights.IMAGENET1K_V1",)


def test_keras3_adamw_cosine_is_captured_with_its_schedule_and_smoothing_uncovered(tree):
    recipe = captured("keras_adamw_cosine", tree)
    assert {k: v for k, v in recipe.knobs().items() if k != "load_resize"} == {
        "framework": "keras_tf", "decoder": "tf_fast", "size": 64, "resize": "keras_resizing", "norm": "tf",
        "body": "resnet50v2_keras", "head": "linear", "init": "glorot_uniform", "bn_policy": "frozen",
        "optimizer": "keras_adamw", "lr": 1e-3, "schedule": "constant", "loss": "ce_logits", "batch_size": 32,
        "epochs": 10, "drop_last": False, "n_classes": 10, "load_size": None, "load_crop": "centre"}
    assert recipe.origin.approximate == ("lr", "schedule")
    assert set(_uncovered(recipe)) == {"schedule", "label smoothing"}
    assert "CosineDecay" in _uncovered(recipe)["schedule"] and "0.1" in _uncovered(recipe)["label smoothing"]


def test_a_plain_torch_program_is_captured_at_its_first_step(tree):
    recipe = captured("torch_onecycle", tree)
    assert {k: recipe.knobs()[k] for k in ("framework", "decoder", "size", "norm", "body", "head", "init",
                                           "bn_policy", "optimizer", "lr", "loss", "batch_size", "epochs",
                                           "drop_last", "n_classes")} == {
        "framework": "torch", "decoder": "pil", "size": 64, "norm": "torch", "body": "resnet50", "head": "linear",
        "init": "torch_default", "bn_policy": "stats_only", "optimizer": "torch_adam", "lr": 1e-3,
        "loss": "ce_logits", "batch_size": 64, "epochs": 3, "drop_last": False, "n_classes": 10}
    # torchvision's Resize on a PIL image is PIL's bilinear resize of the uint8 item: fastai 2's Resize, by pixels
    assert recipe.resize == "fastai_v2"
    assert "OneCycleLR" in _uncovered(recipe)["schedule"] and "pct_start 0.3" in _uncovered(recipe)["schedule"]
    assert recipe.origin.weights == ("ResNet50_Weights.IMAGENET1K_V2",)


BAD = {
    "never_trains": ("never trained: it ran to its end without a training call", None),
    "raises_before_training": ("raised before its first training call, at raises_before_training.py:9: "
                               "FileNotFoundError", "weights asked for (intercepted): ResNet18_Weights.IMAGENET1K_V1"),
    "trains_twice": ("trains more than once: it was stopped at model.fit(epochs=2) at trains_twice.py:18, and it "
                     "also trains at line 22 (model.fit())", "body        resnet50v2_keras"),
    "unmirrored_body": ("is no body parity mirrors; the closest is efficientnet_lite0", "optimizer   torch_adam"),
}


@pytest.mark.parametrize("name", BAD)
def test_bad_programs_are_clear_errors_with_no_output(name, tree, tmp_path, capsys):
    before = digest(PROGRAMS)
    out = tmp_path / "report"
    assert main(["capture", str(PROGRAMS / "bad" / f"{name}.py"), "--out", str(out), "--", str(tree)]) == 2
    err = capsys.readouterr().err
    message, partial = BAD[name]
    assert err.startswith("parity: error: program ") and message in err
    assert "Traceback" not in err
    assert ("PARTIAL capture" in err) == (partial is not None)
    if partial:
        assert partial in err
    assert not out.exists() and digest(PROGRAMS) == before


def test_a_program_that_is_not_one_is_refused_before_it_runs(tmp_path, capsys):
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    broken = tmp_path / "broken.py"
    broken.write_text("def f(:\n")
    for path, message in ((tmp_path / "missing.py", "does not exist"), (text, "is not a Python file"),
                          (broken, "is not valid Python: ")):
        assert main(["capture", str(path)]) == 2
        assert message in capsys.readouterr().err


def test_capture_writes_a_recipe_file_with_provenance_that_reads_back(tree, tmp_path, capsys):
    before = digest(PROGRAMS)
    assert main(["capture", str(PROGRAMS / "torch_onecycle.py"), "--out", str(tmp_path / "cap"), "--",
                 str(tree)]) == 0
    shown = capsys.readouterr().out
    assert "<- OneCycleLR(max_lr=0.001)" in shown and "Recipe: " in shown
    text = (tmp_path / "cap" / "recipe.toml").read_text()
    assert "# from: DataLoader(batch_size=64)" in text and "# from: APPROXIMATE, OneCycleLR(" in text
    recipe = recipefiles.load(tmp_path / "cap" / "recipe.toml")
    assert recipe.origin.source_of("batch_size") == "DataLoader(batch_size=64)"
    assert recipefiles.dumps(recipe) == text  # a captured file reads back to itself, provenance and all
    assert set(json.loads((tmp_path / "cap" / "results.json").read_text())["recipes_report"]["recipes"][0]["knobs"]) \
        == set(recipes.KNOBS)
    assert digest(PROGRAMS) == before


def test_recipes_diff_of_a_capture_and_a_built_in_names_each_side(tree, tmp_path, capsys):
    recipe = captured("torch_onecycle", tree)
    path = tmp_path / "torch_onecycle.toml"
    path.write_text(recipefiles.dumps(recipe))
    assert main(["recipes", "--diff", str(path), "torch_plain", "--out", str(tmp_path / "d")]) == 0
    shown = capsys.readouterr().out
    differ = recipes.diff(recipe, recipes.get_recipe("torch_plain"))
    assert list(differ) == ["resize", "bn_policy", "schedule"]
    assert f"differ in 3 knobs: {', '.join(differ)}" in shown
    assert "<- torch_onecycle: " + recipe.origin.source_of("bn_policy") in shown
    md = (tmp_path / "d" / "report.md").read_text()
    assert "| bn_policy | `stats_only` |" in md and "torch_onecycle: schedule: torch OneCycleLR" in md
    assert "an attribution between these recipes cannot cover them" in md


def test_recipe_files_refuse_a_malformed_capture_table(tmp_path):
    path = tmp_path / "r.toml"
    path.write_text('base = "fastai_v1_fit"\n[capture]\nprogram = 3\n')
    with pytest.raises(Exception, match="\\[capture\\] key 'program' takes a str, got 3"):
        recipefiles.load(path)


# --- the parts ----------------------------------------------------------------------------------------------

def test_training_calls_and_loops_are_read_from_the_text():
    source = ("import x\nlearn.fit(1)\nscaler.fit(data)\nfor e in range(N):\n    model.fit_one_cycle(1)\n"
              "N = 4\nfor epoch in range(5):\n    for b in dl:\n        opt.step()\n")
    assert training_calls(source) == [(2, "learn.fit", False), (3, "scaler.fit", False),
                                      (5, "model.fit_one_cycle", True)]
    assert loop_epochs(source, 9) == (5, 7)
    assert loop_epochs("epochs = 3\nfor e in range(epochs):\n    opt.step()\n", 3) == (3, 2)
    assert loop_epochs("for e in range(n()):\n    opt.step()\n", 2) is None


def test_the_body_shapes_table_is_measured_from_parity_s_bodies():
    doc = json.loads(bodies.SHAPES_FILE.read_text())
    assert doc == json.loads(json.dumps(bodies.measure()))
    for name in doc:  # each body is itself, and no other body has all its shapes
        shapes = bodies.signatures()[name]
        assert match.closest(shapes, bodies.signatures()) == (name, 1.0)


def test_canonical_shapes_put_torch_and_keras_layouts_together():
    torch_side = match.canonical_shapes([(64, 3, 7, 7), (10, 512), (64,)], "torch")
    keras_side = match.canonical_shapes([(7, 7, 3, 64), (512, 10), (64,)], "keras")
    assert torch_side == keras_side
    assert match.similarity(torch_side, match.canonical_shapes([(7, 7, 3, 64)], "keras")) == pytest.approx(1 / 3)


def test_a_lookup_does_not_use_up_a_post_import_hook(tmp_path, monkeypatch):
    """A library that only looks a module up (importlib.util.find_spec, as TensorFlow does with keras) must not
    use up the hook: it runs when the module is imported."""
    import importlib.util

    (tmp_path / "parity_hooked_mod.py").write_text("VALUE = 1\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    seen = []
    imports.when_imported("parity_hooked_mod", lambda m: seen.append(m.VALUE))
    assert importlib.util.find_spec("parity_hooked_mod") is not None and seen == []
    importlib.import_module("parity_hooked_mod")

    assert seen == [1]
    imports.when_imported("parity_hooked_mod", lambda m: seen.append(2))  # already imported: runs now
    assert seen == [1, 2]
    sys.modules.pop("parity_hooked_mod")
