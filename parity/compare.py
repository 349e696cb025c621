"""Run one case and measure it: max/mean absolute error, scale-relative error, float32 noise against the
float64 reference, and the verdict. NaN or inf on either side is reported, never compared as equal.
"""

from __future__ import annotations

import time
import traceback

import numpy as np

from parity.errors import ParityError
from parity.registry import Case, Sides, Skip
from parity.tolerances import get_tolerance


def _as_float64(x) -> np.ndarray:
    return np.asarray(x, dtype=np.float64)


def measure(sides: Sides) -> dict:
    if sides.layers:
        return _measure_layers(sides.layers)
    return _measure_pair(sides.a, sides.b, sides.reference, sides.labels)


def _measure_pair(a, b, reference, labels) -> dict:
    a, b = _as_float64(a), _as_float64(b)
    if a.shape != b.shape:
        raise ParityError(f"sides {labels} have different shapes: {a.shape} vs {b.shape}")
    finite = bool(np.isfinite(a).all() and np.isfinite(b).all())
    diff = np.abs(a - b)
    scale = float(np.abs(b).max()) if b.size else 0.0
    out = {"max_abs": float(diff.max()) if diff.size else 0.0,
           "mean_abs": float(diff.mean()) if diff.size else 0.0,
           "finite": finite}
    out["max_rel"] = out["max_abs"] / scale if scale > 0 else out["max_abs"]  # relative to the tensor's scale
    if reference is not None:
        ref = _as_float64(reference)
        out["noise"] = float(max(np.abs(a - ref).max(), np.abs(b - ref).max()))
        ref_scale = float(np.abs(ref).max())
        out["noise_rel"] = out["noise"] / ref_scale if ref_scale > 0 else out["noise"]
    return out


def _measure_layers(layers) -> dict:
    """Each layer measured on its own scale; the case's figures are the worst layer's."""
    per_layer = []
    for name, a, b, ref in layers:
        row = _measure_pair(a, b, ref, (name, name))
        if ref is not None:  # geometric mean of the two sides' own errors: one lucky side cannot decide alone
            ref64 = _as_float64(ref)
            errors = [np.abs(_as_float64(side) - ref64).max() for side in (a, b)]
            row["pair_noise"] = float(np.sqrt(errors[0] * errors[1]))
        per_layer.append({"layer": name, **{k: row[k] for k in ("max_abs", "max_rel", "noise", "noise_rel",
                                                                "pair_noise") if k in row}, "finite": row["finite"]})
    def worst(key):  # None where no layer has the figure (no float64 reference)
        values = [r[key] for r in per_layer if key in r]
        return max(values) if values else None

    out = {k: worst(k) for k in ("max_abs", "max_rel", "noise", "noise_rel")}
    out["mean_abs"] = float(np.mean([r["max_abs"] for r in per_layer]))
    out["finite"] = all(r.pop("finite") for r in per_layer)
    out["layers"] = per_layer
    return out


def layer_within(layer: dict, tol) -> bool:
    """Within tolerance, or (where the tolerance allows it) within a multiple of its own float32 noise."""
    if layer["max_rel" if tol.relative else "max_abs"] <= tol.max_abs:
        return True
    return bool(tol.noise_multiple and "pair_noise" in layer
                and layer["max_abs"] <= tol.noise_multiple * layer["pair_noise"])


def first_over(layers: list[dict], tol) -> str | None:
    """The first layer, in depth order, that is over tolerance: where the two models part."""
    return next((r["layer"] for r in layers if not layer_within(r, tol)), None)


def verdict(kind: str, error: float, tol: float, finite: bool) -> bool:
    """matched: within tol. divergence: still beyond tol (a record that stopped diverging is stale)."""
    if not finite:
        return False
    return error <= tol if kind == "matched" else error > tol


def run_case(case: Case, ctx) -> dict:
    tol = get_tolerance(case.tol)
    row = {"component": case.component, "case": case.name, "kind": case.kind, "tol": tol.max_abs,
           "tol_name": case.tol, "units": tol.units, "tol_source": tol.source, "reason": case.reason,
           "max_abs": None, "max_rel": None, "mean_abs": None, "noise": None, "noise_rel": None,
           "noise_ratio": None,
           "passed": None, "status": "", "labels": None, "detail": {}}
    start = time.perf_counter()
    try:
        sides = case.run(ctx)
        row.update(measure(sides), labels=list(sides.labels), detail=sides.detail)
        finite = row.pop("finite")
        row["passed"] = verdict(case.kind, row["max_rel" if tol.relative else "max_abs"], tol.max_abs, finite)
        if "layers" in row:
            layers = row.pop("layers")
            first = first_over(layers, tol)
            row["detail"] = {**row["detail"], "layers": layers, "first_over_tol": first}
            row["passed"] = finite and (first is None if case.kind == "matched" else first is not None)
        if tol.relative and row["noise_rel"]:
            row["noise_ratio"] = row["max_rel"] / row["noise_rel"]
        elif row["noise"]:
            row["noise_ratio"] = row["max_abs"] / row["noise"]
        row["status"] = ("NON-FINITE" if not finite else "pass" if row["passed"]
                         else "FAIL" if case.kind == "matched" else "STALE")
    except Skip as why:
        row["status"], row["detail"] = "skipped", {"why": str(why)}
    except Exception as exc:  # a broken case is a failed case, with its traceback in the report
        row["passed"], row["status"] = False, "ERROR"
        row["detail"] = {"error": f"{type(exc).__name__}: {exc}", "traceback": traceback.format_exc()}
    row["seconds"] = round(time.perf_counter() - start, 3)
    return row
