"""The process a captured program runs in: `python -m parity.capture.child OUT PROGRAM [ARGS...]` runs PROGRAM as
its author would (`python PROGRAM ARGS`, as __main__, its folder first on sys.path) with parity's patches
installed, reads the live objects at the first training call, and writes OUT/capture.json (and the evaluation
batch as OUT/batch.npy). It never writes anything else: the program's own files stay as they were."""

from __future__ import annotations

import json
import runpy
import sys
import traceback
from pathlib import Path

from parity.capture import intercept
from parity.capture.record import NEVER_TRAINED, RAISED, STOPPED, Capture

READERS = {"fastai1": "parity.capture.read_fastai", "fastai2": "parity.capture.read_fastai",
           "keras": "parity.capture.read_keras", "torch": "parity.capture.read_torch"}


def _where(exc: BaseException, program: Path) -> str:
    """file:line of the program's own innermost frame in the traceback."""
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if Path(f.filename).resolve() == program.resolve()]
    return f"{program.name}:{frames[-1].lineno}" if frames else program.name


def run(program: Path, argv: list[str]) -> Capture:
    cap = Capture(program=str(program), argv=list(argv), status=NEVER_TRAINED)
    session = intercept.Session(program)
    intercept.install(session)
    saved_argv, saved_path = sys.argv, list(sys.path)
    sys.argv = [str(program), *argv]
    sys.path.insert(0, str(program.resolve().parent))
    try:
        runpy.run_path(str(program), run_name="__main__")
        cap.message = "it ran to its end without a training call"
    except intercept.Stopped as stop:
        cap.status = STOPPED
        cap.weights = [tag for tag, _ in session.weights]
        _read(cap, stop, session)
    except SystemExit as exc:
        cap.message = f"it exited (sys.exit({exc.code!r})) without a training call"
    except BaseException as exc:  # noqa: BLE001  (whatever the program raises is reported, not re-raised)
        cap.status, cap.where = RAISED, _where(exc, program)
        cap.message = f"{type(exc).__name__}: {exc}".strip()
        cap.weights = [tag for tag, _ in session.weights]
    finally:
        sys.argv, sys.path[:] = saved_argv, saved_path
    return cap


def _read(cap: Capture, stop, session) -> None:
    import importlib

    module = READERS[stop.library]
    reader = importlib.import_module(module)
    try:
        (reader.read if stop.library != "torch" else reader.read_plain)(cap, stop, session)
    except Exception as exc:  # noqa: BLE001  (an object parity does not know how to read: say which)
        frame = traceback.extract_tb(exc.__traceback__)[-1]
        cap.message = (f"parity could not read the {stop.library} objects: {type(exc).__name__}: {exc} "
                       f"({Path(frame.filename).name}:{frame.lineno})")


def main(argv: list[str]) -> int:
    out, program, *rest = argv
    cap = run(Path(program), rest)
    import numpy as np

    out = Path(out)
    if cap.batch:
        np.save(out / "batch.npy", np.asarray(cap.batch.pop("images"), np.float32))
        cap.batch["images"] = "batch.npy"
    (out / "capture.json").write_text(json.dumps(cap.to_json(), default=repr))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
