"""The check report: results.json, report.md and report.html (template check.html) with its figures."""

from __future__ import annotations

from pathlib import Path

from parity.check.tolerances import TOLERANCES
from parity.reports.plots import draw_case_figures
from parity.reports.publish import publish
from parity.reports.render import anchor, fmt
from parity.runtime.backends import DEFAULT_BACKENDS, get_backend

COLUMNS = ("component", "case", "kind", "max_abs", "max_rel", "tol", "noise", "noise_ratio", "status")
PROBLEMS = ("FAIL", "STALE", "ERROR", "NON-FINITE")
LARGEST = 10  # divergences listed in the summary, by max_rel: unitless, so pixels, losses and counts compare
DETAIL_SHOWN_ELSEWHERE = {"layers", "first_over_tol", "deciding_layer", "excluded", "traceback", "error", "curve",
                          "mean_abs", "max_abs", "methods", "pairs", "unsupported", "deciding_pair", "per_backend"}


def summary(rows: list[dict]) -> dict:
    def count(pred) -> int:
        return sum(1 for r in rows if pred(r))

    return {"cases": len(rows),
            "matched_passed": count(lambda r: r["kind"] == "matched" and r["passed"] is True),
            "matched_failed": count(lambda r: r["kind"] == "matched" and r["passed"] is False),
            "divergences_measured": count(lambda r: r["kind"] == "divergence" and r["passed"] is True),
            "divergences_stale_or_broken": count(lambda r: r["kind"] == "divergence" and r["passed"] is False),
            "skipped": count(lambda r: r["status"] == "skipped"),
            "unsupported": count(lambda r: r["status"] == "unsupported")}


def verdict(s: dict) -> dict:
    ok = s["matched_failed"] == 0 and s["divergences_stale_or_broken"] == 0
    text = (f"{s['matched_passed']} of {s['matched_passed'] + s['matched_failed']} matched cases within tolerance; "
            f"{s['divergences_measured']} known divergences measured"
            f"{'; ' + str(s['divergences_stale_or_broken']) + ' stale or broken' if s['divergences_stale_or_broken'] else ''}"
            f"; {s['skipped']} skipped"
            f"{'; ' + str(s['unsupported']) + ' not run (fewer than two backends implement them)' if s['unsupported'] else ''}.")
    return {"ok": ok, "text": text}


def table_rows(rows: list[dict]) -> list[list[str]]:
    return [[fmt(r[c]) for c in COLUMNS] for r in rows]


def error_of(row: dict):
    """The figure the verdict judged: max_rel for relative tolerances, else max_abs."""
    return row["max_rel"] if row["relative"] else row["max_abs"]


# --- HTML --------------------------------------------------------------------------------------------------

def _view(row: dict, anchors: dict) -> dict:
    """A row as the template shows it."""
    status = row["status"]
    label = "measured" if row["kind"] == "divergence" and status == "pass" else status
    extra = [(k, fmt(v) if not isinstance(v, (list, dict)) else _compact(v)) for k, v in row["detail"].items()
             if k not in DETAIL_SHOWN_ELSEWHERE]
    detail = {**dict.fromkeys(DETAIL_SHOWN_ELSEWHERE), **row["detail"]}  # the template asks each by name
    return {**row, "detail": detail, "anchor": anchors[row["id"]], "problem": status in PROBLEMS, "label": label,
            "pill": anchor(label), "error": error_of(row), "extra": extra}


def _compact(value) -> str:
    text = str(value)
    return text if len(text) <= 400 else text[:400] + " ..."


def _anchors(rows: list[dict]) -> dict:
    out, seen = {}, set()
    for r in rows:
        base = name = anchor(r["id"])
        k = 2
        while name in seen:
            name, k = f"{base}-{k}", k + 1
        seen.add(name)
        out[r["id"]] = name
    return out


def _pair_key(a: str, b: str) -> str:
    return f"{a} vs {b}"


def pair_counts(results: dict) -> list[dict]:
    """Per pair of backends: cases that matched, that diverged (as recorded or measured), and the cases one of
    the two could not run."""
    import itertools

    rows = [r for r in results["cases"] if r["detail"].get("pairs") or r["detail"].get("unsupported")]
    out = []
    for a, b in itertools.combinations(results.get("backends", []), 2):
        counts = {"pair": _pair_key(a, b), "matched": 0, "divergent": 0, "failed": 0, "unsupported": 0}
        for r in rows:
            if a in r["detail"].get("unsupported", {}) or b in r["detail"].get("unsupported", {}):
                counts["unsupported"] += 1
                continue
            pair = next((p for p in r["detail"].get("pairs", []) if (p["a"], p["b"]) == (a, b)), None)
            if pair is None:
                continue
            if not pair["passed"]:
                counts["failed"] += 1
            elif pair["expect"] == "divergence" or pair["status"] == "diverges":
                counts["divergent"] += 1
            else:
                counts["matched"] += 1
        out.append(counts)
    return out


def kernel_twins(names) -> list[tuple[str, str, str]]:
    """(base, native, twin) among `names`: `native` has another api and other kernels than `base`; `twin` has
    native's api on base's kernels (torch, keras_tf, keras_torch). Whether a base-vs-native difference also
    appears against the twin tells an API default (it persists) from the kernels (it vanishes)."""
    b = {n: get_backend(n) for n in names}
    return [(base, native, twin) for base in names for native in names for twin in names
            if b[native].api != b[base].api and b[native].kernels != b[base].kernels
            and b[twin].api == b[native].api and b[twin].kernels == b[base].kernels]


def persistence(results: dict) -> list[dict]:
    """For every difference recorded between a base and a native backend (or met only on the kernel twin):
    does it also appear between base and twin? Persisting means the api's defaults; vanishing, the kernels."""
    out = []
    for base, native, twin in kernel_twins(results.get("backends", [])):
        for r in results["cases"]:
            pairs = {(p["a"], p["b"]): p for p in r["detail"].get("pairs", [])}
            on_native, on_twin = pairs.get((base, native)), pairs.get((base, twin))
            if on_native is None or on_twin is None:
                continue
            differs = [p["expect"] == "divergence" and p["passed"] or p["status"] == "diverges"
                       for p in (on_native, on_twin)]
            if not any(differs):
                continue
            verdict = (f"persists: {native}'s API default" if all(differs) else
                       f"vanishes on {twin}: {native}'s kernels" if differs[0] else
                       f"appears only on {twin}: its backend's own behaviour")
            out.append({"id": r["id"], "base": base, "native": native, "twin": twin,
                        "native_rel": on_native["max_rel"], "twin_rel": on_twin["max_rel"], "verdict": verdict,
                        "why": on_twin.get("why") or r["reason"]})
    return out


def html_context(results: dict, figures: list[dict]) -> dict:
    anchors = _anchors(results["cases"])
    views = [_view(r, anchors) for r in results["cases"]]
    components = []
    for name in dict.fromkeys(v["component"] for v in views):
        members = [v for v in views if v["component"] == name]
        components.append({"name": name, "anchor": anchor(name), "rows": members,
                           "matched": sum(v["status"] == "pass" and v["kind"] == "matched" for v in members),
                           "measured": sum(v["status"] == "pass" and v["kind"] == "divergence" for v in members),
                           "problems": sum(v["problem"] for v in members),
                           "skipped": sum(v["status"] == "skipped" for v in members),
                           "figures": [f for f in figures if f["component"] == name]})
    divergences = [v for v in views if v["kind"] == "divergence" and v["status"] == "pass"]
    largest = sorted(divergences, key=lambda v: -(v["max_rel"] or 0.0))[:LARGEST]
    return {"title": f"parity check: {results['verdict']['text']}", "results": results, "components": components,
            "problems": [v for v in views if v["problem"]], "largest": largest, "pairs": pair_counts(results),
            "persistence": persistence(results), "columns": COLUMNS,
            "divergence_rows": [v for v in views if v["kind"] == "divergence" and v["status"] != "skipped"]}


def results_for(rows: list[dict], seed: int, data_dir, backends) -> dict:
    s = summary(rows)
    results = {"seed": seed, "data_dir": str(Path(data_dir).resolve()) if data_dir else None,
               "backends": list(backends), "summary": s, "verdict": verdict(s), "cases": rows,
               "tolerances": {k: vars(v) for k, v in TOLERANCES.items()}}
    return {**results, "pairs": pair_counts(results), "persistence": persistence(results)}


def write_report(out: Path | None, rows: list[dict], versions: dict, seed: int, data_dir=None,
                 backends=DEFAULT_BACKENDS) -> Path:

    return publish(out, "check", {**results_for(rows, seed, data_dir, backends), "versions": versions},
                   "check", html_context, draw=lambda folder: draw_case_figures(rows, folder))
