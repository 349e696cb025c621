"""Write one report folder of any kind: results.json (with the common envelope), report.md, report.html and
its figures, all or nothing; then refresh the reports index next to it."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

from parity import __version__
from parity.core import runinfo
from parity.core.outputs import report_dir
from parity.core.results import SCHEMA
from parity.reports.index import refresh_after
from parity.reports.render import dumps, render


def envelope(kind: str, results: dict) -> dict:
    """What every results.json carries first: schema, kind, when, the command line and its wall time."""
    return {"schema": SCHEMA, "kind": kind, "parity_version": __version__,
            "created": datetime.now(timezone.utc).isoformat(timespec="seconds"), **runinfo.snapshot(), **results}


def publish(out: Path | None, kind: str, results: dict, template: str, context: Callable[[dict, list], dict],
            draw: Callable[[Path], list] | None = None, files: dict[str, str] | None = None) -> Path:
    """`draw(folder)` writes the figures and returns [{file, caption, ...}]; `context(results, figures)` is the
    one context both `template`.md and `template`.html render from; `files` are further text files of the
    report ({name: text}, e.g. a captured recipe). Returns where the report landed."""
    results = envelope(kind, results)
    with report_dir(out, kind) as pending:
        figures = draw(pending.tmp) if draw else []
        results["figures"] = [f["file"] for f in figures]
        results["wall_seconds"] = runinfo.snapshot()["wall_seconds"]
        (pending.tmp / "results.json").write_text(dumps(results))
        view = context(results, figures)
        (pending.tmp / "report.md").write_text(render(f"{template}.md", **view))
        (pending.tmp / "report.html").write_text(render(f"{template}.html", **view))
        for name, text in (files or {}).items():
            (pending.tmp / name).write_text(text)
    refresh_after(pending.path)
    return pending.path
