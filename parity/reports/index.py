"""The reports index: reports/index.html lists every report folder parity wrote there, newest first."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

from parity.core.outputs import REPORTS_DIR, read_marker
from parity.reports.render import html

INDEX = "index.html"
SHOWN_VERSIONS = ("torch", "tensorflow", "keras", "fastai")


def _entry(folder: Path) -> dict | None:
    marker = read_marker(folder)
    if marker is None:
        return None
    try:
        results = json.loads((folder / "results.json").read_text())
    except (OSError, ValueError):
        results = {}
    if not isinstance(results, dict):
        results = {}
    verdict = results.get("verdict") if isinstance(results.get("verdict"), dict) else {}
    versions = results.get("versions") if isinstance(results.get("versions"), dict) else {}
    return {"name": folder.name, "kind": results.get("kind") or marker.get("kind", "?"),
            "created": results.get("created") or "", "ok": verdict.get("ok"), "text": verdict.get("text", ""),
            "command": results.get("command"), "wall_seconds": results.get("wall_seconds"),
            "versions": ", ".join(f"{k} {versions[k]}" for k in SHOWN_VERSIONS if k in versions)}


def entries(folder: Path) -> list[dict]:
    found = [e for p in Path(folder).iterdir() if p.is_dir() and (e := _entry(p))]
    return sorted(found, key=lambda e: (e["created"], e["name"]), reverse=True)


def write_index(folder: Path) -> Path:
    """(Re)write folder/index.html atomically; returns its path."""
    folder = Path(folder)
    rows = entries(folder)
    text = html("index.html", title=f"parity reports in {folder.resolve()}", rows=rows, folder=str(folder.resolve()))
    fd, tmp = tempfile.mkstemp(prefix=".index-", suffix=".html", dir=folder)
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
        os.chmod(tmp, 0o644)
        os.replace(tmp, folder / INDEX)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return folder / INDEX


def _ours(index: Path) -> bool:
    try:
        return 'content="parity index' in index.read_text(errors="replace")[:2000]
    except OSError:
        return False


def refresh_after(report: Path) -> None:
    """A new report updates the index of its folder: the default reports/ folder, or one that has our index."""
    parent = Path(report).parent
    if parent.resolve() == REPORTS_DIR.resolve() or _ours(parent / INDEX):
        write_index(parent)
