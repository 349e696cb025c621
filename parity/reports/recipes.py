"""Reports of recipes before any training (kinds capture and recipes): the knobs of one captured recipe, or
those that differ between two recipes, each value with the provenance its program gave it, and every setting
a program has that no knob expresses. results.json, report.md and report.html (template recipes), and for a
capture the recipe file itself."""

from __future__ import annotations

from pathlib import Path

from parity.reports.publish import publish
from parity.runtime.backends import versions
from parity.train import recipes


def recipe_record(recipe: recipes.Recipe) -> dict:
    """A recipe as JSON: name, source, knobs (values as text), and its origin when it was captured."""
    origin = recipe.origin
    return {"name": recipe.name, "source": recipe.source,
            "knobs": {k: recipes.fmt_value(v) for k, v in recipe.knobs().items()},
            "origin": None if origin is None else {
                "program": origin.program, "argv": list(origin.argv), "stopped_at": origin.stopped_at,
                "weights": list(origin.weights), "approximate": list(origin.approximate),
                "provenance": dict(origin.provenance),
                "uncovered": [{"setting": s, "detail": d} for s, d in origin.uncovered]}}


def knob_rows(chosen: list[recipes.Recipe], knobs: list[str]) -> list[dict]:
    """Per knob: each recipe's value, where it came from ('' for a recipe not captured) and whether it only
    approximates its program."""
    rows = []
    for knob in knobs:
        cells = []
        for r in chosen:
            origin = r.origin
            cells.append({"value": recipes.fmt_value(getattr(r, knob)),
                          "source": origin.source_of(knob) if origin else "",
                          "approximate": bool(origin and knob in origin.approximate)})
        rows.append({"knob": knob, "cells": cells})
    return rows


def diff_rows(a: recipes.Recipe, b: recipes.Recipe) -> list[dict]:
    """The knobs that differ, in KNOBS order, with both values and both provenances."""
    return knob_rows([a, b], list(recipes.diff(a, b)))


def uncovered_lines(chosen: list[recipes.Recipe]) -> list[str]:
    return [f"{r.name}: {s}: {d}" for r in chosen if r.origin for s, d in r.origin.uncovered]


def text_table(rows: list[dict], names: list[str]) -> list[str]:
    """The knob table for a terminal: value, then `<- provenance` under it for captured recipes."""
    width = max([len(r["knob"]) for r in rows] + [4])
    lines = [f"{'knob'.ljust(width)}  " + "  ->  ".join(names)]
    for r in rows:
        values = "  ->  ".join(c["value"] + (" (approximate)" if c["approximate"] else "") for c in r["cells"])
        lines.append(f"{r['knob'].ljust(width)}  {values}")
        for name, c in zip(names, r["cells"]):
            if c["source"]:
                lines.append(f"{''.ljust(width)}    <- {name + ': ' if len(names) > 1 else ''}{c['source']}")
    return lines


def context(results: dict, figures: list) -> dict:
    return {"title": results["title"], "results": results, "r": results["recipes_report"]}


def write(out: Path | None, kind: str, title: str, chosen: list[recipes.Recipe], rows: list[dict], verdict: str,
          files: dict[str, str] | None = None) -> Path:
    report = {"recipes": [recipe_record(r) for r in chosen], "rows": rows, "uncovered": uncovered_lines(chosen),
              "mode": kind}
    results = {"title": title, "recipes_report": report, "verdict": {"ok": None, "text": verdict},
               "versions": versions()}
    return publish(out, kind, results, "recipes", context, files=files)
