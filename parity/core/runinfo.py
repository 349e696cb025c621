"""What a report says about the run that made it: the command line, when it started, how long it took."""

from __future__ import annotations

import shlex
import time
from datetime import datetime, timezone

_RUN: dict = {}


def begin(argv: list[str]) -> None:
    """Called once by the `parity` entry point, before any work."""
    _RUN.update(command=shlex.join(["parity", *argv]), started=datetime.now(timezone.utc),
                clock=time.perf_counter())


def snapshot() -> dict:
    """{command, started, wall_seconds} so far; a library caller that never called begin() gets Nones."""
    if not _RUN:
        return {"command": None, "started": None, "wall_seconds": None}
    return {"command": _RUN["command"], "started": _RUN["started"].isoformat(timespec="seconds"),
            "wall_seconds": round(time.perf_counter() - _RUN["clock"], 1)}
