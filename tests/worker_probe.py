"""Run inside a backend worker by tests (target 'tests.worker_probe:...'): what the worker's process does."""

from __future__ import annotations

import numpy as np


def from_heap(nbytes: int = 20 << 20) -> bool:
    """Does a fresh block of `nbytes` come from malloc's heap (kept and reused when freed) rather than from a
    mapping of its own (unmapped when freed, zeroed again by the kernel when the next one is made)?"""
    block = np.empty(nbytes, np.uint8)
    address = block.ctypes.data
    with open("/proc/self/maps") as maps:
        for line in maps:
            if line.rstrip().endswith("[heap]"):
                start, end = (int(x, 16) for x in line.split()[0].split("-"))
                return start <= address < end
    return False


def resize_methods() -> list[str]:
    """The resize methods this worker's backend package dispatches (its METHODS table)."""
    import importlib

    from parity.runtime.backends import current, get_backend

    return sorted(importlib.import_module(f"{get_backend(current()).package}.resize").METHODS)


def autograph_files() -> tuple[str, list[str]]:
    """(this worker's temp folder, the modules TensorFlow's autograph wrote there) after tracing a function
    with Python control flow, which autograph converts through a generated module file."""
    import glob
    import os
    import tempfile

    import tensorflow as tf

    @tf.function
    def absolute(x):
        if x > 0:
            return x
        return -x

    absolute(tf.constant(-1.0))
    folder = tempfile.gettempdir()
    return folder, sorted(glob.glob(os.path.join(folder, "__autograph_generated_file*.py")))


def write_ctrl_c(fd: int) -> None:
    """Written to `fd`, for a fork of a bare fork server: how this child takes SIGINT now, and how its server took
    it when it started ('ignored', 'default' (Python's KeyboardInterrupt) or 'other')."""
    import os
    import signal

    from parity.runtime import forkserver

    def name(handler) -> str:
        return {signal.SIG_IGN: "ignored", signal.default_int_handler: "default"}.get(handler, "other")

    with os.fdopen(fd, "w") as out:
        out.write(f"{name(signal.getsignal(signal.SIGINT))} {name(forkserver.sigint_at_start())}")


def outlive(fd: int, parent: int) -> None:
    """A child that watches `parent` (workers' watcher) and would sleep a minute: it ends at the watcher's first
    look when `parent` is not its parent (gone before the watch began)."""
    import os
    import time

    from parity.runtime import workers

    os.close(fd)
    workers._exit_with_parent(parent)
    time.sleep(60)


def build_unknown_family() -> str:
    """This backend's body builder given a body of a family it has no entry for: the error it raises."""
    import importlib

    from parity.components import models
    from parity.core.errors import ParityError
    from parity.runtime.backends import current, get_backend

    backend = importlib.import_module(f"{get_backend(current()).package}.models")
    body = models.Body("vit_tiny", "vit", 224, 192)
    try:
        models.family_builder(backend.FAMILIES, body, get_backend(current()).package)
    except ParityError as exc:
        return str(exc)
    return "built"


def body_families() -> list[str]:
    import importlib

    from parity.runtime.backends import current, get_backend

    return sorted(importlib.import_module(f"{get_backend(current()).package}.models").FAMILIES)
