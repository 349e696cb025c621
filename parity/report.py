"""Write a check's results as report.md, report.html, results.json and plots, all or nothing.

Everything is written into a temporary sibling folder that replaces `out` only once complete, so a failed
or interrupted run never leaves a partial report behind.
"""

from __future__ import annotations

import html
import json
import math
import os
import shutil
import tempfile
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path

from parity.plots import divergence_curves, layer_error_plots, resize_matrix_heatmaps

PICTURES = {"resize_divergence.png": resize_matrix_heatmaps, "model_layer_errors.png": layer_error_plots,
            "optim_divergence.png": divergence_curves}

COLUMNS = ("component", "case", "kind", "max_abs", "max_rel", "tol", "noise", "noise_ratio", "status")


def default_out_dir(command: str = "check") -> Path:
    stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")
    return Path("reports") / f"{command}-{stamp}"


@contextmanager
def atomic_dir(out: Path):
    """Yield a temporary folder; on success it becomes `out` (replacing an old one), on error it vanishes."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        yield tmp
        if out.exists():
            trash = Path(tempfile.mkdtemp(prefix=f".{out.name}.old.", dir=out.parent))
            os.replace(out, trash / "old")
            os.replace(tmp, out)
            shutil.rmtree(trash, ignore_errors=True)
        else:
            os.replace(tmp, out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def fmt(value) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        if not math.isfinite(value):
            return str(value)
        return "0" if value == 0 else f"{value:.3g}"
    return str(value)


def _json_safe(value):
    """NaN and inf are not JSON: write them as strings so results.json stays valid."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    return value


def summary(rows: list[dict]) -> dict:
    count = lambda pred: sum(1 for r in rows if pred(r))  # noqa: E731
    return {"cases": len(rows),
            "matched_passed": count(lambda r: r["kind"] == "matched" and r["passed"] is True),
            "matched_failed": count(lambda r: r["kind"] == "matched" and r["passed"] is False),
            "divergences_measured": count(lambda r: r["kind"] == "divergence" and r["passed"] is True),
            "divergences_stale_or_broken": count(lambda r: r["kind"] == "divergence" and r["passed"] is False),
            "skipped": count(lambda r: r["passed"] is None)}


def table_rows(rows: list[dict]) -> list[list[str]]:
    return [[fmt(r[c]) for c in COLUMNS] for r in rows]


def _divergence_line(r: dict) -> str:
    if r["status"] == "skipped":
        return f"- **{r['component']}/{r['case']}**: skipped ({r['detail']['why']}). {r['reason']}"
    return (f"- **{r['component']}/{r['case']}** ({' vs '.join(r['labels'] or [])}): max |a-b| {fmt(r['max_abs'])}, "
            f"mean {fmt(r['mean_abs'])}, max_rel {fmt(r['max_rel'])}. {r['reason']}")


def _first_over(r: dict) -> str:
    layer = r["detail"].get("first_over_tol")
    return f" first layer over tolerance: `{layer}`" if layer else ""


def _layer_line(r: dict) -> str:
    layers = r["detail"]["layers"]
    worst = max(layers, key=lambda layer: layer["max_rel"])
    return (f"- **{r['case']}**: {len(layers)} layers; worst `{worst['layer']}` {fmt(worst['max_rel'])} "
            f"(noise there {fmt(worst.get('noise_rel'))}); first over tolerance: "
            f"{'`' + r['detail']['first_over_tol'] + '`' if r['detail']['first_over_tol'] else 'none'}")


def _markdown(results: dict, pictures: list[str]) -> str:
    rows, s = results["cases"], results["summary"]
    lines = [f"# parity check - {results['created']}", "",
             f"**{s['matched_passed']} of {s['matched_passed'] + s['matched_failed']} matched cases within "
             f"tolerance; {s['divergences_measured']} known divergences measured; {s['skipped']} skipped.**", "",
             "Matched: the torch and Keras mirrors must agree within the tolerance (its source is in the "
             "tolerance table). Divergence: a known difference between defaults, measured; it must still exceed "
             "the tolerance, otherwise the record is stale. `noise` is the larger float32 error of the two sides "
             "against a float64 reference, `noise_ratio` = max_abs / noise.", "",
             "| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    lines += ["| " + " | ".join(cells) + " |" for cells in table_rows(rows)]
    lines += ["", "## Divergences and their reasons", ""]
    lines += [_divergence_line(r) for r in rows if r["kind"] == "divergence"]
    layered = [r for r in rows if r["detail"].get("layers")]
    if layered:
        lines += ["", "## Layer by layer", "", "Each layer's error is relative to that layer's max |value|.", ""]
        lines += [_layer_line(r) for r in layered]
    lines += ["", "## Pictures", ""] + [f"![{p}]({p})" for p in pictures]
    lines += ["", "## Tolerances", ""] + [f"- `{k}` = {v['max_abs']} {v['units']}: {v['source']}"
                                          for k, v in results["tolerances"].items()]
    problems = [r for r in rows if r["status"] in ("FAIL", "STALE", "ERROR", "NON-FINITE")]
    if problems:
        lines += ["", "## Problems", ""] + [f"- {r['component']}/{r['case']}: {r['status']} "
                                             f"{r['detail'].get('error', '')}"
                                             f"{_first_over(r)}" for r in problems]
    lines += ["", "## Versions", ""] + [f"- {k}: {v}" for k, v in results["versions"].items()]
    return "\n".join(lines) + "\n"


def _html(results: dict, pictures: list[str]) -> str:
    s = results["summary"]
    esc = html.escape
    head = "".join(f"<th>{esc(c)}</th>" for c in COLUMNS)
    body = "".join(
        f"<tr class='{esc(r['status'].lower())}'>" + "".join(f"<td>{esc(c)}</td>" for c in cells) + "</tr>"
        for r, cells in zip(results["cases"], table_rows(results["cases"])))
    reasons = "".join(f"<li><b>{esc(r['component'])}/{esc(r['case'])}</b>: {esc(r['reason'])}</li>"
                      for r in results["cases"] if r["kind"] == "divergence")
    imgs = "".join(f"<img src='{esc(p)}' style='max-width:100%'>" for p in pictures)
    return f"""<!doctype html><html><head><meta charset='utf-8'><title>parity check</title><style>
body{{font-family:sans-serif;margin:2em}} table{{border-collapse:collapse;font-size:13px}}
td,th{{border:1px solid #ccc;padding:2px 6px}} tr.fail,tr.stale,tr.error{{background:#fdd}}
tr.skipped{{color:#888}}</style></head><body><h1>parity check - {esc(results['created'])}</h1>
<p><b>{s['matched_passed']} of {s['matched_passed'] + s['matched_failed']} matched cases within tolerance;
{s['divergences_measured']} known divergences measured; {s['skipped']} skipped.</b></p>
<table><tr>{head}</tr>{body}</table><h2>Divergences</h2><ul>{reasons}</ul><h2>Pictures</h2>{imgs}
<h2>Versions</h2><pre>{esc(json.dumps(results['versions'], indent=1))}</pre></body></html>
"""


def write_report(out: Path, rows: list[dict], versions: dict, seed: int) -> Path:
    from parity.tolerances import TOLERANCES

    results = {"created": datetime.now(timezone.utc).isoformat(timespec="seconds"), "seed": seed,
               "versions": versions, "summary": summary(rows), "cases": rows,
               "tolerances": {k: vars(v) for k, v in TOLERANCES.items()}}
    with atomic_dir(out) as tmp:
        pictures = [name for name, draw in PICTURES.items() if draw(rows, tmp / name)]
        (tmp / "results.json").write_text(json.dumps(_json_safe(results), indent=1, allow_nan=False))
        (tmp / "report.md").write_text(_markdown(results, pictures))
        (tmp / "report.html").write_text(_html(results, pictures))
    return Path(out)
