"""The check report: results.json, report.md and report.html (template check.html) with its figures."""

from __future__ import annotations

from pathlib import Path

from parity.render import anchor, fmt

COLUMNS = ("component", "case", "kind", "max_abs", "max_rel", "tol", "noise", "noise_ratio", "status")
PROBLEMS = ("FAIL", "STALE", "ERROR", "NON-FINITE")
LARGEST = 10  # divergences listed in the summary, by max_rel: unitless, so pixels, losses and counts compare
DETAIL_SHOWN_ELSEWHERE = {"layers", "first_over_tol", "deciding_layer", "excluded", "traceback", "error", "curve",
                          "mean_abs", "max_abs", "methods"}


def summary(rows: list[dict]) -> dict:
    def count(pred) -> int:
        return sum(1 for r in rows if pred(r))

    return {"cases": len(rows),
            "matched_passed": count(lambda r: r["kind"] == "matched" and r["passed"] is True),
            "matched_failed": count(lambda r: r["kind"] == "matched" and r["passed"] is False),
            "divergences_measured": count(lambda r: r["kind"] == "divergence" and r["passed"] is True),
            "divergences_stale_or_broken": count(lambda r: r["kind"] == "divergence" and r["passed"] is False),
            "skipped": count(lambda r: r["passed"] is None)}


def verdict(s: dict) -> dict:
    ok = s["matched_failed"] == 0 and s["divergences_stale_or_broken"] == 0
    text = (f"{s['matched_passed']} of {s['matched_passed'] + s['matched_failed']} matched cases within tolerance; "
            f"{s['divergences_measured']} known divergences measured"
            f"{'; ' + str(s['divergences_stale_or_broken']) + ' stale or broken' if s['divergences_stale_or_broken'] else ''}"
            f"; {s['skipped']} skipped.")
    return {"ok": ok, "text": text}


def table_rows(rows: list[dict]) -> list[list[str]]:
    return [[fmt(r[c]) for c in COLUMNS] for r in rows]


def error_of(row: dict):
    """The figure the verdict judged: max_rel for relative tolerances, else max_abs."""
    return row["max_rel"] if row["relative"] else row["max_abs"]


# --- Markdown ----------------------------------------------------------------------------------------------

def _problem_line(r: dict) -> str:
    first = r["detail"].get("first_over_tol")
    return (f"- **{r['id']}**: {r['status']}" + (f", first over tolerance `{first}`" if first else "")
            + (f" ({r['detail']['error']})" if r["detail"].get("error") else ""))


def markdown(results: dict, figures: list[dict]) -> str:
    rows = results["cases"]
    lines = [f"# parity check - {results['created']}", "", f"**{results['verdict'].get('text')}**", ""]
    problems = [r for r in rows if r["status"] in PROBLEMS]
    lines += ["## Needs attention", ""] + ([_problem_line(r) for r in problems] or ["Nothing."]) + [""]
    lines += ["Matched: the mirrors must agree within the tolerance. Divergence: a known difference, measured; it must "
              "still exceed the tolerance. `noise` is the larger float32 error of the two sides against a float64 "
              "reference; `noise_ratio` = max_abs / noise. Layer-wise cases report their worst judged layer.", ""]
    for component in dict.fromkeys(r["component"] for r in rows):
        lines += [f"## {component}", "", "| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
        lines += ["| " + " | ".join(cells) + " |" for cells in table_rows([r for r in rows if r["component"] == component])]
        lines += [f"![{f['caption']}]({f['file']})" for f in figures if f["component"] == component] + [""]
    lines += ["## Divergences and their reasons", ""]
    lines += [f"- **{r['id']}** ({' vs '.join(r['labels'] or [])}): {fmt(error_of(r))} {r['units']}. {r['reason']}"
              for r in rows if r["kind"] == "divergence" and r["status"] != "skipped"]
    lines += ["", "## Tolerances", ""] + [f"- `{k}` = {v['max_abs']} {v['units']}: {v['source']}"
                                          for k, v in results["tolerances"].items()]
    lines += ["", "## Provenance", "", f"- command: `{results.get('command')}`", f"- wall time: {results.get('wall_seconds')} s",
              f"- seed: {results['seed']}, data folder: {results.get('data_dir')}"]
    lines += [f"- {k}: {v}" for k, v in results["versions"].items()]
    return "\n".join(lines) + "\n"


# --- HTML --------------------------------------------------------------------------------------------------

def _view(row: dict, anchors: dict) -> dict:
    """A row as the template shows it."""
    status = row["status"]
    label = "measured" if row["kind"] == "divergence" and status == "pass" else status
    extra = [(k, fmt(v) if not isinstance(v, (list, dict)) else _compact(v)) for k, v in row["detail"].items()
             if k not in DETAIL_SHOWN_ELSEWHERE]
    return {**row, "anchor": anchors[row["id"]], "problem": status in PROBLEMS, "label": label,
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
            "problems": [v for v in views if v["problem"]], "largest": largest}


def results_for(rows: list[dict], seed: int, data_dir) -> dict:
    from parity.tolerances import TOLERANCES

    s = summary(rows)
    return {"seed": seed, "data_dir": str(Path(data_dir).resolve()) if data_dir else None, "summary": s,
            "verdict": verdict(s), "cases": rows, "tolerances": {k: vars(v) for k, v in TOLERANCES.items()}}


def write_report(out: Path | None, rows: list[dict], versions: dict, seed: int, data_dir=None) -> Path:
    from parity.plots import draw_case_figures
    from parity.publish import publish

    return publish(out, "check", {**results_for(rows, seed, data_dir), "versions": versions},
                   markdown, "check.html", html_context, draw=lambda folder: draw_case_figures(rows, folder))
