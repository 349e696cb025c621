"""Statistics over seeds: t confidence intervals and the paired TOST equivalence test (scipy.stats)."""

from __future__ import annotations

import math

import numpy as np

from parity.core.errors import ParityError

ACCURACY_CI = "95% Student-t interval over seeds, clipped to [0, 100]%"


def mean_ci(values, level: float = 0.95) -> tuple[float, float, float]:
    """(mean, low, high): Student-t interval over independent values (seeds); one value gives an
    infinite interval, never a false precision."""
    from scipy import stats

    x = np.asarray([v for v in values], dtype=np.float64)
    if x.size == 0:
        raise ParityError("a confidence interval needs at least one value")
    mean = float(x.mean())
    if x.size == 1:
        return mean, -math.inf, math.inf
    half = float(stats.t.ppf(0.5 + level / 2, x.size - 1) * x.std(ddof=1) / math.sqrt(x.size))
    return mean, mean - half, mean + half


def summary_ci(values, bounds: tuple[float, float] | None = None) -> dict:
    """{mean, low, high, n} over the finite values (NaN marks a diverged run); `bounds` clips the interval
    to the range the quantity can take (accuracy: 0 to 1), so it never claims an impossible value."""
    x = np.asarray(values, np.float64)
    x = x[np.isfinite(x)]
    if x.size == 0:
        return {"mean": math.nan, "low": math.nan, "high": math.nan, "n": 0}
    mean, low, high = mean_ci(x)
    if bounds is not None:
        low, high = max(low, bounds[0]), min(high, bounds[1])
    return {"mean": mean, "low": low, "high": high, "n": int(x.size)}


def accuracy_ci(values) -> dict:
    """An accuracy over seeds (fractions): see ACCURACY_CI."""
    return summary_ci(values, (0.0, 1.0))


def tost_paired(a, b, margin: float, alpha: float = 0.05) -> dict:
    """Two one-sided t-tests on the paired differences a - b (same seeds): equivalent when the mean
    difference is shown to lie within +-margin, i.e. the (1 - 2 alpha) CI of the difference is inside."""
    from scipy import stats

    d = np.asarray(a, np.float64) - np.asarray(b, np.float64)
    if d.size < 2:
        raise ParityError(f"an equivalence test needs at least 2 paired seeds, got {d.size}")
    if margin <= 0:
        raise ParityError(f"equivalence margin must be positive, got {margin}")
    if np.all(d == d[0]):  # no spread: the interval is the point itself
        p = 0.0 if abs(d[0]) < margin else 1.0
        return {"mean_diff": float(d[0]), "ci": (float(d[0]), float(d[0])), "p_value": p, "margin": margin,
                "equivalent": p < alpha, "n": int(d.size)}
    p_low = stats.ttest_1samp(d, -margin, alternative="greater").pvalue
    p_high = stats.ttest_1samp(d, margin, alternative="less").pvalue
    _, low, high = mean_ci(d, 1 - 2 * alpha)
    p = float(max(p_low, p_high))
    return {"mean_diff": float(d.mean()), "ci": (low, high), "p_value": p, "margin": margin,
            "equivalent": p < alpha, "n": int(d.size)}
