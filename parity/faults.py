"""Planted faults: a backend function wrapped inside its worker process, and undone afterwards. Applied
in-process (no file is copied or edited), so a test or the self-test can prove a case catches the fault.
"""

from __future__ import annotations

import importlib

_PATCHED: list[tuple[object, str, object]] = []  # (module, name, original): what undo_here() restores


def _scale_tensor(real, key: str, factor: float):
    """(logits, {name: gradient}) with one named gradient scaled."""
    def wrapped(*args, **kwargs):
        logits, grads = real(*args, **kwargs)
        return logits, {**grads, key: grads[key] * factor}

    return wrapped


def _scale_when(real, first: str, factor: float):
    """The result scaled when the first argument is `first` (e.g. one loss's per-sample values)."""
    def wrapped(name, *args, **kwargs):
        value = real(name, *args, **kwargs)
        return value * factor if name == first else value

    return wrapped


def _exit_once(real, seed: int, marker: str):
    """The process dies (as a killed or crashed worker would) the first time a run of `seed` starts."""
    import os

    def wrapped(recipe, spec, run_seed, *args, **kwargs):
        if run_seed == seed and not os.path.exists(marker):
            open(marker, "w").close()
            os._exit(9)
        return real(recipe, spec, run_seed, *args, **kwargs)

    return wrapped


WRAPPERS = {"scale_tensor": _scale_tensor, "scale_when": _scale_when, "exit_once": _exit_once}


def apply_here(module: str, function: str, wrapper: str, *params) -> None:
    """Runs in a worker (or in place): replace module.function by WRAPPERS[wrapper](original, *params)."""
    mod = importlib.import_module(module)
    original = getattr(mod, function)
    _PATCHED.append((mod, function, original))
    setattr(mod, function, WRAPPERS[wrapper](original, *params))


def undo_here() -> int:
    """Restore every patched function, newest first; returns how many were undone."""
    count = len(_PATCHED)
    while _PATCHED:
        mod, function, original = _PATCHED.pop()
        setattr(mod, function, original)
    return count
