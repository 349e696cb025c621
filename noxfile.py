"""Sessions: `parity` (the main job: a full `parity check`, then a small gap attribution on the embedded
digits), `tests` (the default suite, then the fastai 1.0.61 oracle tests), `oracle_v1` (those alone),
`selftest` (every planted fault), `bench` (whole-process timings), `docs` (the reference site, MkDocs strict), `slow` (tests behind the slow marker: the real CIFAR-10 tree),
`thread` (the forum thread's comparison on CIFAR-10 from PARITY_DATA_DIR / --data-dir) and `equivalence`
(torch vs Keras end accuracy of fastai's recipe at full digits size). All share one heavy venv (torch +
TensorFlow, ~7 GB) in .nox/heavy, installed once and reused until pyproject.toml changes."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
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
    env = _heavy_env(session)
    session.run(str(BIN / "parity"), "check", *session.posargs, env=env, external=True)
    # a small attribution on the offline default: which of the optimizer-side knobs explain the gap between
    # fastai's fit(3) and the thread's Keras code (exact Shapley over 3 factors, 3 seeds, 300 digits)
    session.run(str(BIN / "parity"), "bisect", "--from", "fastai_v1_fit", "--to", "keras_thread_64",
                "--factors", "bn_policy,optimizer,lr", "--train-per-class", "20", "--test-per-class", "10",
                "--seeds", "3", "--quiet", env=env, external=True)


FASTAI1 = ROOT / ".nox" / "fastai1"
FRAMEWORKS_ENV = "PARITY_TEST_FRAMEWORKS"  # parity.selftest.plantedtests: 'torch' leaves TensorFlow out of a test process


def _oracle_v1(session: nox.Session, env: dict, *args) -> tuple[list[str], dict]:
    """The command and environment of the fastai 1.0.61 oracle tests. fastai 1.0.61 lives in its own folder
    (--no-deps: it reuses the heavy venv's torch and fastprogress; it cannot share a venv with fastai 2), first
    on sys.path with tests/fastai_v1_shim (pkg_resources); installed here when missing."""
    if not (FASTAI1 / "fastai" / "__init__.py").exists():
        session.run(str(BIN / "python"), "-m", "pip", "install", "-q", "--no-deps", "--target", str(FASTAI1),
                    "fastai==1.0.61", external=True)
    first = [str(FASTAI1), str(ROOT / "tests" / "fastai_v1_shim")]  # a PYTHONPATH already set stays after them
    path = os.pathsep.join(first + ([os.environ["PYTHONPATH"]] if os.environ.get("PYTHONPATH") else []))
    return ([str(BIN / "pytest"), "-p", "no:xdist", "tests/test_oracle_fastai_v1.py", *args],
            {**os.environ, **env, "PYTHONPATH": path, FRAMEWORKS_ENV: "torch"})  # no TensorFlow: see conftest


def _run_oracle_v1(session: nox.Session, env: dict, *args) -> None:
    command, oracle_env = _oracle_v1(session, env, *args)
    session.run(*command, env=oracle_env, external=True)


@nox.session(venv_backend="none")
def tests(session: nox.Session) -> None:
    """The default test suite on 2 workers (args go to pytest), then the Ray tests (a local Ray cluster beside
    two pytest workers' backends came to the machine's 24 GB) beside the fastai 1.0.61 oracle tests."""
    env = _heavy_env(session)
    if session.posargs:
        session.run(str(BIN / "pytest"), "-n", "2", *session.posargs, env=env, external=True)
        return
    session.run(str(BIN / "pytest"), "-n", "2", "-m", "not slow and not ray", env=env, external=True)
    # the Ray tests and the oracle tests side by side (each about 20 s alone, neither using both cores), the oracle's
    # output held back until the Ray tests are done. The Ray tests' own process needs no TensorFlow (their runs load
    # it in Ray's workers)
    command, oracle_env = _oracle_v1(session, env)
    with tempfile.TemporaryFile("w+") as log:
        oracle = subprocess.Popen(command, env=oracle_env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, text=True)
        try:
            session.run(str(BIN / "pytest"), "-p", "no:xdist", "-m", "ray and not slow",
                        env={**env, FRAMEWORKS_ENV: "torch"}, external=True)
        finally:
            code = oracle.wait()
            log.seek(0)
            print(f"$ {' '.join(command)}", log.read(), sep="\n", flush=True)
    if code:
        session.error(f"the fastai 1.0.61 oracle tests failed (pytest exit code {code})")


@nox.session(venv_backend="none")
def oracle_v1(session: nox.Session) -> None:
    """fastai 1.0.61, the thread's version, as the oracle of every fastai 1 fact (tests/test_oracle_fastai_v1.py)."""
    _run_oracle_v1(session, _heavy_env(session), *session.posargs)


@nox.session(venv_backend="none")
def slow(session: nox.Session) -> None:
    """Tests behind the slow marker: the real CIFAR-10 tree (PARITY_DATA_DIR, or the shared archive)."""
    session.run(str(BIN / "pytest"), "-m", "slow", *session.posargs, env=_heavy_env(session), external=True)


@nox.session(venv_backend="none")
def thread(session: nox.Session) -> None:
    """The thread's comparison on CIFAR-10 (pass --data-dir or set PARITY_DATA_DIR): the 2x2, both Keras
    variants, the attribution fastai_v1_fit -> keras_thread_64 (screened at 50 images per class and 1 epoch, the
    3 leading knobs confirmed at full size) and torch-vs-Keras equivalence; ~13 min on 2 cores. The full design
    (delta debugging and interactions too, ~50 min) is `parity thread` without --screen-at."""
    env = _heavy_env(session)
    if not os.environ.get("PARITY_DATA_DIR") and "--data-dir" not in session.posargs:
        session.error("the thread session needs CIFAR-10 as an image-folder tree: nox -s thread -- --data-dir "
                      "PATH (or set PARITY_DATA_DIR)")
    session.run(str(BIN / "parity"), "thread", "--train-per-class", "150", "--test-per-class", "100",
                "--seeds", "3", "--screen-at", "train_per_class=50,epochs=1", "--quiet", *session.posargs, env=env,
                external=True)


@nox.session(venv_backend="none")
def equivalence(session: nox.Session) -> None:
    """torch vs Keras end accuracy of `keras_matched` (fastai 1's fit(3)) on all 1,797 digits, 5 seeds."""
    session.run(str(BIN / "parity"), "equivalence", "--recipe", "keras_matched", "--seeds", "5", "--quiet",
                *session.posargs, env=_heavy_env(session), external=True)

@nox.session(venv_backend="none")
def selftest(session: nox.Session) -> None:
    """Plant every catalogued fault and report which the suite detects and localises (args go to
    `parity selftest`, e.g. --only optim)."""
    session.run(str(BIN / "parity"), "selftest", *session.posargs, env=_heavy_env(session), external=True)


DOCS = ROOT / ".nox" / "docs"


@nox.session(venv_backend="none")
def docs(session: nox.Session) -> None:
    """The reference pages under docs/ built as a site with MkDocs in strict mode (a broken link or a page left
    out of the navigation fails the build), into site/. Its own small venv, .nox/docs."""
    if not (DOCS / "bin" / "mkdocs").exists():
        python = shutil.which("python3.11") or sys.executable
        session.run(python, "-m", "venv", str(DOCS), external=True)
        session.run(str(DOCS / "bin" / "python"), "-m", "pip", "install", "-q", "mkdocs==1.6.*", external=True)
    session.run(str(DOCS / "bin" / "mkdocs"), "build", "--strict", "--clean", *session.posargs, external=True)


@nox.session(venv_backend="none")
def bench(session: nox.Session) -> None:
    """Whole-process timings to compare changes by: parity check, the test suite, a bisect per executor, the
    feature cache (args go to `python -m benchmarks.bench`, e.g. --only check --runs 3; --only tests-by-file: the
    tests' CPU per file)."""
    session.run(str(BIN / "python"), "-m", "benchmarks.bench", *session.posargs, env=_heavy_env(session), external=True)