"""`parity sweep`: parsing of --over and --bisect-at, the per-value summary and its sentences on known
numbers, and one end-to-end sweep over a data size with a bisect point, its report and a free rerun."""

import json
import math

import pytest

from parity.train import recipes
from parity.reports import sweep
from parity.cli.app import main
from parity.components.datasets import DataSpec
from parity.core.errors import ParityError


def test_parse_over_reads_knobs_and_data_sizes():
    assert sweep.parse_over("train_per_class=50,150,500") == ("train_per_class", (50, 150, 500))
    assert sweep.parse_over("epochs=1,3") == ("epochs", (1, 3))
    assert sweep.parse_over("lr=slice(3e-3),3e-3") == ("lr", ((3e-3,), 3e-3))
    assert sweep.parse_over("size=none,64") == ("size", (None, 64))


@pytest.mark.parametrize("text, message", [
    ("epochs", "--over wants KNOB=V1,V2"),
    ("epochs=3", "at least two values"),
    ("colour=1,2", "--over: recipe knob or data size 'colour' is not one of"),
    ("epochs=0,3", "knob epochs takes a positive integer, got 0"),
    ("train_per_class=10,-5", "--over train_per_class: every value must be a positive integer, got '-5'"),
    ("epochs=3,3", "lists a value twice"),
    ("optimizer=keras_adam,sgd", "optimizer 'sgd' is not one of"),
])
def test_parse_over_refuses_bad_values(text, message):
    with pytest.raises(ParityError, match=message.replace("(", r"\(").replace(")", r"\)")):
        sweep.parse_over(text)


def test_parse_at_takes_values_of_the_sweep():
    assert sweep.parse_at("150", "train_per_class", (50, 150)) == (150,)
    with pytest.raises(ParityError, match="--bisect-at '75' is not one of the --over train_per_class values: 50, 150"):
        sweep.parse_at("75", "train_per_class", (50, 150))


def _fake_sweep(gaps_per_value):
    """Two recipes, three seeds; recipe B's accuracy is A's plus the given gap (with a little seed noise)."""
    a, b = recipes.get_recipe("torch_plain"), recipes.get_recipe("keras_thread_64")
    sw = sweep.Sweep("train_per_class", tuple(range(10, 10 * len(gaps_per_value) + 1, 10)), (a, b), (0, 1, 2),
                     DataSpec("digits"))
    results = []
    for gap in gaps_per_value:
        base = [0.5, 0.52, 0.48]
        results += [{"accuracy": x} for x in base]
        results += [{"accuracy": x + gap + 0.002 * k} for k, x in enumerate(base)]
    return sw, results


def test_summary_pairs_seeds_and_says_where_the_sign_flips():
    sw, results = _fake_sweep([-0.10, -0.02, 0.05])
    s = sweep.summarise(sw, results)
    assert [p["label"] for p in s["points"]] == ["10", "20", "30"]
    gaps = [p["gap"]["keras_thread_64"]["mean"] for p in s["points"]]
    assert gaps == pytest.approx([-0.098, -0.018, 0.052])
    assert s["points"][0]["accuracy"]["torch_plain"]["mean"] == pytest.approx(0.5)
    assert "the sign flips (both CIs clear of zero) by train_per_class=30" in s["sentences"][0]


def test_summary_counts_diverged_runs_and_keeps_going():
    sw, results = _fake_sweep([0.1, 0.1])
    results[3]["accuracy"] = None
    s = sweep.summarise(sw, results)
    assert s["points"][0]["diverged"]["keras_thread_64"] == 1
    assert s["points"][0]["accuracy"]["keras_thread_64"]["n"] == 2
    assert not math.isnan(s["points"][0]["gap"]["keras_thread_64"]["mean"])


def test_requests_follow_value_recipe_seed_order():
    sw, _ = _fake_sweep([0.0, 0.0])
    reqs = sw.requests()
    assert [(r.name, seed, spec.train_per_class) for r, seed, spec in reqs[:4]] == [
        ("torch_plain", 0, 10), ("torch_plain", 1, 10), ("torch_plain", 2, 10), ("keras_thread_64", 0, 10)]
    knob = sweep.Sweep("epochs", (1, 2), sw.recipes, (0,), DataSpec("digits"))
    assert [(r.name, r.epochs) for r, _, _ in knob.requests()] == [("torch_plain", 1), ("keras_thread_64", 1),
                                                                   ("torch_plain", 2), ("keras_thread_64", 2)]


def test_cli_sweep_end_to_end_with_a_bisect_point_and_a_free_rerun(tmp_path, capsys):
    keras = tmp_path / "plain_keras.toml"
    keras.write_text('base = "torch_plain"\nname = "plain_keras"\nframework = "keras_tf"\n')
    argv = ["sweep", "--recipes", f"torch_plain,{keras}", "--over", "train_per_class=6,12", "--bisect-at", "12",
            "--seeds", "2", "--test-per-class", "8", "--quiet", "--store", str(tmp_path / "store")]
    assert main([*argv, "--out", str(tmp_path / "first")]) == 0
    out = capsys.readouterr().out
    assert out.startswith("plain_keras - torch_plain: ")
    assert "8 runs trained, 4 read from the store" in out  # the bisect at 12 reuses the sweep's runs
    files = {p.name for p in (tmp_path / "first").iterdir()}
    assert {"report.md", "report.html", "results.json", "sweep.png", "shapley_along.png"} <= files
    result = json.loads((tmp_path / "first" / "results.json").read_text())
    s = result["sweep"]
    assert result["kind"] == "sweep" and s["over"] == "train_per_class" and s["values"] == ["6", "12"]
    assert [p["value"] for p in s["points"]] == [6, 12] and s["recipes"] == ["torch_plain", "plain_keras"]
    assert s["bisects"][0]["at"] == "12" and list(s["shapley_along"]["factors"]) == ["framework"]
    assert all(p["accuracy"][n]["n"] == 2 for p in s["points"] for n in s["recipes"])
    assert main([*argv, "--out", str(tmp_path / "again")]) == 0
    assert "0 runs trained, 12 read from the store" in capsys.readouterr().out


def test_cli_sweep_checks_everything_before_running(tmp_path, capsys):
    base = ["sweep", "--recipes", "torch_plain", "--store", str(tmp_path / "store"), "--out", str(tmp_path / "rep")]
    assert main([*base, "--over", "train_per_class=6,12", "--train-per-class", "6"]) == 2
    assert "--over train_per_class sweeps what --train-per-class sets" in capsys.readouterr().err
    assert main([*base, "--over", "epochs=1,2", "--bisect-at", "2"]) == 2
    assert "--bisect-at attributes the gap between the first two --recipes" in capsys.readouterr().err
    assert main([*base, "--over", "n_classes=10,7"]) == 2
    assert "class count mismatch" in capsys.readouterr().err
    assert not (tmp_path / "rep").exists() and not (tmp_path / "store").exists()
