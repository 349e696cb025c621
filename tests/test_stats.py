"""Confidence intervals and the paired TOST against scipy's own t distribution and hand-made cases."""

import math

import numpy as np
import pytest
from scipy import stats as sps

from parity.core.errors import ParityError
from parity.core.stats import mean_ci, tost_paired


def test_mean_ci_is_the_student_t_interval():
    x = [0.81, 0.79, 0.84, 0.80, 0.83]
    mean, low, high = mean_ci(x)
    expected = sps.t.interval(0.95, len(x) - 1, loc=np.mean(x), scale=sps.sem(x))
    assert (low, high) == pytest.approx(expected, abs=1e-12) and mean == pytest.approx(np.mean(x))


def test_one_seed_has_no_finite_interval():
    assert mean_ci([0.5])[1:] == (-math.inf, math.inf)


def test_tost_accepts_a_small_difference_and_rejects_a_large_one():
    a = np.array([0.80, 0.82, 0.81, 0.79, 0.83])
    near = a + np.array([0.004, -0.003, 0.002, -0.001, 0.003])
    assert tost_paired(a, near, 0.02)["equivalent"]
    far = a - 0.05 + np.array([0.004, -0.003, 0.002, -0.001, 0.003])
    result = tost_paired(a, far, 0.02)
    assert not result["equivalent"] and result["mean_diff"] == pytest.approx(0.05 - 0.001, abs=1e-9)


def test_tost_equivalence_is_the_90_percent_ci_inside_the_margin():
    rng = np.random.default_rng(0)
    for _ in range(50):
        a, b = rng.normal(0.8, 0.02, 6), rng.normal(0.8, 0.02, 6)
        r = tost_paired(a, b, 0.02)
        assert r["equivalent"] == (-0.02 < r["ci"][0] and r["ci"][1] < 0.02)


def test_tost_needs_two_seeds_and_a_positive_margin():
    with pytest.raises(ParityError, match="at least 2 paired seeds"):
        tost_paired([0.5], [0.5], 0.02)
    with pytest.raises(ParityError, match="margin must be positive"):
        tost_paired([0.5, 0.6], [0.5, 0.6], 0.0)


def test_accuracy_interval_stays_within_0_and_1():
    """Two seeds at 5% and 70%: the t-interval reaches below 0; the reported interval is clipped and says so."""
    from parity.core.stats import ACCURACY_CI, accuracy_ci

    raw = mean_ci([0.05, 0.70])
    assert raw[1] < 0 and raw[2] > 1
    ci = accuracy_ci([0.05, 0.70])
    assert (ci["low"], ci["high"], ci["n"]) == (0.0, 1.0, 2) and ci["mean"] == pytest.approx(0.375)
    assert "clipped to [0, 100]" in ACCURACY_CI
