"""The verdict rules of parity.check.compare on small synthetic layers: the rounding-order floor of float64 twins."""

import numpy as np
import pytest

from parity.check.case import Case
from parity.check.compare import BLOCK, floor_of, measure_layers, measure_pair
from parity.core.errors import ParityError
from parity.check.tolerances import Tolerance

TOL = Tolerance(1e-9, "relative", "test", relative=True)


def _case(factor: float) -> Case:
    return Case("train", "synthetic", "matched", lambda backend, ctx: None, "train_f64", across=True,
                reference=lambda ctx: None, floor_factor=factor, key="synthetic")


def _layers(rng, noise: float, fault: float = 0.0):
    """One well-conditioned tensor and one whose float64 rounding noise is `noise` (relative to max 1)."""
    twin = {"conditioned": rng.normal(size=50), "ill": rng.normal(size=50)}
    twin = {k: v / np.abs(v).max() for k, v in twin.items()}
    a = {k: v + rng.normal(scale=1e-13 if k == "conditioned" else noise, size=50) for k, v in twin.items()}
    b = {k: v + rng.normal(scale=1e-13 if k == "conditioned" else noise, size=50) for k, v in twin.items()}
    b["ill"][7] += fault
    return [(k, a[k], b[k], twin[k]) for k in twin]


def test_an_ill_conditioned_tensor_is_judged_against_its_measured_floor():
    rng = np.random.default_rng(0)
    quads = _layers(rng, noise=1e-6)
    strict = measure_layers(_case(0.0), quads, TOL)
    assert strict["first_over_tol"] == "ill"
    floored = measure_layers(_case(10.0), quads, TOL)
    assert floored["first_over_tol"] is None
    ill = next(r for r in floored["layers"] if r["layer"] == "ill")
    assert 1e-7 < ill["floor"] < 1e-5 and ill["allowed"] == pytest.approx(10 * ill["floor"])
    conditioned = next(r for r in floored["layers"] if r["layer"] == "conditioned")
    assert conditioned["allowed"] == TOL.max_abs  # a floor below the tolerance never lowers it


def test_a_fault_on_one_side_is_not_absorbed_by_the_floor():
    """The floor is the nearer side's distance to the twin: a fault moves one side only, so it stays noise."""
    rng = np.random.default_rng(1)
    out = measure_layers(_case(10.0), _layers(rng, noise=1e-8, fault=1e-4), TOL)
    assert out["first_over_tol"] == "ill"
    assert out["deciding_layer"] == "ill"


def test_floor_is_in_the_tolerance_units():
    a, b, ref = np.array([2.0, 0.0]), np.array([2.0 + 4e-6, 0.0]), np.array([2.0 + 2e-6, 0.0])
    assert floor_of(a, b, ref, relative=False) == pytest.approx(2e-6)
    assert floor_of(a, b, ref, relative=True) == pytest.approx(2e-6 / (2.0 + 2e-6))


def test_a_floor_needs_a_reference_to_measure_it():
    with pytest.raises(ParityError, match="floor_factor"):
        Case("train", "no twin", "matched", lambda backend, ctx: None, "train_f64", across=True, floor_factor=10.0,
             key="no_twin")


@pytest.mark.parametrize("planted", [None, ("a", np.nan), ("b", np.inf), ("ref", np.nan)])
def test_measure_pair_by_blocks_gives_the_one_pass_figures(planted):
    """Over several blocks and a partial one, with NaN or inf in one block: the figures one pass over the whole
    arrays gives (the mean up to summation order)."""
    rng = np.random.default_rng(0)
    ref = rng.normal(size=(3, BLOCK + 123)) * 10
    a, b = ((ref + rng.normal(size=ref.shape) * 1e-5).astype(np.float32) for _ in range(2))
    if planted:
        {"a": a, "b": b, "ref": ref}[planted[0]][2, 17] = planted[1]
    with np.errstate(invalid="ignore"):
        diff = np.abs(a.astype(np.float64) - b)
        noise = max(np.abs(a - ref).max(), np.abs(b - ref).max())
        got = measure_pair(a[:, ::-1], b[:, ::-1], ref[:, ::-1])  # not contiguous, too
    expected = {"max_abs": diff.max(), "noise": noise, "finite": bool(np.isfinite(diff.max())),
                "max_rel": diff.max() / np.abs(b).max() if np.isfinite(diff.max()) else diff.max(),
                "noise_rel": noise / np.abs(ref).max()}
    for key, value in expected.items():
        np.testing.assert_equal(got[key], value, err_msg=key)
    np.testing.assert_allclose(got["mean_abs"], diff.mean(), rtol=1e-12)
