"""Faults that only an oracle test can see (a spec row that claims a library's behaviour, checked against that
library in its own environment, e.g. fastai 1.0.61 in .nox/fastai1): the self-test runs the declared pytest
node in a subprocess with the fault planted there, and reads its outcome like a case's row.

This module is also the pytest plugin that plants it (`-p parity.selftest.plantedtests`): PLANT_ENV holds the patches
as JSON, applied when pytest starts and undone when it ends; OUT_ENV names the file the outcomes go to.

Where parity.runtime.forkserver can fork, a run is a fork of a server (parity.selftest.plantedfork) that has imported pytest,
torch and torchvision (what every run loads before its patches are applied, none of it a patch target): 2.6
CPU-s of a fresh interpreter's start (`python -c 'import torch, torchvision, pytest'`) paid once per
environment, not per fault.
"""

from __future__ import annotations

import atexit
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from parity.runtime import forkserver
from parity.selftest import faults

PLANT_ENV, OUT_ENV = "PARITY_PLANT", "PARITY_PLANT_OUT"
FASTAI1_ENV = "PARITY_FASTAI1"  # where fastai 1.0.61 is installed (pip --target); default ROOT/.nox/fastai1
ROOT = Path(__file__).resolve().parents[2]  # the source checkout (the oracle tests live in its tests/)
# Read by tests/conftest.py: the frameworks a test process loads. 'torch' leaves TensorFlow out (~4 s of every
# pytest start); the default loads both.
FRAMEWORKS_ENV, ALL_FRAMEWORKS = "PARITY_TEST_FRAMEWORKS", ("torch", "torch,tensorflow")


# --- the pytest plugin (in the subprocess) --------------------------------------------------------------

_OUTCOMES: dict = {}


def pytest_configure(config):
    for module, target, how, params in json.loads(os.environ.get(PLANT_ENV, "[]")):
        faults.apply_here(module, target, how, *params)


def pytest_collectreport(report):
    if report.skipped:  # a module skipped as a whole (its library is not the one it is the oracle of)
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        _OUTCOMES[report.nodeid] = f"skipped: {reason}"


def pytest_runtest_logreport(report):
    if report.failed or report.when == "call" or report.skipped:
        previous = _OUTCOMES.get(report.nodeid)
        _OUTCOMES[report.nodeid] = "failed" if report.failed or previous == "failed" else report.outcome


def pytest_unconfigure(config):
    faults.undo_here()
    if os.environ.get(OUT_ENV):
        Path(os.environ[OUT_ENV]).write_text(json.dumps(_OUTCOMES))


# --- in the self-test -----------------------------------------------------------------------------------

def fastai1_path() -> Path:
    return Path(os.environ.get(FASTAI1_ENV) or ROOT / ".nox" / "fastai1")


def _on_fastai1(node: str) -> bool:
    """Is `node` an oracle test of fastai 1 (run with fastai1_path() and its shim first on sys.path)?"""
    return "fastai_v1" in node


def frameworks(nodes) -> str:
    """What a run of `nodes` needs loaded: fastai's oracle tests hold it against torch code alone."""
    return ALL_FRAMEWORKS[0] if all("test_oracle_fastai" in node for node in nodes) else ALL_FRAMEWORKS[1]


def unavailable(node: str) -> str:
    """Why the oracle of `node` cannot run here ('' when it can)."""
    test_file = ROOT / node.split("::")[0]
    if not test_file.is_file():
        return f"{node.split('::')[0]} is not here (the oracle tests live in the source checkout, not the wheel)"
    if _on_fastai1(node) and not (fastai1_path() / "fastai" / "__init__.py").is_file():
        return (f"fastai 1.0.61 is not installed at {fastai1_path()} (run `nox -s oracle_v1` once, or set "
                f"{FASTAI1_ENV})")
    return ""


def run_nodes(nodes: list[str], patches=()) -> dict:
    """{node: row} for pytest nodes run in one subprocess with `patches` (parity.selftest.faultlist.Patch) planted:
    status FAIL when any test of the node failed, pass when they passed, skipped when they all skipped (or its
    oracle is not installed), unrun when pytest ran none of them (a broken run: never a detection)."""
    rows = {node: _row("skipped", why) for node in nodes if (why := unavailable(node))}
    todo = [n for n in nodes if n not in rows]
    if not todo:
        return rows
    with tempfile.TemporaryDirectory(prefix="parity-planted-") as tmp:
        out = Path(tmp) / "outcomes.json"
        path = [str(fastai1_path()), str(ROOT / "tests" / "fastai_v1_shim")] if any(map(_on_fastai1, todo)) else []
        env = {**os.environ, PLANT_ENV: json.dumps([[p.module, p.target, p.how, list(p.params)] for p in patches]),
               OUT_ENV: str(out), FRAMEWORKS_ENV: frameworks(todo),
               "PYTHONPATH": os.pathsep.join(path + [os.environ.get("PYTHONPATH", "")]).strip(os.pathsep)}
        code, output = _pytest(["-q", "-p", "no:xdist", "-p", "parity.selftest.plantedtests", *todo], env)
        outcomes = json.loads(out.read_text()) if out.is_file() else {}
    if not outcomes:
        return {**rows, **{n: _row("unrun", f"pytest exited {code} before running a test: {output[-600:]}")
                           for n in todo}}
    for node in todo:
        module_skip = outcomes.get(node.split("::")[0], "")
        if module_skip.startswith("skipped"):
            rows[node] = _row("skipped", module_skip)
            continue
        mine = {k: v for k, v in outcomes.items() if k == node or k.startswith(node + "[")}
        failed = sorted(k for k, v in mine.items() if v == "failed")
        status = ("FAIL" if failed else "skipped" if mine and all(v == "skipped" for v in mine.values()) else
                  "pass" if mine else "unrun")
        rows[node] = _row(status, f"{len(failed)} of {len(mine)} tests failed" if mine else "no test ran",
                          failed[0].split("::")[-1] if failed else None)
    return rows


_SERVERS: dict[tuple, forkserver.ForkServer] = {}  # a run's environment but for PER_RUN_ENV -> its fork server
PER_RUN_ENV = (PLANT_ENV, OUT_ENV, "PYTEST_CURRENT_TEST")  # read after the fork (pytest sets the last in tests)


def _pytest(argv: list[str], env: dict) -> tuple[int, str]:
    """(exit code, output) of `python -m pytest *argv` in the source checkout with `env`: a fork of the server
    for this environment, or a fresh interpreter where forks are not available."""
    if not forkserver.available():
        proc = subprocess.run([sys.executable, "-m", "pytest", *argv], cwd=ROOT, env=env, capture_output=True,
                              text=True)
        return proc.returncode, proc.stdout + proc.stderr
    # in the checkout, as `python -m pytest` there: sys.path[0] is '' for the server, the checkout for a run
    server = forkserver.running(_SERVERS, env, PER_RUN_ENV, "parity.selftest.plantedfork:preload", (), cwd=str(ROOT))
    with tempfile.TemporaryFile() as log:
        code = server.fork("parity.selftest.plantedfork:run_pytest", log.fileno(), (argv, str(ROOT)), env).wait()
        log.seek(0)
        return code, log.read().decode(errors="replace")


atexit.register(forkserver.close_all, _SERVERS)


def _row(status: str, why: str, first: str | None = None) -> dict:
    return {"status": status, "max_rel": None, "detail": {"why": why, "first_over_tol": first}}
