"""The result store: one JSON file per finished run, named by the hash of everything that decides it
(recipe knobs, framework, body and weights, data, seed, library versions). Writes are atomic (a temporary
file renamed into place), so an interrupted bisect resumes where it stopped and a finished one reruns free.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import tempfile
from pathlib import Path

from parity.components.datasets import cache_dir
from parity.core.errors import ParityError
from parity.core.outputs import check_writable

STORE_ENV = "PARITY_STORE"


def default_store_dir() -> Path:
    return Path(os.environ.get(STORE_ENV) or cache_dir() / "runs")


def run_key(identity: dict) -> str:
    return hashlib.sha256(json.dumps(identity, sort_keys=True, default=str).encode()).hexdigest()[:24]


class ResultStore:
    """get/put run results by identity; `None` directory means an in-memory store (nothing persisted)."""

    def __init__(self, directory: Path | None):
        self.directory = Path(directory) if directory else None
        self._memory: dict[str, dict] = {}
        self.hits = 0
        if self.directory is not None:
            try:
                self.directory.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise ParityError(f"result store {str(self.directory)!r} cannot be created: {exc}") from exc
            check_writable(self.directory, "result store")

    def _path(self, key: str) -> Path:
        return self.directory / f"{key}.json"

    def get(self, identity: dict) -> dict | None:
        key = run_key(identity)
        if key in self._memory:
            self.hits += 1
            return self._memory[key]
        if self.directory is None or not self._path(key).exists():
            return None
        try:
            record = json.loads(self._path(key).read_text())
        except (OSError, ValueError):
            record = None
        if not isinstance(record, dict) or "accuracy" not in record:
            print(f"parity: store entry {str(self._path(key))!r} is not a run record; the run is redone and the "
                  f"entry replaced", file=sys.stderr)
            return None
        if record.get("identity") != json.loads(json.dumps(identity, default=str)):
            return None
        self._memory[key] = record
        self.hits += 1
        return record

    def put(self, identity: dict, result: dict) -> dict:
        record = {"identity": json.loads(json.dumps(identity, default=str)), **result}
        key = run_key(identity)
        self._memory[key] = record
        if self.directory is not None:
            fd, tmp = tempfile.mkstemp(prefix=f".{key}.", dir=self.directory)
            try:
                with os.fdopen(fd, "w") as fh:
                    json.dump(record, fh, indent=1, allow_nan=False, default=str)
                os.replace(tmp, self._path(key))
            finally:
                if os.path.exists(tmp):
                    os.unlink(tmp)
        return record
