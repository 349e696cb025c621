"""Multi-fidelity attribution (parity.train.fidelity): the screen runs at the lower fidelity only, the leading
factors are confirmed at full size with the full design's Shapley values, a factor whose sign differs between
fidelities is flagged, what the unconfirmed factors do at full size is measured, and bad --screen-at values are
refused before any run (unit level on synthetic accuracy models; one real bisect on the digits)."""

import json
import re

import numpy as np
import pytest

from parity.components.datasets import DataSpec
from parity.core.errors import ParityError
from parity.train import fidelity, recipes
from parity.train.bisect import Bisection, factors, run_bisect
from parity.train.budget import run_budgeted

A, B = recipes.get_recipe("fastai_v1_fit"), recipes.get_recipe("keras_thread_64")
FULL = {"bn_policy": 0.30, "optimizer": -0.05, "lr": 0.06, "head": 0.0, "init": 0.0, "loss": 0.0, "norm": 0.0}
# at the screen's fidelity (1 epoch): lr points the other way, and init's effect is larger than it is at full size
LOW = {**FULL, "lr": -0.08, "init": 0.04}


class Model:
    """Accuracy from the switched factors, by fidelity (a recipe's epochs); every call counted."""

    def __init__(self, noise: float = 0.0, full=FULL, low=LOW):
        self.noise, self.full, self.low, self.calls = noise, full, low, []

    def __call__(self, recipe, seed):
        effects = self.low if recipe.epochs == 1 else self.full
        self.calls.append((recipe.epochs, recipes.fingerprint(recipe), seed))
        switched = {k for k in effects if getattr(recipe, k) == getattr(B, k)}
        rng = np.random.default_rng([seed, int(recipes.fingerprint(recipe), 16) % 2**32])
        return {"accuracy": 0.4 + sum(effects[k] for k in switched) + self.noise * rng.standard_normal(),
                "diverged": False, "seconds": 1.0 if effects is self.low else 3.0}


def pair(model, seeds=(0, 1, 2)):
    full = Bisection(A, B, factors(A, B, list(FULL)), list(seeds), model)
    low = Bisection(recipes.with_knobs(A, epochs=1), recipes.with_knobs(B, epochs=1), list(full.factors),
                    list(seeds), model)
    return full, low


def test_the_screen_runs_at_the_lower_fidelity_and_the_leaders_are_confirmed_at_full_size():
    model = Model()
    full, low = pair(model)
    result = run_budgeted(full, None, low=low, confirm=3)
    b = result["budget"]
    # the screen's largest effects: bn_policy 0.30, lr -0.08, optimizer -0.05 (init's 0.04 is not carried)
    assert sorted(b["active"]) == ["bn_policy", "lr", "optimizer"] and "init" in b["screened_out"]
    assert b["screen_runs"] == 3 * (2 * 7 + 2) == sum(1 for e, _, _ in model.calls if e == 1)
    assert b["runs"] == 3 * (2 ** 3 + 1) == sum(1 for e, _, _ in model.calls if e != 1)  # + B's end, at full size
    reference = run_bisect(Bisection(A, B, list(full.factors), [0, 1, 2], Model()), methods=("shapley",))
    for f in b["active"]:
        assert result["shapley"]["factors"][f]["value"]["mean"] == pytest.approx(
            reference["shapley"]["factors"][f]["value"]["mean"], abs=1e-12)
    assert b["screened_joint"]["mean"] == pytest.approx(0.0, abs=1e-12)  # init does nothing at full size


def test_a_sign_change_between_fidelities_is_flagged_in_the_result_and_the_report(tmp_path):
    from parity.reports import attribution

    full, low = pair(Model())
    result = run_budgeted(full, None, low=low, confirm=3)
    spec, low_spec = DataSpec("digits", None, 20, 10), DataSpec("digits", None, 20, 10)
    fidelity.record(result, fidelity.Fidelity(epochs=1), spec, low_spec, A.epochs)
    fid = result["fidelity"]
    assert fid["sign_changes"] == ["lr"] and fid["factors"]["lr"]["clear"]
    assert fid["factors"]["lr"]["screen"]["mean"] == pytest.approx(-0.08)
    assert fid["factors"]["lr"]["full"]["mean"] == pytest.approx(0.06)
    assert not fid["factors"]["bn_policy"]["sign_change"] and not fid["factors"]["init"]["confirmed"]
    assert "the sign changes between fidelities for: lr" in result["answer"]
    out = attribution.write(tmp_path / "r", "bisect", "parity bisect (screened, synthetic)", {
        "bisect": result, "notes": [], "verdict": {"ok": None, "text": result["answer"]}, "data": {"source": "test"},
        "body": "none", "seeds": result["seeds"], "versions": {"python": "3"}})
    md, html = (out / "report.md").read_text(), (out / "report.html").read_text()
    row = next(line for line in md.splitlines() if line.startswith("| lr | -8.00"))
    assert "+6.00" in row and "**changes (both CIs clear of zero)**" in row
    assert "### Two fidelities" in md and "1 epochs" in md
    assert 'id="fidelity-table"' in html and "changes (both clear of zero)" in html


def test_the_answer_states_its_run_time_against_the_full_designs_estimate(tmp_path):
    """A screening run takes 1 s, a full-size run 3 s: the budget record sums each, estimates the full design at
    its run count x 3 s, and the answer, report.md and report.html say the share."""
    from parity.reports import attribution

    full, low = pair(Model())
    result = run_budgeted(full, None, low=low, confirm=3)
    b = result["budget"]
    assert (b["seconds"], b["screen_seconds"]) == (3.0 * b["runs"], 1.0 * b["screen_runs"]) == (81.0, 48.0)
    assert b["full_design_seconds"] == 3.0 * b["full_design_runs"] == 3.0 * 384
    clause = ("run time 129 s (48 s of it screening), 11% of the full design's estimated 1152 s (its runs at this "
              "answer's mean full-size run)")
    assert clause in result["answer"]
    out = attribution.write(tmp_path / "r", "bisect", "parity bisect (screened, synthetic)", {
        "bisect": result, "notes": [], "verdict": {"ok": None, "text": result["answer"]}, "data": {"source": "test"},
        "body": "none", "seeds": result["seeds"], "versions": {"python": "3"}})
    budget_md = (out / "report.md").read_text().split("### Budget")[1]
    budget_html = (out / "report.html").read_text().split('id="budget"')[1].split("</p>")[0]
    assert clause in budget_md and clause.replace("'", "&#39;") in budget_html


def test_a_factor_that_matters_only_at_full_size_shows_in_the_measured_remainder():
    """A screen can miss a factor; the gap the confirmed factors leave is measured at full size, not assumed."""
    full, low = pair(Model(full={**FULL, "head": 0.10}))
    b = run_budgeted(full, None, low=low, confirm=3)["budget"]
    assert "head" in b["screened_out"]
    assert b["screened_joint"]["mean"] == pytest.approx(0.10)


@pytest.mark.parametrize("text, message", [
    ("epochs=0", "--screen-at epochs must be at least 1, got 0"),
    ("epoch=1", "--screen-at takes train_per_class=N, test_per_class=N, epochs=N; got 'epoch=1'"),
    ("epochs=one", "--screen-at epochs must be a whole number, got 'one'"),
    ("epochs=1,epochs=2", "--screen-at sets epochs twice"),
    (",", "--screen-at names no fidelity"),
])
def test_bad_screen_at_values_are_named(text, message):
    with pytest.raises(ParityError, match=re.escape(message)):
        fidelity.parse_screen_at(text)


def test_a_screen_that_is_not_cheaper_or_changes_a_factor_is_refused():
    spec, chosen, epochs = DataSpec("digits", None, 20, 10), factors(A, B, list(FULL)), {A.name: 3, B.name: 3}
    with pytest.raises(ParityError, match="--screen-at train_per_class=20 is not below the full size's 20"):
        fidelity.check(fidelity.parse_screen_at("train_per_class=20"), spec, chosen, epochs)
    with pytest.raises(ParityError, match="--screen-at epochs=3 is not below the recipes' 3 epochs"):
        fidelity.check(fidelity.parse_screen_at("epochs=3"), spec, chosen, epochs)
    with pytest.raises(ParityError, match="test_per_class alone does not make training cheaper"):
        fidelity.check(fidelity.parse_screen_at("test_per_class=5"), spec, chosen, epochs)
    with pytest.raises(ParityError, match=r"epochs is a factor of this bisect \(3 -> 6\)"):
        fidelity.check(fidelity.parse_screen_at("epochs=1"), spec, ["epochs"], {A.name: 3, "six": 6})
    low = fidelity.check(fidelity.parse_screen_at("train_per_class=5,epochs=1"), spec, chosen, epochs)
    assert (low.train_per_class, low.test_per_class) == (5, 10)
    assert [r.epochs for r in fidelity.ends(A, B, fidelity.Fidelity(epochs=1))] == [1, 1]


def run_cli(argv, capsys) -> tuple[int, str]:
    from parity.cli.app import main

    code = main(argv)
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def test_a_screened_bisect_on_the_digits(tmp_path, capsys):
    """The command end to end: the screen at 10 images per class and 1 epoch, one factor confirmed at 20 per class
    and 3 epochs; results.json holds both fidelities and every run is counted once."""
    out = tmp_path / "r"
    code, text = run_cli(["bisect", "--from", "fastai_v1_fit", "--to", "keras_thread_64", "--factors",
                          "optimizer,lr", "--train-per-class", "20", "--test-per-class", "10", "--seeds", "3",
                          "--screen-at", "train_per_class=10,epochs=1", "--confirm", "1", "--no-store", "--quiet",
                          "--out", str(out)], capsys)
    assert code == 0, text
    result = json.loads((out / "results.json").read_text())["bisect"]
    fid, b = result["fidelity"], result["budget"]
    assert fid["screen"] == {"train_per_class": 10, "test_per_class": 10, "epochs": 1}
    assert fid["full"] == {"train_per_class": 20, "test_per_class": 10, "epochs": 3}
    assert b["screen_runs"] == 4 * 3 and len(b["active"]) == 1
    assert b["runs"] == 3 * 3  # none, the confirmed factor alone, everything
    assert "Screened at train_per_class=10, epochs=1" in result["answer"] and "Screened at" in text
    assert b["seconds"] > 0 and b["screen_seconds"] > 0 and b["full_design_seconds"] > b["seconds"]
    assert "% of the full design's estimated" in result["answer"]
    assert "### Two fidelities" in (out / "report.md").read_text()


@pytest.mark.parametrize("extra, message", [
    (["--screen-at", "train_per_class=20"], "--screen-at train_per_class=20 is not below the full size's 20"),
    (["--screen-at", "epochs=1", "--methods", "oat"], "they take no --methods"),
    (["--confirm", "2"], "--confirm 2 caps the factors a screen carries to full size"),
    (["--screen-at", "train_per_class=10", "--confirm", "0"], "--confirm"),
])
def test_bad_screened_bisects_are_refused_before_any_run(tmp_path, capsys, extra, message):
    out = tmp_path / "r"
    code, text = run_cli(["bisect", "--from", "fastai_v1_fit", "--to", "keras_thread_64", "--factors",
                          "optimizer,lr", "--train-per-class", "20", "--test-per-class", "10", "--seeds", "3",
                          "--no-store", "--quiet", "--out", str(out), *extra], capsys)
    assert code == 2 and message in text and not out.exists()
