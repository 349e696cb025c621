"""`parity diff RUN_A RUN_B`: what changed between two runs of the same kind.

Check runs: cases whose status changed, cases added or removed, and cases whose judged error moved by more
than a factor. Training runs (train, equivalence, bisect, thread): every accuracy and Shapley value both
runs measured, with the change and whether the two 95% CIs still overlap. The library versions that differ
come first, because an upgrade is the usual reason to diff.
"""

from __future__ import annotations

import math
from pathlib import Path

from parity import __version__
from parity.core.errors import ParityError
from parity.core.results import load
from parity.reports.publish import publish
from parity.reports.render import clear

REQUIRED = {"check": ("cases", "summary", "verdict", "versions"), "train": ("summaries", "verdict", "versions"),
            "equivalence": ("equivalence", "verdict", "versions"), "bisect": ("bisect", "verdict", "versions"),
            "thread": ("summaries", "bisect", "equivalence", "verdict", "versions")}
TINY = 1e-12  # errors below this count as zero when taking ratios


def load_run(path) -> dict:
    """A report folder (or its results.json) read through parity.core.results (older schemas migrated, others
    refused naming their version) and checked for the fields a diff reads; errors name path and field."""
    results = load(path)
    kind = results.get("kind")
    if kind not in REQUIRED:
        raise ParityError(f"run {str(path)!r}: results.json kind {kind!r} is not one parity diff compares "
                          f"({', '.join(REQUIRED)})")
    missing = [f for f in REQUIRED[kind] if f not in results]
    if missing:
        raise ParityError(f"run {str(path)!r}: results.json of kind {kind!r} is missing field {missing[0]!r}")
    return {**results, "_path": str(path)}


def version_changes(a: dict, b: dict) -> list[dict]:
    va, vb = a.get("versions", {}), b.get("versions", {})
    return [{"name": k, "a": va.get(k), "b": vb.get(k)} for k in sorted(set(va) | set(vb)) if va.get(k) != vb.get(k)]


def _error(row: dict):
    value = row.get("max_rel") if row.get("relative") else row.get("max_abs")
    return value if isinstance(value, (int, float)) else None


def _moved(ea, eb, factor: float) -> float | None:
    """The factor by which an error moved (>= 1), or None if it did not move by more than `factor`."""
    if ea is None or eb is None:
        return None
    lo, hi = sorted((max(abs(ea), TINY), max(abs(eb), TINY)))
    ratio = hi / lo
    return ratio if ratio > factor else None


def diff_check(a: dict, b: dict, factor: float) -> dict:
    cases_a = {r["id"]: r for r in a["cases"]}
    cases_b = {r["id"]: r for r in b["cases"]}
    common = [i for i in cases_a if i in cases_b]
    status = [{"id": i, "a": cases_a[i]["status"], "b": cases_b[i]["status"]} for i in common
              if cases_a[i]["status"] != cases_b[i]["status"]]
    moved = []
    for i in common:
        ea, eb = _error(cases_a[i]), _error(cases_b[i])
        ratio = _moved(ea, eb, factor)
        if ratio is not None:
            moved.append({"id": i, "a": ea, "b": eb, "factor": ratio, "status_a": cases_a[i]["status"],
                          "status_b": cases_b[i]["status"]})
    added = [i for i in cases_b if i not in cases_a]
    removed = [i for i in cases_a if i not in cases_b]
    changed = bool(status or added or removed)
    return {"status_changed": status, "added": added, "removed": removed, "moved": moved, "factor": factor,
            "changed": changed}


def _overlap(x: dict, y: dict) -> bool:
    """Two CIs overlap; a CI with one seed (infinite) overlaps everything."""

    def bounds(ci):
        low, high = ci.get("low"), ci.get("high")
        low = -math.inf if not isinstance(low, (int, float)) else low
        high = math.inf if not isinstance(high, (int, float)) else high
        return low, high
    (la, ha), (lb, hb) = bounds(x), bounds(y)
    return la <= hb and lb <= ha


def _accuracies(results: dict) -> dict:
    """{label: CI} of every accuracy a training report holds."""
    out = {}
    for s in results.get("summaries") or []:
        out[f"{s['recipe']} [{s['framework']}]"] = s["accuracy"]
    for s in (results.get("equivalence") or {}).get("summary", []):
        out[f"{s['recipe']} [{s['framework']}] (equivalence)"] = s["accuracy"]
    bis = results.get("bisect")
    if bis:
        out[f"{bis['from']} (bisect start)"] = bis["accuracy_from"]
        out[f"{bis['to']} (bisect end)"] = bis["accuracy_to"]
        out["gap (bisect)"] = bis["gap"]
    return out


def _shapley(results: dict) -> dict:
    factors = ((results.get("bisect") or {}).get("shapley") or {}).get("factors", {})
    return {name: f["value"] for name, f in factors.items()}


def _compare(values_a: dict, values_b: dict) -> list[dict]:
    rows = []
    for key in [k for k in values_a if k in values_b]:
        x, y = values_a[key], values_b[key]
        if not (x.get("n") and y.get("n")):
            continue
        rows.append({"name": key, "a": x, "b": y, "change": y["mean"] - x["mean"], "overlap": _overlap(x, y)})
    return rows


def diff_training(a: dict, b: dict) -> dict:
    accuracy = _compare(_accuracies(a), _accuracies(b))
    shapley = _compare(_shapley(a), _shapley(b))
    eq_a, eq_b = a.get("equivalence"), b.get("equivalence")
    flip = None
    if eq_a and eq_b and eq_a["test"]["equivalent"] != eq_b["test"]["equivalent"]:
        flip = {"a": eq_a["test"]["equivalent"], "b": eq_b["test"]["equivalent"]}
    clear_a = sorted(k for k, v in _shapley(a).items() if clear(v))
    clear_b = sorted(k for k, v in _shapley(b).items() if clear(v))
    changed = bool(any(not r["overlap"] for r in accuracy + shapley) or flip or clear_a != clear_b)
    settings = [{"name": k, "a": a.get(k), "b": b.get(k)} for k in ("data", "body", "seeds") if a.get(k) != b.get(k)]
    return {"accuracy": accuracy, "shapley": shapley, "equivalence_flip": flip, "clear_factors": [clear_a, clear_b],
            "settings": settings, "changed": changed}


def diff_runs(path_a, path_b, factor: float = 2.0) -> dict:
    if not factor > 1:
        raise ParityError(f"--factor must be greater than 1, got {factor!r}")
    a, b = load_run(path_a), load_run(path_b)
    if a["kind"] != b["kind"]:
        raise ParityError(f"runs of different kinds cannot be compared: {a['_path']!r} is a {a['kind']} run, "
                          f"{b['_path']!r} a {b['kind']} run")
    body = diff_check(a, b, factor) if a["kind"] == "check" else diff_training(a, b)
    return {"compared_kind": a["kind"], "run_a": {"path": a["_path"], "created": a.get("created"),
                                                  "command": a.get("command")},
            "run_b": {"path": b["_path"], "created": b.get("created"), "command": b.get("command")},
            "versions_changed": version_changes(a, b), **body}


def sentence(d: dict) -> str:
    if d["compared_kind"] == "check":
        parts = [f"{len(d['status_changed'])} case(s) changed status", f"{len(d['added'])} added",
                 f"{len(d['removed'])} removed", f"{len(d['moved'])} moved by more than {d['factor']:g}x"]
    else:
        flagged = [r for r in d["accuracy"] + d["shapley"] if not r["overlap"]]
        parts = [f"{len(flagged)} of {len(d['accuracy']) + len(d['shapley'])} accuracies and Shapley values moved "
                 f"beyond their CIs"]
        if d["equivalence_flip"]:
            parts.append("the equivalence verdict flipped")
    head = "Verdicts changed" if d["changed"] else "No change in verdicts"
    versions = f"; {len(d['versions_changed'])} library version(s) differ" if d["versions_changed"] else ""
    return f"{head}: {', '.join(parts)}{versions}."


def _ci_text(ci: dict) -> str:
    if ci.get("n", 0) > 1:
        return f"{100 * ci['mean']:.1f} [{100 * ci['low']:.1f}, {100 * ci['high']:.1f}]"
    return f"{100 * ci['mean']:.1f}"


def html_context(results: dict, figures: list) -> dict:
    return {"title": f"parity diff: {results['verdict']['text']}", "results": results, "d": results["diff"],
            "ci_text": _ci_text}


def write(out, d: dict) -> Path:
    results = {"diff": d, "verdict": {"ok": not d["changed"], "text": sentence(d)},
               "versions": {"parity": __version__}}
    return publish(out, "diff", results, "diff", html_context)
