"""The pytest plugin parity installs (entry point pytest11 `parity`): the `parity_seed` fixture, seeded and
deterministic torch and Keras for a test that compares models, and `--parity-report DIR`, the comparisons the
session made written as the report `parity check` writes. Nothing here loads a framework until a test asks."""

from __future__ import annotations

import random
import sys
from pathlib import Path

import pytest

SEED = 0


def pytest_addoption(parser):
    group = parser.getgroup("parity")
    group.addoption("--parity-report", metavar="DIR", type=Path, default=None,
                    help="write the parity.testing comparisons this session made as a parity report (report.html, "
                         "report.md, results.json) into DIR; run without -n, a worker keeps its own")


def pytest_configure(config):
    out = config.getoption("--parity-report")
    if out is not None:
        from parity.core.outputs import check_out

        check_out(out, "--parity-report")


@pytest.fixture
def parity_seed():
    """Seed 0 for numpy, random, torch and Keras (those the test process loaded), torch's deterministic
    algorithms on; returns the seed."""
    import numpy as np

    random.seed(SEED)
    np.random.seed(SEED)
    if "torch" in sys.modules:
        import torch

        torch.manual_seed(SEED)
        torch.use_deterministic_algorithms(True)
    if "keras" in sys.modules:
        import keras

        keras.utils.set_random_seed(SEED)
    return SEED


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item):
    from parity.testing import core

    core.CURRENT_TEST = item.nodeid
    try:
        yield
    finally:
        core.CURRENT_TEST = None


def pytest_sessionfinish(session, exitstatus):
    out = session.config.getoption("--parity-report")
    if out is None:
        return
    from parity.testing.core import RECORDED

    if not RECORDED:
        session.config.get_terminal_writer().line(f"parity: no comparisons were made; no report in {out}")
        return
    from parity.testing.report import write

    path = write(out, RECORDED)
    session.config.get_terminal_writer().line(f"parity: {len(RECORDED)} comparisons -> {path}/report.html")
