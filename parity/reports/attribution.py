"""Reports of training runs and gap attributions (kinds train, equivalence, bisect, thread): results.json,
report.md and report.html (template training.html) with the waterfall plot."""

from __future__ import annotations

from pathlib import Path

from parity.core.stats import ACCURACY_CI
from parity.reports.plots import waterfall
from parity.reports.publish import publish
from parity.reports.render import clear, pct, pts, share
from parity.train.budget import time_clause

VERDICT_WORDS = {"train": "accuracy", "bisect": "answer", "thread": "answer"}
TWO_BY_TWO = {"columns": ("size=64", "no size (32 px)"),
              "rows": (("default lr = slice(3e-3)", ("fastai_v1_fit", "fastai_v1_nosize")),
                       ("lr = 0.003", ("fastai_v1_fit_lr003", "fastai_v1_nosize_lr003")))}


def bisect_lines(result: dict) -> list[str]:
    lines = [f"**{result['answer']}**", "",
             f"{result['configurations']} configurations x {len(result['seeds'])} seeds = {result['runs']} runs "
             f"({result['diverged_runs']} diverged).", "",
             f"- from `{result['from']}`: {pct(result['accuracy_from'])}",
             f"- to `{result['to']}`: {pct(result['accuracy_to'])}",
             f"- gap (points, paired by seed): {pts(result['gap'])}", "", "### Factors (knobs that differ)", "",
             "| factor | from | to | Shapley (pts) [95% CI] | share of gap | alone at A's end | alone at B's end |",
             "|---|---|---|---|---|---|---|"]
    for f in factor_rows(result):
        lines.append(f"| {f['name']} | {f['a']} | {f['b']} | {pts(f['value'])} | {share(f['share'])} | "
                     f"{pts(f['from_a'])} | {pts(f['from_b'])} |")
    if result.get("shapley"):
        lines += ["", f"Shapley: {result['shapley']['method']}."]
    if result.get("budget"):
        lines += ["", "### Budget", ""] + budget_lines(result["budget"])
    if result.get("fidelity"):
        lines += ["", "### Two fidelities", ""] + fidelity_lines(result["fidelity"])
    if result.get("ddmin"):
        d = result["ddmin"]
        lines += ["", "### Delta debugging", "",
                  f"A 1-minimal set closing at least {100 * d['share_target']:.0f}% of the mean gap: "
                  f"**{', '.join(d['set'])}** (closes {share(d['closes'])} of it per seed; {d['tests']} tests)."]
    if result.get("interactions"):
        lines += ["", "### Pairwise interactions (at A's end)", "", "| pair | interaction (pts) [95% CI] | matters |",
                  "|---|---|---|"]
        lines += [f"| {k} | {pts(v)} | {'yes' if v['matters'] else 'no'} |" for k, v in result["interactions"].items()]
    return lines


def budget_lines(b: dict) -> list[str]:
    """A budgeted bisect: runs spent against the full design, what the screen left out, why it stopped."""
    beyond = f", or beyond the {b['confirm']} largest screened effects" if b.get("confirm") else ""
    low = f" at the lower fidelity ({b['screen_runs']} runs there)" if "screen_runs" in b else ""
    lines = [f"{b['runs']} runs of the budget's {b['budget']} (the full design: {b['full_design_runs']}); "
             f"{len(b['seeds_used'])} seeds{time_clause(b)}; stopped because {b['stopped']}.",
             f"Screened out (one at a time from both ends on {len(b['screen_seeds'])} seeds{low}; clearly zero: "
             f"every CI within +-{100 * b['screen_bound']:.2f} pts{beyond}): {', '.join(b['screened_out']) or 'none'}; "
             f"their joint effect at full size, held at A's values: {pts(b['screened_joint'])}."]
    for f, e in b["screened_out"].items():
        lines.append(f"- {f}: alone at A's end {pts(e['from_a'])}, alone at B's end {pts(e['from_b'])}")
    return lines


def fidelity_lines(fid: dict) -> list[str]:
    """A screened bisect: each factor's effect at the screen's fidelity beside its full-size Shapley value."""
    screen, full = fid["screen"], fid["full"]
    size = "{train_per_class} + {test_per_class} images per class, {epochs} epochs".format
    lines = [f"Screen ({fid['screen_runs']} runs): {size(**_all(screen))}; gap {pts(fid['screen_gap'])}. "
             f"Full size: {size(**_all(full))}. The one-at-a-time columns above are the screen's.", "",
             "| factor | screened effect (pts) | full-size Shapley (pts) | confirmed | sign |", "|---|---|---|---|---|"]
    for f, r in fid["factors"].items():
        sign = ("**changes (both CIs clear of zero)**" if r["clear"] else "**changes**") if r["sign_change"] else \
            ("same" if r["full"] else "-")
        lines.append(f"| {f} | {pts(r['screen'])} | {pts(r['full'])} | {'yes' if r['confirmed'] else 'no'} | "
                     f"{sign} |")
    return lines


def _all(fields: dict) -> dict:
    return {k: "all" if v is None else v for k, v in fields.items()}


def factor_rows(result: dict) -> list[dict]:
    """Factors, largest |Shapley| first, with their values at both ends and every figure measured."""
    shap = result.get("shapley", {}).get("factors", {})
    oat = result.get("oat", {})
    order = sorted(result["factors"], key=lambda f: -abs(shap.get(f, {}).get("value", {}).get("mean", 0.0)))
    rows = []
    for f in order:
        a, b = result["diff"][f]
        value = shap.get(f, {}).get("value")
        rows.append({"name": f, "a": a, "b": b, "value": value, "share": shap.get(f, {}).get("share"),
                     "from_a": oat.get(f, {}).get("from_a"), "from_b": oat.get(f, {}).get("from_b"),
                     "distinct": clear(value)})
    return rows


def runs_lines(summaries: list[dict]) -> list[str]:
    lines = ["| recipe | framework | accuracy | per seed | diverged |", "|---|---|---|---|---|"]
    for s in summaries:
        seeds = ", ".join("diverged" if a is None else f"{100 * a:.1f}" for a in s["per_seed"])
        lines.append(f"| {s['recipe']} | {s['framework']} | {pct(s['accuracy'])} | {seeds} | {s['diverged']} |")
    return lines + ["", f"Accuracy CIs: {ACCURACY_CI}."]


def _sections(results: dict) -> list[tuple[str, list[str]]]:
    """(heading, markdown lines) in report order, from whatever the results hold."""
    sections = [("", [f"**{results['verdict']['text']}**"])]
    if results.get("summaries"):
        sections.append((results.get("runs_heading", "Runs"), runs_lines(results["summaries"])))
    if results.get("equivalence"):
        eq = results["equivalence"]
        sections.append(("Is it the framework?", [eq["sentence"], ""] + runs_lines(eq["summary"])))
    if results.get("bisect"):
        b = results["bisect"]
        sections.append((f"Attribution {b['from']} -> {b['to']}", bisect_lines(b)[2:]))
    if results.get("notes"):
        sections.append(("Notes", [n for note in results["notes"] for n in (note, "")]))
    return sections


def _two_by_two(summaries: list[dict]) -> dict | None:
    by_recipe = {s["recipe"]: s for s in summaries}
    names = [n for _, pair in TWO_BY_TWO["rows"] for n in pair]
    if not all(n in by_recipe for n in names):
        return None
    return {"columns": TWO_BY_TWO["columns"],
            "rows": [{"label": label, "cells": [{"recipe": n, "accuracy": by_recipe[n]["accuracy"]} for n in pair]}
                     for label, pair in TWO_BY_TWO["rows"]]}


def html_context(results: dict, figures: list[dict]) -> dict:
    kind = results["kind"]
    ok = results["verdict"]["ok"]
    word = VERDICT_WORDS.get(kind) or ("equivalent" if ok else "not shown equivalent")
    eq = results.get("equivalence")
    return {"title": results["title"], "results": results, "verdict_word": word, "figures": figures,
            "summaries": results.get("summaries"), "runs_heading": results.get("runs_heading", "Runs"),
            "equivalence": eq, "equivalence_sentence": eq["sentence"] if eq else "",
            "bisect": results.get("bisect"), "factors": factor_rows(results["bisect"]) if results.get("bisect") else [],
            "budget_time": time_clause((results.get("bisect") or {}).get("budget") or {}),
            "two_by_two": _two_by_two(results.get("summaries") or []) if kind == "thread" else None,
            "notes": results.get("notes", []), "ci_method": ACCURACY_CI,
            "runs_markdown": lambda summaries: "\n".join(runs_lines(summaries)),
            "bisect_markdown": lambda b: "\n".join(bisect_lines(b)[2:])}


def write(out: Path | None, kind: str, title: str, results: dict) -> Path:
    """One report of a training kind; `results` holds summaries / equivalence / bisect / notes as it has them,
    a verdict {ok, text}, data, body, seeds and versions."""

    def draw(folder: Path) -> list[dict]:
        if results.get("bisect") and waterfall(results["bisect"], folder / "waterfall.png"):
            return [{"file": "waterfall.png", "caption": "Shapley waterfall: from A's accuracy through each factor's "
                     "share to B's, with 95% CIs"}]
        return []

    return publish(out, kind, {"title": title, **results}, "training", html_context, draw)
