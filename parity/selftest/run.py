"""`parity selftest`: the suite measures its own sensitivity. Each fault of parity/selftest/faultlist.py is planted in the
processes it touches, the cases of its component run, and the fault is undone; the verdict says whether the
declared case caught it and named the declared layer, tensor or field first.

Verdicts: DETECTED+LOCALISED (the declared case failed and named the declared place first), DETECTED elsewhere
(some case failed, but not the declared one, or it named another place first), MISSED (every case passed).
"""

from __future__ import annotations

from contextlib import contextmanager

from parity.check.cases import all_cases
from parity.check.compare import run_cases as run
from parity.check.context import CheckContext
from parity.reports.publish import publish
from parity.reports.report import PROBLEMS
from parity.runtime import workers
from parity.runtime.backends import DEFAULT_BACKENDS, REFERENCE, with_api
from parity.selftest import faults
from parity.selftest.faultlist import Fault
from parity.selftest.plantedtests import run_nodes
from parity.train import training

LOCALISED, ELSEWHERE, MISSED = "DETECTED+LOCALISED", "DETECTED elsewhere", "MISSED"
COORDINATOR = "coordinator"


def places(fault: Fault, backends=DEFAULT_BACKENDS) -> list[str]:
    """The processes a fault is planted in: the workers of the backends of its api (not the float64 reference),
    or (a shared spec) every process."""
    if fault.side != "spec":
        return with_api(fault.side, backends)
    return [COORDINATOR, *backends, REFERENCE]


def _each(place: str, function, *args):
    if place == COORDINATOR:
        return function(*args)
    return workers.call(place, workers.target_of(function), *args)


@contextmanager
def planted(fault: Fault, backends=DEFAULT_BACKENDS):
    """The fault applied everywhere it belongs for the duration of the block, then undone there (and every
    worker's training memo emptied, so nothing computed under the fault is reused)."""
    where = places(fault, backends)
    try:
        for place in where:
            for p in fault.patches:
                _each(place, faults.apply_here, p.module, p.target, p.how, *p.params)
        yield
    finally:
        for place in where:
            _each(place, faults.undo_here)
            if place != COORDINATOR:
                _each(place, training.forget_here)


def oracle_nodes(faults_: list[Fault]) -> list[str]:
    """The oracle tests (pytest nodes) these faults are declared to be caught by."""
    return sorted({f.detect for f in faults_ if f.oracle})


def baseline(faults_: list[Fault], cases: list, seed: int, backends=DEFAULT_BACKENDS) -> dict:
    """{case id or test node: row} with no fault planted: the cases, and the oracle tests the faults name."""
    nodes = oracle_nodes(faults_)
    return {**run_cases(cases, seed, backends), **(run_nodes(nodes) if nodes else {})}


def run_cases(cases: list, seed: int, backends=DEFAULT_BACKENDS) -> dict:
    """{case id: row} of `cases` in a fresh check context (no model or reference survives from another run)."""
    ctx = CheckContext(seed=seed)
    try:
        return {cases[i].id: row for i, row in run(cases, ctx, backends)}
    finally:
        ctx.close()


def judge(fault: Fault, rows: dict) -> dict:
    """The fault's verdict from the rows its component's cases gave with it planted."""
    failing = [i for i, r in rows.items() if r["status"] in PROBLEMS]
    target = rows.get(fault.detect)
    named = target["detail"].get("first_over_tol") if target else None
    caught = target is not None and target["status"] in PROBLEMS
    if caught and (fault.first is None or named == fault.first):
        verdict = LOCALISED
    elif failing:
        verdict = ELSEWHERE
    else:
        verdict = MISSED
    reason = ""
    if verdict == MISSED and target and target["status"] in ("skipped", "unrun"):
        reason = f"{fault.detect!r} did not run: {target['detail'].get('why')}"
    elif verdict == MISSED:
        reason = fault.blind_spot or (f"the declared case {fault.detect!r} passed" + (
            f" (max_rel {target['max_rel']:.3g} within its tolerance)" if target and target.get("max_rel") is not None
            else "" if target else " (it is not among the cases run)"))
    elif verdict == ELSEWHERE:
        reason = (f"{fault.detect!r} named {named!r} first, not {fault.first!r}" if caught else
                  f"{fault.detect!r} passed; caught by {', '.join(failing[:3])}")
    return {"id": fault.id, "component": fault.component, "side": fault.side, "story": fault.story,
            "detect": fault.detect, "first_expected": fault.first, "verdict": verdict,
            "status": target["status"] if target else None, "named_first": named, "failing": failing,
            "reason": reason, "known_blind_spot": bool(fault.blind_spot),
            "oracle_absent": bool(fault.oracle and target and target["status"] == "skipped"),
            "max_rel": target.get("max_rel") if target else None}


def run_fault(fault: Fault, seed: int = 0, backends=DEFAULT_BACKENDS, only_declared: bool = False) -> dict:
    """Plant, run the component's cases (or only the declared case), undo, judge. A fault declared to be caught
    by an oracle test is planted in a pytest subprocess that runs that test (parity.selftest.plantedtests)."""
    if fault.oracle:

        return judge(fault, run_nodes([fault.detect], fault.patches))
    cases = [c for c in all_cases() if (c.id == fault.detect if only_declared else c.component == fault.component)]
    with planted(fault, backends):
        rows = run_cases(cases, seed, backends)
    return judge(fault, rows)


def rates(results: list[dict]) -> dict:
    n = len(results)
    detected = sum(r["verdict"] != MISSED for r in results)
    localised = sum(r["verdict"] == LOCALISED for r in results)
    unexpected = [r["id"] for r in results if r["verdict"] == MISSED and not r["known_blind_spot"]
                  and not r.get("oracle_absent")]
    return {"faults": n, "detected": detected, "localised": localised,
            "detection_rate": detected / n if n else 0.0, "localisation_rate": localised / n if n else 0.0,
            "known_blind_spots": sum(r["known_blind_spot"] for r in results),
            "oracles_absent": [r["id"] for r in results if r.get("oracle_absent")],
            "unexpected_misses": unexpected,
            "blind_spots_now_caught": [r["id"] for r in results if r["known_blind_spot"] and r["verdict"] != MISSED]}


def sentence(r: dict) -> str:
    return (f"{r['detected']} of {r['faults']} planted faults detected ({100 * r['detection_rate']:.0f}%), "
            f"{r['localised']} localised to the declared case and place ({100 * r['localisation_rate']:.0f}%); "
            f"{len(r['unexpected_misses'])} unexpected misses, {r['known_blind_spots']} known blind spots"
            + (f", {len(r['oracles_absent'])} not run (their oracle is not installed)" if r.get("oracles_absent")
               else "") + ".")


def html_context(results: dict, figures: list) -> dict:
    return {"title": results["title"], "results": results, "s": results["selftest"]}


def write(out, results: dict):
    return publish(out, "selftest", {"title": "parity selftest: planted faults and the cases that catch them",
                                     **results}, "selftest", html_context)
