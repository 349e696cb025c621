"""Run one case and measure it: max/mean absolute error, scale-relative error, float32 noise against the
float64 reference, and the verdict. NaN or inf on either side is reported, never compared as equal.

A layer-wise case is judged layer by layer, each on its own scale; its headline figures are those of the
deciding layer (the worst judged one), so `noise_ratio` is always that layer's max_abs / noise. Layers a
case excludes (parity.registry.Exclusion) are measured and shown, never judged.
"""

from __future__ import annotations

import math
import re
import time
import traceback

import numpy as np

from parity.errors import ParityError
from parity.registry import Case, Sides, Skip
from parity.tolerances import Tolerance, get_tolerance

FIGURES = ("max_abs", "max_rel", "mean_abs", "noise", "noise_rel", "noise_ratio")


def _as_float64(x) -> np.ndarray:
    return np.asarray(x, dtype=np.float64)


def _ratio(error: float, noise: float | None) -> float | None:
    """error / noise; None without a reference or when both are 0 (bitwise equal to float64)."""
    if noise is None or (noise == 0 and error == 0):
        return None
    return error / noise if noise > 0 else math.inf


def measure_pair(a, b, reference, labels=("a", "b")) -> dict:
    a, b = _as_float64(a), _as_float64(b)
    if a.shape != b.shape:
        raise ParityError(f"sides {tuple(labels)} have different shapes: {a.shape} vs {b.shape}")
    diff = np.abs(a - b)
    scale = float(np.abs(b).max()) if b.size else 0.0
    out = {"max_abs": float(diff.max()) if diff.size else 0.0, "mean_abs": float(diff.mean()) if diff.size else 0.0,
           "finite": bool(np.isfinite(a).all() and np.isfinite(b).all()), "noise": None, "noise_rel": None}
    out["max_rel"] = out["max_abs"] / scale if scale > 0 else out["max_abs"]  # relative to the tensor's scale
    if reference is not None:
        ref = _as_float64(reference)
        out["noise"] = float(max(np.abs(a - ref).max(), np.abs(b - ref).max())) if ref.size else 0.0
        ref_scale = float(np.abs(ref).max()) if ref.size else 0.0
        out["noise_rel"] = out["noise"] / ref_scale if ref_scale > 0 else out["noise"]
    out["noise_ratio"] = _ratio(out["max_abs"], out["noise"])
    return out


def _excluded_by(name: str, case: Case):
    return next((e for e in case.exclude if re.search(e.match, name)), None)


def measure_layers(case: Case, sides: Sides, tol: Tolerance) -> dict:
    """Every layer measured and (unless excluded) judged; the headline is the deciding layer's."""
    key = "max_rel" if tol.relative else "max_abs"
    layers = []
    for name, a, b, ref in sides.layers:
        row = {"layer": name, **measure_pair(a, b, ref, (name, name))}
        rule = _excluded_by(name, case)
        row["excluded"] = rule.reason if rule else None
        row["within"] = None if rule else bool(row["finite"] and row[key] <= tol.max_abs)
        layers.append(row)
    judged = [r for r in layers if r["excluded"] is None]
    if not judged:
        raise ParityError(f"case {case.id!r} excludes every layer: nothing is judged")
    deciding = max(judged, key=lambda r: (not r["finite"], r[key]))
    out = {k: deciding[k] for k in FIGURES}
    out["finite"] = all(r["finite"] for r in judged)
    out["deciding_layer"] = deciding["layer"]
    out["first_over_tol"] = next((r["layer"] for r in judged if not r["within"]), None)
    out["layers"] = layers
    out["excluded"] = [{"match": e.match, "reason": e.reason, "judged_by": e.judged_by,
                        "count": sum(1 for r in layers if re.search(e.match, r["layer"]))} for e in case.exclude]
    return out


def verdict(kind: str, error: float, tol: float, finite: bool) -> bool:
    """matched: within tol. divergence: still beyond tol (a record that stopped diverging is stale)."""
    if not finite:
        return False
    return error <= tol if kind == "matched" else error > tol


def _status(kind: str, passed: bool, finite: bool) -> str:
    if not finite:
        return "NON-FINITE"
    return "pass" if passed else "FAIL" if kind == "matched" else "STALE"


def _judge(case: Case, tol: Tolerance, sides: Sides) -> dict:
    if sides.layers:
        m = measure_layers(case, sides, tol)
        over = m["first_over_tol"] is not None
        passed = m["finite"] and (not over if case.kind == "matched" else over)
        detail = {"layers": m.pop("layers"), "first_over_tol": m.pop("first_over_tol"),
                  "deciding_layer": m.pop("deciding_layer"), "excluded": m.pop("excluded")}
    else:
        m = measure_pair(sides.a, sides.b, sides.reference, sides.labels)
        passed = verdict(case.kind, m["max_rel" if tol.relative else "max_abs"], tol.max_abs, m["finite"])
        detail = {}
    finite = m.pop("finite")
    return {**m, "passed": passed, "status": _status(case.kind, passed, finite), "labels": list(sides.labels),
            "detail": {**sides.detail, **detail}}


def run_case(case: Case, ctx) -> dict:
    tol = get_tolerance(case.tol)
    row = {"component": case.component, "case": case.name, "id": case.id, "kind": case.kind, "tol": tol.max_abs,
           "tol_name": case.tol, "units": tol.units, "relative": tol.relative, "tol_source": tol.source,
           "reason": case.reason, "figure": case.figure, **{k: None for k in FIGURES},
           "passed": None, "status": "", "labels": None, "detail": {}}
    start = time.perf_counter()
    try:
        row.update(_judge(case, tol, case.run(ctx)))
    except Skip as why:
        row["status"], row["detail"] = "skipped", {"why": str(why)}
    except Exception as exc:  # a broken case is a failed case, with its traceback in the report
        row["passed"], row["status"] = False, "ERROR"
        row["detail"] = {"error": f"{type(exc).__name__}: {exc}", "traceback": traceback.format_exc()}
    row["seconds"] = round(time.perf_counter() - start, 3)
    return row
