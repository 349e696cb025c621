"""The fork server side of parity.selftest.plantedtests' runs: what the server imports, and a run in a forked child.

A module of its own so that the server does not import parity.selftest.plantedtests: each run loads that plugin afresh
(`-p parity.selftest.plantedtests`), as a fresh interpreter would, and pytest can rewrite it."""

from __future__ import annotations

import importlib
import os
import signal

from parity.runtime import forkserver


def preload() -> None:
    """What tests/conftest.py loads first in every run, and pytest itself: none of it a patch target."""
    for module in ("pytest", "torch", "torchvision"):  # torchvision before TensorFlow, which a run may load
        importlib.import_module(module)


def run_pytest(fd: int, argv: list[str], root: str) -> int:
    """pytest in the checkout `root` with `argv`, its output to `fd`; its exit code, the process's."""
    import pytest

    signal.signal(signal.SIGINT, forkserver.sigint_at_start())  # Ctrl-C as a fresh interpreter would take it
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(fd)
    os.chdir(root)  # the server's folder; forkserver moved the child to its coordinator's
    return int(pytest.main(argv))
