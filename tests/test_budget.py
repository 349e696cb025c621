"""The budgeted bisect (parity.train.budget) on synthetic accuracy models with known answers: what the screen
leaves out, that the active factors' Shapley values are the full design's, that seeds are added only while a
decision is open, the stop reasons, and that a budgeted run completes into the full design from its runs."""

import numpy as np
import pytest

from parity.core.errors import ParityError
from parity.train import recipes
from parity.train.bisect import Bisection, factors, run_bisect
from parity.train.budget import full_design_runs, run_budgeted, screen_runs

A, B = recipes.get_recipe("fastai_v1_fit"), recipes.get_recipe("keras_thread_64")
EFFECT = {"bn_policy": 0.30, "optimizer": -0.05, "lr": 0.06, "head": 0.0, "init": 0.0, "loss": 0.0, "norm": 0.0}
PAIR = ("bn_policy", "lr")


def accuracy(recipe, seed, noise: float) -> float:
    switched = {k for k in EFFECT if getattr(recipe, k) == getattr(B, k)}
    acc = 0.4 + sum(EFFECT[k] for k in switched) + (0.02 if set(PAIR) <= switched else 0.0)
    rng = np.random.default_rng([seed, int(recipes.fingerprint(recipe), 16) % 2**32])
    return acc + noise * rng.standard_normal()


class Counting:
    """An evaluator that counts each (recipe, seed) it is asked for: the store of a real run."""

    def __init__(self, noise: float = 0.0):
        self.noise, self.calls = noise, []

    def __call__(self, recipe, seed):
        self.calls.append((recipes.fingerprint(recipe), seed))
        return {"accuracy": accuracy(recipe, seed, self.noise), "diverged": False}


def make(evaluate, seeds=(0, 1, 2)):
    return Bisection(A, B, factors(A, B, list(EFFECT)), list(seeds), evaluate)


def test_the_screen_leaves_out_the_clearly_zero_factors_and_shapley_matches_the_full_design():
    result = run_budgeted(make(Counting()), budget=10_000)
    b = result["budget"]
    assert sorted(b["screened_out"]) == ["head", "init", "loss", "norm"]
    assert sorted(b["active"]) == ["bn_policy", "lr", "optimizer"]
    full = run_bisect(make(Counting()), methods=("shapley",))["shapley"]["factors"]
    for f in b["active"]:
        assert result["shapley"]["factors"][f]["value"]["mean"] == pytest.approx(full[f]["value"]["mean"], abs=1e-12)
    assert b["screened_joint"]["mean"] == pytest.approx(0.0, abs=1e-12)
    assert b["stopped"] == "every decision is made" and len(b["seeds_used"]) == 3
    # the screen (16 configurations), then the 4 of the active factors' 8 the screen did not make, on 3 seeds
    assert b["runs"] == 3 * (2 * 7 + 2) + 3 * 4 == 60
    assert b["full_design_runs"] == 2 ** 7 * 3 and b["runs"] <= b["full_design_runs"] / 3
    assert "Budgeted: " in result["answer"] and "bn_policy" in result["answer"]
    assert "run time" not in result["answer"] and "full_design_seconds" not in b  # these runs recorded no time


def test_seeds_are_added_only_while_a_decision_is_open():
    quiet = run_budgeted(make(Counting(noise=0.005), seeds=range(8)), budget=10_000)["budget"]
    assert len(quiet["seeds_used"]) == 3 and quiet["stopped"] == "every decision is made"
    evaluate = Counting(noise=0.01)  # nothing is clearly zero at 3 seeds: every factor stays active
    b = run_budgeted(make(evaluate, seeds=range(8)), budget=10_000)["budget"]
    assert 3 < len(b["seeds_used"]) <= 8 and b["decisions"]["leader"] == "bn_policy"
    assert b["stopped"] in ("every decision is made",
                            "the --seeds pool (8 seeds) is used up with a decision still open")
    first = {fp for fp, seed in evaluate.calls if seed == 0}
    for extra in b["seeds_used"][3:]:  # a later seed runs the answer's configurations only, never new ones
        assert {fp for fp, seed in evaluate.calls if seed == extra} <= first
    assert {seed for _, seed in evaluate.calls} == set(b["seeds_used"])


def test_a_budget_below_the_screen_is_refused_and_one_that_ends_early_says_why():
    bis = make(Counting(noise=0.01), seeds=range(8))
    with pytest.raises(ParityError, match=r"--budget 10 is below the screen's 48 runs"):
        run_budgeted(bis, budget=10)
    assert screen_runs(bis) == 48
    short = run_budgeted(make(Counting(noise=0.05), seeds=range(8)), budget=56)["budget"]
    assert short["stopped"].startswith("Shapley over the 7 active factors needs more runs than the budget leaves")
    assert short["runs"] == 48
    some = run_budgeted(make(Counting(noise=0.01), seeds=range(8)), budget=400)["budget"]
    assert some["stopped"].startswith("another seed would take") and some["runs"] <= 400


def test_a_budgeted_run_completes_into_the_full_design_from_its_runs():
    """The same seeds and store keys: the full design afterwards asks again for every run the budget made."""
    evaluate = Counting(noise=0.01)
    budgeted = run_budgeted(make(evaluate), budget=10_000)
    made = set(evaluate.calls)
    run_bisect(make(evaluate), methods=("oat", "shapley"))
    assert made <= set(evaluate.calls[len(made):])
    assert full_design_runs(make(evaluate)) == 2 ** 7 * 3
    assert budgeted["budget"]["runs"] == len(made)


def test_the_report_states_the_budget(tmp_path):
    from parity.reports import attribution

    result = run_budgeted(make(Counting()), budget=10_000)
    out = attribution.write(tmp_path / "r", "bisect", "parity bisect (budgeted, synthetic)", {
        "bisect": result, "notes": [], "verdict": {"ok": None, "text": result["answer"]}, "data": {"source": "test"},
        "body": "none", "seeds": result["seeds"], "versions": {"python": "3"}})
    md, html = (out / "report.md").read_text(), (out / "report.html").read_text()
    assert "### Budget" in md and "60 runs of the budget's 10000 (the full design: 384)" in md
    assert 'id="budget"' in html and "stopped because every decision is made" in html
    screened = md.split("Screened out (one at a time from both ends on 3 seeds; clearly zero")[1].split("\n")[0]
    assert all(f in screened for f in ("head", "init", "loss", "norm"))
