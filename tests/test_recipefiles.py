"""Recipes as TOML files: the shipped examples, round trips of every built-in recipe, store keys shared with
built-in names, every kind of bad file refused with the file, key and value named, and a bisect between two
files that reproduces the built-in bisect from the store."""

import json

import pytest

from parity.train import recipefiles, recipes
from parity.cli.app import main
from parity.components.datasets import DataSpec
from parity.train.runner import run_identity
from parity.train.store import run_key

EXAMPLES = recipefiles.EXAMPLES_DIR
QUICK = ["--seeds", "1", "--train-per-class", "12", "--test-per-class", "8", "--quiet"]


@pytest.mark.parametrize("path", recipefiles.examples(), ids=lambda p: p.name)
def test_every_shipped_example_loads(path):
    recipe = recipefiles.load(path)
    assert recipe.name == path.stem and recipe.source


@pytest.mark.parametrize("file, name", [("thread_fastai.toml", "fastai_v1_fit"),
                                        ("thread_keras_64.toml", "keras_thread_64")])
def test_a_file_and_a_name_with_the_same_knobs_share_store_keys(file, name):
    from_file, built_in = recipefiles.load(EXAMPLES / file), recipes.get_recipe(name)
    assert from_file.name != built_in.name and from_file.knobs() == built_in.knobs()
    spec = DataSpec("digits", train_per_class=12, test_per_class=8)
    keys = [run_key(run_identity(r, spec, 0, "efficientnet_lite0", {"torch": "x"})) for r in (from_file, built_in)]
    assert keys[0] == keys[1]


def test_knobs_added_later_keep_old_store_keys():
    recipe = recipes.get_recipe("fastai_v1_fit")
    assert "load_size" not in recipes.identity_knobs(recipe)
    moved = recipes.with_knobs(recipe, load_size=64)
    assert recipes.identity_knobs(moved)["load_size"] == 64
    assert recipes.fingerprint(moved) != recipes.fingerprint(recipe)


@pytest.mark.parametrize("name", list(recipes.RECIPES))
def test_every_built_in_recipe_round_trips_through_toml(name, tmp_path):
    recipe = recipes.get_recipe(name)
    path = tmp_path / f"{name}.toml"
    path.write_text(recipefiles.dumps(recipe))
    assert recipefiles.load(path) == recipe


def test_recipes_show_toml_is_a_file_to_start_from(tmp_path, capsys):
    assert main(["recipes", "--show", "keras_thread_64", "--format", "toml"]) == 0
    path = tmp_path / "mine.toml"
    path.write_text(capsys.readouterr().out)
    assert recipefiles.load(path) == recipes.get_recipe("keras_thread_64")
    assert main(["recipes", "--show", str(EXAMPLES / "keras_port_fastai_lr.toml")]) == 0
    out = capsys.readouterr().out
    assert "slice(0.003)" in out and "train_bn" in out


def test_base_is_inherited_and_relative_to_the_file():
    port = recipefiles.load(EXAMPLES / "keras_port_fastai_lr.toml")
    keras = recipefiles.load(EXAMPLES / "thread_keras_64.toml")
    assert recipes.diff(keras, port) == {"bn_policy": ("frozen", "train_bn"), "lr": (3e-3, (3e-3,))}


BAD_FILES = [
    ("colour = \"red\"", "key 'colour' is not one of"),
    ("epochs = \"three\"", "key 'epochs': knob epochs takes a positive integer, got 'three'"),
    ("optimizer = \"sgd\"", "key 'optimizer': optimizer 'sgd' is not one of"),
    ("lr = [1e-3, 2e-3, 3e-3]", "key 'lr': knob lr takes"),
    ("lr = \"slice(abc)\"", "key 'lr': knob lr takes"),
    ("size = -64", "key 'size': knob size takes a positive integer, or none"),
    ("batch_size = 0", "key 'batch_size': knob batch_size takes a positive integer, got 0"),
    ("drop_last = \"yes\"", "key 'drop_last': knob drop_last takes true or false, got 'yes'"),
    ("name = 3", "key 'name' takes a string, got 3"),
    ("base = \"nowhere.toml\"", "key 'base': recipe file"),
    ("base = \"fastai_v9\"", "key 'base': recipe 'fastai_v9' is not one of"),
    ("epochs = ", "is not valid TOML"),
]


@pytest.mark.parametrize("line, message", BAD_FILES, ids=[b[0] for b in BAD_FILES])
def test_a_bad_recipe_file_exits_2_naming_file_key_and_value(line, message, tmp_path, capsys):
    path = tmp_path / "bad.toml"
    body = line if line.startswith("base") else f'base = "torch_plain"\n{line}'
    path.write_text(body + "\n")
    out = tmp_path / "rep"
    assert main(["train", "--recipe", str(path), "--store", str(tmp_path / "store"), "--out", str(out), *QUICK]) == 2
    err = capsys.readouterr().err
    assert str(path) in err and message in err, err
    assert not out.exists() and not (tmp_path / "store").exists()


def test_a_file_without_base_must_set_every_knob(tmp_path, capsys):
    path = tmp_path / "partial.toml"
    path.write_text('framework = "torch"\n')
    assert main(["train", "--recipe", str(path), "--no-store", "--out", str(tmp_path / "rep"), *QUICK]) == 2
    assert "without `base` every knob must be set; missing: decoder" in capsys.readouterr().err


def test_a_class_count_mismatch_in_a_file_is_refused_before_any_run(tmp_path, capsys):
    path = tmp_path / "five.toml"
    path.write_text('base = "torch_plain"\nn_classes = 5\n')
    assert main(["train", "--recipe", str(path), "--store", str(tmp_path / "store"), "--out", str(tmp_path / "rep"),
                 *QUICK]) == 2
    err = capsys.readouterr().err
    assert str(path) in err and "class count mismatch" in err and "expects 5" in err and "n_classes" in err
    assert not (tmp_path / "rep").exists() and not list((tmp_path / "store").glob("**/*.json"))


def test_base_cycles_are_refused(tmp_path, capsys):
    (tmp_path / "a.toml").write_text('base = "b.toml"\n')
    (tmp_path / "b.toml").write_text('base = "a.toml"\n')
    assert main(["recipes", "--show", str(tmp_path / "a.toml")]) == 2
    assert "base files form a cycle" in capsys.readouterr().err


def test_bisect_between_files_reproduces_the_built_in_bisect_from_the_store(tmp_path, capsys):
    """Two files differing in three knobs, against the built-in recipe with --set-from / --set-to."""
    (tmp_path / "a.toml").write_text('base = "fastai_v1_fit"\nname = "mine_a"\nepochs = 1\n')
    (tmp_path / "b.toml").write_text('base = "a.toml"\nname = "mine_b"\nbn_policy = "frozen"\n'
                                     'optimizer = "keras_adam"\nlr = 3e-3\n')
    common = ["--methods", "oat,shapley", "--store", str(tmp_path / "store"), *QUICK]
    assert main(["bisect", "--from", "fastai_v1_fit", "--set-from", "epochs=1", "--to", "fastai_v1_fit",
                 "--set-to", "epochs=1", "--set-to", "bn_policy=frozen", "--set-to", "optimizer=keras_adam",
                 "--set-to", "lr=0.003", "--out", str(tmp_path / "built_in"), *common]) == 0
    assert "8 runs trained, 0 read from the store" in capsys.readouterr().out
    assert main(["bisect", "--from", str(tmp_path / "a.toml"), "--to", str(tmp_path / "b.toml"),
                 "--out", str(tmp_path / "files"), *common]) == 0
    assert "0 runs trained, 8 read from the store" in capsys.readouterr().out
    built_in, files = (json.loads((tmp_path / d / "results.json").read_text())["bisect"]
                       for d in ("built_in", "files"))
    assert files["from"] == "mine_a" and files["to"] == "mine_b"
    assert sorted(files["factors"]) == ["bn_policy", "lr", "optimizer"]
    for key in ("factors", "gap", "accuracy_from", "accuracy_to", "oat", "shapley"):
        assert files[key] == built_in[key], key
