"""Run one case and measure it: max/mean absolute error, scale-relative error, float32 noise against the
float64 reference, and the verdict. NaN or inf on either side is reported, never compared as equal.

A layer-wise case is judged layer by layer, each on its own scale; its headline figures are those of the
deciding layer (the worst judged one), so `noise_ratio` is always that layer's max_abs / noise. Layers a
case excludes (parity.check.case.Exclusion) are measured and shown, never judged. A case with a floor_factor
compares against a rounding-order twin: each tensor may differ by that factor times the rounding noise the twin
measures for it (floor_of), where that is above the tolerance; the report shows the floor and what was allowed.

A case run across backends is measured for every pair of backends that implements it (the row lists the
pairs and the backends that could not take part); its headline is its deciding pair's.
"""

from __future__ import annotations

import contextvars
import itertools
import math
import re
import time
import traceback
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from parity.check.case import Case, Sides, Skip, as_output
from parity.check.tolerances import Tolerance, get_tolerance
from parity.core.errors import ParityError
from parity.core.results import CaseResult
from parity.runtime import workers
from parity.runtime.backends import DEFAULT_BACKENDS, Unsupported, get_backend, why_unsupported

FIGURES = ("max_abs", "max_rel", "mean_abs", "noise", "noise_rel", "noise_ratio")


def _ratio(error: float, noise: float | None) -> float | None:
    """error / noise; None without a reference or when both are 0 (bitwise equal to float64)."""
    if noise is None or (noise == 0 and error == 0):
        return None
    return error / noise if noise > 0 else math.inf


def _max_abs(x: np.ndarray) -> float:
    return max(float(x.max()), -float(x.min())) if x.size else 0.0


def _max_abs_diff(x: np.ndarray, y: np.ndarray, into: np.ndarray) -> float:
    """max |x - y| computed in float64 in a reused buffer."""
    np.subtract(x, y, out=into, dtype=np.float64)
    return _max_abs(into)


# measure_pair walks its arrays in blocks of this many elements, so that its passes over a block (difference,
# absolute value, max, sum, the reference's) read it from the CPU cache rather than memory. It had taken 8.1 of
# the coordinating process's 22.6 CPU-seconds in `parity check --only model` (py-spy); in blocks a call with a
# float64 reference takes about half as long (6.4M elements: 89 -> 45 ms).
BLOCK = 1 << 16


def _largest(values: list) -> float:
    """The largest of per-block figures, NaN if any is NaN (as one pass over the whole array gives)."""
    return float(np.max(values)) if values else 0.0


def measure_pair(a, b, reference, labels=("a", "b")) -> dict:
    return _walk(a, b, reference, labels)[0]


def _walk(a, b, reference, labels=("a", "b")) -> tuple[dict, tuple | None]:
    """measure_pair's figures, and (each side's max distance to the reference, the reference's max |value|) for
    floor_of, from one walk over the arrays (None without a reference)."""
    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape:
        raise ParityError(f"sides {tuple(labels)} have different shapes: {a.shape} vs {b.shape}")
    flat = [a.ravel(), b.ravel()]
    if reference is not None:
        flat.append(np.broadcast_to(np.asarray(reference, np.float64), a.shape).ravel())
    buffer = np.empty(min(a.size, BLOCK), np.float64)
    largest, b_scale, noise_a, noise_b, ref_scale, total = [], [], [], [], [], 0.0
    for start in range(0, a.size, BLOCK):
        x, y, *ref = (v[start:start + BLOCK] for v in flat)
        diff = buffer[:x.size]
        np.subtract(x, y, out=diff, dtype=np.float64)
        np.abs(diff, out=diff)
        largest.append(diff.max())
        total += float(diff.sum())
        b_scale.append(_max_abs(y))  # max and min are exact in b's own dtype
        if ref:
            noise_a.append(_max_abs_diff(x, ref[0], diff))
            noise_b.append(_max_abs_diff(y, ref[0], diff))
            ref_scale.append(_max_abs(ref[0]))
    worst = _largest(largest)
    finite = bool(np.isfinite(worst))  # NaN or inf on either side makes the largest difference non-finite
    out = {"max_abs": worst, "mean_abs": total / a.size if a.size else 0.0, "finite": finite,
           "noise": None, "noise_rel": None}
    scale = _largest(b_scale) if finite else 0.0
    out["max_rel"] = out["max_abs"] / scale if scale > 0 else out["max_abs"]  # relative to the tensor's scale
    sides = None
    if reference is not None:
        sides = (_largest(noise_a), _largest(noise_b), _largest(ref_scale))
        out["noise"] = max(sides[:2])
        out["noise_rel"] = out["noise"] / sides[2] if sides[2] > 0 else out["noise"]
    out["noise_ratio"] = _ratio(out["max_abs"], out["noise"])
    return out, sides


def floor_of(a, b, reference, relative: bool) -> float:
    """The rounding noise of a tensor, measured: the smaller of each side's distance to a rounding-order twin
    (the same computation summed in another order). A fault on one side moves that side and leaves the other's
    distance at the true noise; a fault in torch_impl moves the twin too (it runs the same code), so again only
    the noise remains. In the units of the tolerance it may raise (relative to the twin's max |value|, or not)."""
    return _floor(_walk(a, b, reference)[1], relative)


def _floor(sides: tuple, relative: bool) -> float:
    noise_a, noise_b, ref_max = sides
    noise = min(noise_a, noise_b)
    scale = ref_max if relative else 0.0
    return noise / scale if scale > 0 else noise


def _excluded_by(name: str, case: Case):
    return next((e for e in case.exclude if re.search(e.match, name)), None)


def measure_layers(case: Case, quads: list, tol: Tolerance) -> dict:
    """Every layer (name, a, b, reference) measured and, unless excluded, judged; the headline is the deciding
    layer's."""
    key = "max_rel" if tol.relative else "max_abs"
    layers = []
    for name, a, b, ref in quads:
        figures, sides = _walk(a, b, ref, (name, name))
        row = {"layer": name, **figures}
        rule = _excluded_by(name, case)
        row["excluded"] = rule.reason if rule else None
        allowed = tol.max_abs
        if case.floor_factor and ref is not None and row["finite"]:
            row["floor"] = _floor(sides, tol.relative)  # the distances the walk above measured
            allowed = max(allowed, case.floor_factor * row["floor"])
            row["allowed"] = allowed
        row["within"] = None if rule else bool(row["finite"] and row[key] <= allowed)
        layers.append(row)
    judged = [r for r in layers if r["excluded"] is None]
    if not judged:
        raise ParityError(f"case {case.id!r} excludes every layer: nothing is judged")
    def share(r):  # error over what the layer was allowed (the tolerance, or its rounding floor)
        allowed = r.get("allowed", tol.max_abs)
        return r[key] / allowed if allowed > 0 else r[key]

    deciding = max(judged, key=lambda r: (not r["finite"], share(r)))
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


def _judge(case: Case, tol: Tolerance, kind: str, a, b, ref, layers, labels) -> dict:
    """Figures, verdict and status of one comparison: arrays a and b, or `layers` quads."""
    if layers:
        m = measure_layers(case, layers, tol)
        over = m["first_over_tol"] is not None
        passed = m["finite"] and (not over if kind == "matched" else over)
        detail = {"layers": m.pop("layers"), "first_over_tol": m.pop("first_over_tol"),
                  "deciding_layer": m.pop("deciding_layer"), "excluded": m.pop("excluded")}
    else:
        m = measure_pair(a, b, ref, labels)
        passed = verdict(kind, m["max_rel" if tol.relative else "max_abs"], tol.max_abs, m["finite"])
        detail = {}
    finite = m.pop("finite")
    return {**m, "passed": passed, "status": _status(kind, passed, finite), "labels": list(labels), "detail": detail}


def _judge_sides(case: Case, tol: Tolerance, sides: Sides) -> dict:
    row = _judge(case, tol, case.kind, sides.a, sides.b, sides.reference, sides.layers, sides.labels)
    row["detail"] = {**sides.detail, **row["detail"]}
    return row


# --- across backends ---------------------------------------------------------------------------------------

_POOL = ThreadPoolExecutor(max_workers=8, thread_name_prefix="parity-backend")


def _quads(outputs: dict, reference, a: str, b: str) -> list | None:
    """(name, a, b, reference) per layer, in the order backend `a` lists them; names must agree."""
    la, lb = outputs[a].layers, outputs[b].layers
    if la is None:
        return None
    names_a, names_b = [n for n, _ in la], [n for n, _ in lb]
    if set(names_a) != set(names_b):
        missing = sorted(set(names_a) ^ set(names_b))
        raise AssertionError(f"layer names differ between {a} and {b}, e.g. {missing[:3]}")
    ref = dict(reference.layers) if reference is not None and reference.layers else {}
    vb = dict(lb)
    return [(name, value, vb[name], ref.get(name)) for name, value in la]


def _recorded_pair(pairs: list[tuple[str, str]]) -> tuple[str, str]:
    """The pair a divergence record is about: torch vs keras_tf when both ran, else the first pair across APIs."""
    if DEFAULT_BACKENDS in pairs:
        return DEFAULT_BACKENDS
    return next((p for p in pairs if get_backend(p[0]).api != get_backend(p[1]).api), pairs[0])


def _expectation(case: Case, pair: tuple[str, str], recorded: tuple[str, str]) -> str:
    """What a pair must show: 'matched', 'divergence', or 'measured' (reported both ways, never judged)."""
    if case.kind == "matched":
        return "divergence" if pair in case.diverging_pairs else "matched"
    return "divergence" if pair == recorded else "measured"


def _deciding_pair(case: Case, pairs: list[dict]) -> dict:
    judged = [p for p in pairs if p["expect"] != "measured"] or pairs
    failing = [p for p in judged if not p["passed"]]
    key = "max_rel" if pairs[0].get("relative") else "max_abs"
    return failing[0] if failing else max(judged, key=lambda p: p[key] if p[key] is not None else -1)


def _pair_row(case, tol, outputs, reference, a, b, recorded) -> dict:
    expect = _expectation(case, (a, b), recorded)
    kind = "divergence" if expect == "divergence" else "matched"
    oa, ob = outputs[a], outputs[b]
    quads = _quads(outputs, reference, a, b)
    ref = reference.value if reference is not None else None
    row = _judge(case, tol, kind, oa.value, ob.value, ref, quads, (a, b))
    if expect == "measured":  # reported both ways: does the divergence persist for this pair?
        row["passed"] = True
        row["status"] = "agrees" if row["status"] == "pass" else "diverges"
    return {"a": a, "b": b, "expect": expect, "why": case.diverging_pairs.get((a, b), ""), "relative": tol.relative,
            **row}


def _judge_across(case: Case, tol: Tolerance, ctx, backends) -> dict:
    supported, unsupported = [], {}
    for backend in backends:
        why = next((w for comp, method in case.requires if (w := why_unsupported(backend, comp, method))), None)
        (unsupported.__setitem__(backend, why) if why else supported.append(backend))
    if len(supported) < 2:
        return {"status": "unsupported", "passed": None, "labels": supported,
                "detail": {"unsupported": unsupported, "why": "fewer than two of the chosen backends implement it"}}
    futures = {b: _POOL.submit(contextvars.copy_context().run, case.run, b, ctx) for b in supported}  # in our lane
    reference = as_output(case.reference(ctx)) if case.reference else None
    outputs = {}
    for b, future in futures.items():
        try:
            outputs[b] = as_output(future.result())
        except Unsupported as why:
            unsupported[b] = str(why)
    supported = [b for b in supported if b in outputs]
    if len(supported) < 2:
        return {"status": "unsupported", "passed": None, "labels": supported,
                "detail": {"unsupported": unsupported, "why": "fewer than two of the chosen backends implement it"}}
    combos = list(itertools.combinations(supported, 2))
    recorded = _recorded_pair(combos)
    pairs = [_pair_row(case, tol, outputs, reference, a, b, recorded) for a, b in combos]
    head = _deciding_pair(case, pairs)
    passed = all(p["passed"] for p in pairs)
    status = head["status"] if not passed else "pass"
    detail = {**({"per_backend": {b: o.detail for b, o in outputs.items()}} if any(o.detail for o in outputs.values())
                 else {}), **head["detail"],
              "pairs": [{k: v for k, v in p.items() if k != "detail"} | _pair_detail(p) for p in pairs],
              "unsupported": unsupported, "deciding_pair": [head["a"], head["b"]]}
    return {**{k: head[k] for k in FIGURES}, "passed": passed, "status": status, "labels": [head["a"], head["b"]],
            "detail": detail}


def _pair_detail(pair: dict) -> dict:
    d = pair["detail"]
    return {"first_over_tol": d.get("first_over_tol"), "deciding_layer": d.get("deciding_layer")}


def run_case(case: Case, ctx, backends=DEFAULT_BACKENDS) -> dict:
    tol = get_tolerance(case.tol)
    row = {"component": case.component, "case": case.name, "id": case.id, "title": case.title, "kind": case.kind,
           "tol": tol.max_abs,
           "tol_name": case.tol, "units": tol.units, "relative": tol.relative, "tol_source": tol.source,
           "reason": case.reason, "figure": case.figure, **{k: None for k in FIGURES},
           "passed": None, "status": "", "labels": None, "detail": {}}
    start = time.perf_counter()
    try:
        row.update(_judge_across(case, tol, ctx, backends) if case.across else _judge_sides(case, tol, case.run(ctx)))
    except Skip as why:
        row["status"], row["detail"] = "skipped", {"why": str(why)}
    except Exception as exc:  # a broken case is a failed case, with its traceback in the report
        row["passed"], row["status"] = False, "ERROR"
        row["detail"] = {"error": f"{type(exc).__name__}: {exc}", "traceback": traceback.format_exc()}
    row["seconds"] = round(time.perf_counter() - start, 3)
    CaseResult.from_json(row, f"case {case.id!r}")  # the row is a CaseResult: a field it lacks is an error here
    return row


# Started before the others, in this order: the accuracy case's 10 training runs (~15 s, its lanes often waiting
# on one run) ended the check alone at under one core in use; first, they overlap with the other cases. The
# train cases (4-6 s each, float64 Keras steps) came last and left one core idle for much of the check's last
# 8 s; started early, the many sub-second cases fill in behind them.
STARTED_FIRST = ("accuracy", "train")
CASES_AT_ONCE = 2  # cases in flight: one case's coordinator work (comparisons) overlaps another's backends


# In a run of SPREAD_FROM cases or more, a backend whose record asks for more check workers (Keras: its cases are
# the critical path on one core) gets them; a worker costs seconds to start and gigabytes, more than a few cases save.
SPREAD_FROM = 40


def check_cases(cases: list[Case], ctx, backends=DEFAULT_BACKENDS):
    """(index, row) of every case as `parity check` runs them: CASES_AT_ONCE at a time, each on a Keras worker
    of its own when there are enough cases to pay for a second one, the workers' threads planned to match."""
    lanes = ({b: get_backend(b).check_workers for b in backends if get_backend(b).check_workers > 1}
             if len(cases) >= SPREAD_FROM else {})
    workers.plan(len(backends) + 1 + sum(n - 1 for n in lanes.values()))  # and the float64 reference's
    with workers.spread(lanes):
        yield from run_cases(cases, ctx, backends)


def run_cases(cases: list[Case], ctx, backends=DEFAULT_BACKENDS, at_once: int = CASES_AT_ONCE):
    """(index, row) of every case as each finishes, `at_once` cases in flight (results do not depend on it),
    each in a lane of its own (parity.runtime.workers.in_lane: where its calls go on a backend spread over workers)."""
    import queue
    from concurrent.futures import FIRST_COMPLETED, wait


    lanes = queue.SimpleQueue()
    for lane in range(at_once):
        lanes.put(lane)

    def in_a_lane(case):
        lane = lanes.get()
        try:
            with workers.in_lane(lane):
                return run_case(case, ctx, backends)
        finally:
            lanes.put(lane)

    pool = ThreadPoolExecutor(at_once, thread_name_prefix="parity-cases")
    try:
        first = {component: rank for rank, component in enumerate(STARTED_FIRST)}
        order = sorted(range(len(cases)), key=lambda i: first.get(cases[i].component, len(first)))  # stable
        pending = {pool.submit(in_a_lane, cases[i]): i for i in order}
        while pending:
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            for future in done:
                yield pending.pop(future), future.result()
    finally:  # interrupted or failed: the cases in flight finish, the queued ones do not start (a `with` block
        pool.shutdown(cancel_futures=True)  # ran every queued case first: Ctrl-C waited for the whole check)
