"""Reports of training runs and gap attributions: report.md, report.html, results.json and the
waterfall plot, written all at once into a report folder (parity.report.atomic_dir)."""

from __future__ import annotations

import html
import json
from datetime import datetime, timezone
from pathlib import Path

from parity.plots import waterfall
from parity.report import _json_safe, atomic_dir


def pct(ci: dict) -> str:
    """'81.3% (95% CI 79.0-83.6, 5 seeds)'."""
    if not ci or ci.get("n", 0) == 0:
        return "-"
    if ci["n"] == 1:
        return f"{100 * ci['mean']:.1f}% (1 seed, no CI)"
    return f"{100 * ci['mean']:.1f}% (95% CI {100 * ci['low']:.1f} to {100 * ci['high']:.1f}, {ci['n']} seeds)"


def pts(ci: dict) -> str:
    if not ci or ci.get("n", 0) == 0:
        return "-"
    return f"{100 * ci['mean']:+.2f} [{100 * ci['low']:+.2f}, {100 * ci['high']:+.2f}]"


def share(ci: dict) -> str:
    if not ci or ci.get("n", 0) == 0:
        return "-"
    return f"{100 * ci['mean']:.0f}% [{100 * ci['low']:.0f}, {100 * ci['high']:.0f}]"


def bisect_markdown(result: dict) -> list[str]:
    lines = [f"**{result['answer']}**", "",
             f"{result['configurations']} configurations x {len(result['seeds'])} seeds = {result['runs']} runs "
             f"({result['diverged_runs']} diverged).", "",
             f"- from `{result['from']}`: {pct(result['accuracy_from'])}",
             f"- to `{result['to']}`: {pct(result['accuracy_to'])}",
             f"- gap (points, paired by seed): {pts(result['gap'])}", "", "### Factors (knobs that differ)", "",
             "| factor | from | to | Shapley (pts) [95% CI] | share of gap | alone at A's end | alone at B's end |",
             "|---|---|---|---|---|---|---|"]
    shap = result.get("shapley", {}).get("factors", {})
    oat = result.get("oat", {})
    order = sorted(result["factors"], key=lambda f: -abs(shap.get(f, {}).get("value", {}).get("mean", 0.0)))
    for f in order:
        a, b = result["diff"][f]
        lines.append(f"| {f} | {a} | {b} | {pts(shap.get(f, {}).get('value'))} | "
                     f"{share(shap.get(f, {}).get('share'))} | {pts(oat.get(f, {}).get('from_a'))} | "
                     f"{pts(oat.get(f, {}).get('from_b'))} |")
    if "shapley" in result:
        lines += ["", f"Shapley: {result['shapley']['method']}."]
    if "ddmin" in result:
        d = result["ddmin"]
        lines += ["", "### Delta debugging", "",
                  f"A 1-minimal set closing at least {100 * d['share_target']:.0f}% of the mean gap: "
                  f"**{', '.join(d['set'])}** (closes {share(d['closes'])} of it per seed; {d['tests']} tests)."]
    if "interactions" in result:
        lines += ["", "### Pairwise interactions (at A's end)", "", "| pair | interaction (pts) [95% CI] | matters |",
                  "|---|---|---|"]
        lines += [f"| {k} | {pts(v)} | {'yes' if v['matters'] else 'no'} |" for k, v in result["interactions"].items()]
    return lines


def runs_markdown(summary: list[dict]) -> list[str]:
    lines = ["| recipe | framework | accuracy | per seed | diverged |", "|---|---|---|---|---|"]
    for s in summary:
        seeds = ", ".join("diverged" if a is None else f"{100 * a:.1f}" for a in s["per_seed"])
        lines.append(f"| {s['recipe']} | {s['framework']} | {pct(s['accuracy'])} | {seeds} | {s['diverged']} |")
    return lines


def write(out: Path, title: str, sections: list[tuple[str, list[str]]], results: dict, bisect: dict | None) -> Path:
    """One report folder; `sections` are (heading, markdown lines); the answer goes first."""
    results = {"created": datetime.now(timezone.utc).isoformat(timespec="seconds"), **results}
    with atomic_dir(out) as tmp:
        pictures = ["waterfall.png"] if bisect and waterfall(bisect, tmp / "waterfall.png") else []
        md = [f"# {title}", ""]
        for heading, lines in sections:
            md += ([f"## {heading}", ""] if heading else []) + lines + [""]
        md += [f"![{p}]({p})" for p in pictures]
        md += ["", "## Versions", "", "```", json.dumps(results.get("versions", {}), indent=1), "```"]
        text = "\n".join(md) + "\n"
        (tmp / "report.md").write_text(text)
        (tmp / "results.json").write_text(json.dumps(_json_safe(results), indent=1, allow_nan=False))
        body = "".join(f"<img src='{p}'>" for p in pictures)
        (tmp / "report.html").write_text(f"<!doctype html><html><head><meta charset='utf-8'><title>"
                                         f"{html.escape(title)}</title></head><body><pre>{html.escape(text)}"
                                         f"</pre>{body}</body></html>\n")
    return Path(out)
