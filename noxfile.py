"""Sessions: `parity` (the main job: a full `parity check`), `tests` (the default suite), `slow` (tests behind
the slow marker: the real CIFAR-10 tree). All three share one heavy venv (torch + TensorFlow, ~7 GB) in
.nox/heavy, installed once and reused until pyproject.toml changes."""

from __future__ import annotations

import hashlib
import os
import shutil
import sys
from pathlib import Path

import nox

nox.options.sessions = ["parity"]

ROOT = Path(__file__).parent
VENV = ROOT / ".nox" / "heavy"
BIN = VENV / "bin"


def _heavy_env(session: nox.Session) -> dict:
    """Create/refresh the shared venv; return the environment that puts it first on PATH."""
    stamp = VENV / ".parity-installed"
    digest = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()
    if not (stamp.exists() and stamp.read_text() == digest):
        if not (BIN / "python").exists():
            python = shutil.which("python3.11") or sys.executable
            session.run(python, "-m", "venv", str(VENV), external=True)
        session.run(str(BIN / "python"), "-m", "pip", "install", "-q", "--upgrade", "pip", external=True)
        session.run(str(BIN / "python"), "-m", "pip", "install", "-q", "-e", ".[frameworks,test]", external=True)
        stamp.write_text(digest)
    return {"PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}", "VIRTUAL_ENV": str(VENV),
            "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONUNBUFFERED": "1"}


@nox.session(venv_backend="none")
def parity(session: nox.Session) -> None:
    """Run every parity case and write a report under reports/ (args go to `parity check`)."""
    session.run(str(BIN / "parity"), "check", *session.posargs, env=_heavy_env(session), external=True)


@nox.session(venv_backend="none")
def tests(session: nox.Session) -> None:
    """The default test suite on 2 workers (args go to pytest)."""
    session.run(str(BIN / "pytest"), "-n", "2", *session.posargs, env=_heavy_env(session), external=True)


@nox.session(venv_backend="none")
def slow(session: nox.Session) -> None:
    """Tests behind the slow marker: the real CIFAR-10 tree (PARITY_DATA_DIR, or the shared archive)."""
    session.run(str(BIN / "pytest"), "-m", "slow", *session.posargs, env=_heavy_env(session), external=True)
