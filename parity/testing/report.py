"""The comparisons a test session made, as the same HTML/Markdown report `parity check` writes: one row per
comparison, its layers, tensors or steps listed with their figures, the first over tolerance named."""

from __future__ import annotations

from pathlib import Path

from parity.check.tolerances import get_tolerance
from parity.reports.report import write_report
from parity.runtime.backends import versions
from parity.testing.core import Comparison


def row_of(index: int, comparison: Comparison) -> dict:
    tol = get_tolerance(comparison.tolerance)
    key = "max_rel" if tol.relative else "max_abs"
    judged = [r for r in comparison.rows if r["judged"]] or comparison.rows
    deciding = comparison.first_over or max(judged, key=lambda r: r[key], default=None)
    layers = [{"layer": (f"step {r['step']}: " if r.get("step") is not None else "") + r["name"],
               "max_abs": r["max_abs"], "max_rel": r["max_rel"], "mean_abs": r["mean_abs"], "noise": r["noise"],
               "noise_rel": r["noise_rel"], "noise_ratio": r["noise_ratio"], "excluded": None if r["judged"] else
               "measured, not judged", "within": r["within"] if r["judged"] else None} for r in comparison.rows]
    test = comparison.test or "parity.testing"
    figures = {k: (deciding or {}).get(k) for k in ("max_abs", "max_rel", "mean_abs", "noise", "noise_rel",
                                                    "noise_ratio")}
    return {"component": "testing", "case": comparison.what, "id": f"{test}: {comparison.what}",
            "title": f"{test}: {comparison.what} (comparison {index})", "kind": "matched", "tol": tol.max_abs,
            "tol_name": comparison.tolerance,
            "units": tol.units, "relative": tol.relative, "tol_source": tol.source,
            "reason": "; ".join(comparison.notes), "figure": None, **figures, "passed": comparison.ok,
            "status": "pass" if comparison.ok else "FAIL", "labels": ["torch", comparison.keras],
            "detail": {"layers": layers, "first_over_tol": comparison.first_over["name"] if comparison.first_over
                       else None, "deciding_layer": deciding["name"] if deciding else None,
                       "message": comparison.message()}, "seconds": comparison.seconds}


def write(out: Path, comparisons: list[Comparison]) -> Path:
    rows = [row_of(i, c) for i, c in enumerate(comparisons, 1)]
    keras = sorted({c.keras for c in comparisons})
    return write_report(out, rows, versions(), seed=0, backends=("torch", *keras))
