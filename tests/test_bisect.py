"""Bisect machinery on a synthetic accuracy model with known answers (no frameworks, no training)."""

import itertools

import numpy as np
import pytest

from parity.train import recipes
from parity.train.bisect import Bisection, ddmin, factors, interactions, one_at_a_time, run_bisect, shapley
from parity.core.errors import ParityError

A, B = recipes.get_recipe("fastai_v1_fit"), recipes.get_recipe("keras_thread_64")
EFFECT = {"bn_policy": 0.10, "optimizer": -0.02, "lr": 0.03, "head": 0.0}
PAIR = ("bn_policy", "lr")  # a planted interaction
SEED_NOISE = {0: 0.0, 1: 0.004, 2: -0.004}


def fake_eval(recipe, seed):
    switched = {k for k in EFFECT if getattr(recipe, k) == getattr(B, k)}
    acc = 0.5 + sum(EFFECT[k] for k in switched) + SEED_NOISE[seed]
    if set(PAIR) <= switched:
        acc += 0.05
    return {"accuracy": acc, "diverged": False}


def make(only=tuple(EFFECT)):
    return Bisection(A, B, factors(A, B, list(only)), [0, 1, 2], fake_eval)


def test_exact_shapley_matches_known_values_and_sums_to_gap():
    bis = make()
    out = shapley(bis)["factors"]
    expected = {k: v + (0.025 if k in PAIR else 0.0) for k, v in EFFECT.items()}  # interaction split evenly
    for k, v in expected.items():
        assert out[k]["value"]["mean"] == pytest.approx(v, abs=1e-12)
    assert sum(out[k]["value"]["mean"] for k in out) == pytest.approx(bis.gap().mean(), abs=1e-12)


def test_sampled_shapley_is_exact_for_additive_factors_and_close_with_interaction():
    bis = make()
    out = shapley(Bisection(A, B, bis.factors, [0, 1, 2], fake_eval), permutations=24)["factors"]
    assert out["optimizer"]["value"]["mean"] == pytest.approx(-0.02, abs=1e-12)
    assert out["bn_policy"]["value"]["mean"] == pytest.approx(0.125, abs=0.026)


def test_oat_from_both_ends_and_interactions():
    bis = make()
    oat = one_at_a_time(bis)
    assert oat["lr"]["from_a"]["mean"] == pytest.approx(0.03)
    assert oat["lr"]["from_b"]["mean"] == pytest.approx(0.08)  # with bn_policy switched, the pair adds 0.05
    inter = interactions(bis, ["bn_policy", "lr", "optimizer"])
    assert inter["bn_policy x lr"]["mean"] == pytest.approx(0.05)
    assert not inter["lr x optimizer"]["matters"]


def test_ddmin_finds_a_one_minimal_set():
    result = ddmin(make())
    assert result["set"] == ["bn_policy", "lr"]  # 0.18 of the 0.16 gap; neither alone reaches 80%
    assert result["closes"]["mean"] >= 0.8


def test_run_bisect_answer_names_the_leading_factor_first():
    result = run_bisect(make(), permutations=4)
    assert result["answer"].startswith("Going from fastai_v1_fit")
    assert result["answer"].index("bn_policy") < result["answer"].index("lr ")
    assert result["runs"] == result["configurations"] * 3


def test_every_subset_is_a_valid_recipe():
    bis = make(tuple(factors(A, B)))
    for size in (0, 1, len(bis.factors)):
        for subset in itertools.islice(itertools.combinations(bis.factors, size), 5):
            recipes.check_recipe(bis.config(frozenset(subset)))


def test_identical_recipes_and_foreign_factors_are_refused():
    with pytest.raises(ParityError, match="same knobs"):
        factors(A, A)
    with pytest.raises(ParityError, match="recipe knob 'colour' is not one of"):
        factors(A, B, ["colour"])
    with pytest.raises(ParityError, match="'epochs' is the same"):
        factors(A, B, ["epochs"])


def test_diverged_runs_are_nan_not_chance():
    def diverging(recipe, seed):
        return {"accuracy": None, "diverged": True} if recipe.bn_policy == "frozen" else fake_eval(recipe, seed)

    bis = Bisection(A, B, ["bn_policy", "lr"], [0, 1], diverging)
    assert np.isnan(bis.value({"bn_policy"})).all()
    assert run_bisect(bis, ("oat",))["diverged_runs"] == 4


FRAMEWORK_ACCURACY = {"torch": 0.50, "keras_torch": 0.53, "keras_tf": 0.58}


def three_backend_eval(recipe, seed):
    """Accuracy from the framework (Keras' API +3 points, TF's kernels +5 more) and the BN policy (+10)."""
    acc = FRAMEWORK_ACCURACY[recipe.framework] + (0.10 if recipe.bn_policy == B.bn_policy else 0.0)
    return {"accuracy": acc + SEED_NOISE[seed], "diverged": False}


def test_framework_factor_splits_through_a_middle_backend():
    from parity.train.bisect import FRAMEWORK_API, FRAMEWORK_KERNELS, between

    bis = between(A, B, ["framework", "bn_policy"], [0, 1, 2], three_backend_eval, middle="keras_torch")
    assert bis.factors == ["bn_policy", FRAMEWORK_API, FRAMEWORK_KERNELS]
    assert bis.config(frozenset({FRAMEWORK_API})).framework == "keras_torch"
    assert bis.config(frozenset({FRAMEWORK_API, FRAMEWORK_KERNELS})).framework == "keras_tf"
    with pytest.raises(ParityError, match="without the one it follows"):
        bis.config(frozenset({FRAMEWORK_KERNELS}))
    result = run_bisect(bis, permutations=4)
    values = {f: v["value"]["mean"] for f, v in result["shapley"]["factors"].items()}
    assert values == pytest.approx({"bn_policy": 0.10, FRAMEWORK_API: 0.03, FRAMEWORK_KERNELS: 0.05}, abs=1e-12)
    assert "orderings" in result["shapley"]["method"]
    assert result["oat"][FRAMEWORK_KERNELS]["from_a"] is None  # kernels cannot be switched without the API
    assert result["diff"][FRAMEWORK_API] == ["torch", "keras_torch"]
    assert set(result["ddmin"]["set"]) <= set(bis.factors)


def test_a_middle_backend_needs_a_framework_factor():
    from parity.train.bisect import between

    with pytest.raises(ParityError, match="splits the framework factor"):
        between(A, B, ["bn_policy"], [0], three_backend_eval, middle="keras_torch")
    with pytest.raises(ParityError, match="must differ from both ends"):
        between(A, B, ["framework"], [0], three_backend_eval, middle="keras_tf")
