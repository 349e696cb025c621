"""The parent side of `parity capture`: check the program, run it in a child process up to its first training
call, check statically that it trains once, match its data pipeline by behaviour, and turn what was found into
a recipe whose origin keeps every knob's provenance. Anything short of a complete capture is a CaptureError
that says what happened and carries the partial capture, labelled as such."""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from parity.capture.pipeline import read_pipeline
from parity.capture.record import NEVER_TRAINED, RAISED, STOPPED, Capture
from parity.core.errors import ParityError
from parity.train import recipes

# the calls that train: fastai's Learner methods and Keras' fit (a plain torch loop trains at optimizer.step())
TRAINING_CALLS = ("fine_tune", "fit_one_cycle", "fit_flat_cos", "fit_sgdr", "fit_fc", "fit")
STOP_POINTS = ("fastai 1.0.61 / fastai 2 Learner.fit, fit_one_cycle, fine_tune; Keras 3 Model.fit; a plain torch "
               "loop's first optimizer.step()")
HINTS = {  # the resize and decoder each library's code names, kept when several give the same pixels
    "fastai1": {"resize": "fastai_v1", "decoder": "pil"}, "fastai2": {"resize": "fastai_v2", "decoder": "pil"},
    "torch": {"resize": "torchvision", "decoder": "pil"}, "keras": {"resize": "tf_resize", "decoder": "tf_fast"}}
PIPELINE_BACKEND = {"fastai1": "torch", "fastai2": "torch", "torch": "torch", "keras": "keras_tf"}
LOAD_DEFAULTS = {"load_size": None, "load_resize": "tf_resize", "load_crop": "centre"}


class CaptureError(ParityError):
    """A program that could not be captured whole; `partial` is what was read before it went wrong."""

    def __init__(self, message: str, partial: Capture | None = None):
        super().__init__(message)
        self.partial = partial


def check_program(program: Path) -> str:
    """The program's source, once it is known to be a readable Python file that parses."""
    if not program.exists():
        raise ParityError(f"program {str(program)!r} does not exist")
    if not program.is_file() or program.suffix != ".py":
        raise ParityError(f"program {str(program)!r} is not a Python file (parity capture runs a .py program)")
    try:
        source = program.read_text(encoding="utf-8")
        ast.parse(source, filename=str(program))
    except (OSError, UnicodeDecodeError) as exc:
        raise ParityError(f"program {str(program)!r} cannot be read: {exc}") from None
    except SyntaxError as exc:
        raise ParityError(f"program {str(program)!r} is not valid Python: {exc.msg} (line {exc.lineno})") from None
    return source


def training_calls(source: str) -> list[tuple[int, str, bool]]:
    """(line, `receiver.method`, inside a loop) for every training call the program's text makes."""
    found = []

    def visit(node, in_loop: bool):
        for child in ast.iter_child_nodes(node):
            loop = in_loop or isinstance(child, (ast.For, ast.While, ast.AsyncFor))
            if isinstance(child, ast.Call) and isinstance(child.func, ast.Attribute) \
                    and child.func.attr in TRAINING_CALLS:
                found.append((child.lineno, ast.unparse(child.func), in_loop))
            visit(child, loop)

    visit(ast.parse(source), False)
    return found


def _trains_again(cap: Capture, source: str) -> str:
    """Why the program trains more than once ('' when it does not): another training call in its text, or the
    first one inside a loop. A `.fit` on another object (a scikit-learn scaler) is not counted."""
    line = int(cap.stopped_at.rsplit(":", 1)[-1]) if cap.stopped_at.rsplit(":", 1)[-1].isdigit() else None
    calls = training_calls(source)
    first = next((c for c in calls if c[0] == line), None)
    if first is not None and first[2]:
        return f"its training call {first[1]}() at line {line} is inside a loop"
    receiver = first[1].rsplit(".", 1)[0] if first else None
    others = [c for c in calls if c[0] != line and (c[1].rsplit(".", 1)[-1] != "fit"
                                                   or c[1].rsplit(".", 1)[0] == receiver)]
    if others:
        return "it also trains at " + ", ".join(f"line {n} ({call}())" for n, call, _ in others)
    return ""


def loop_epochs(source: str, line: int) -> tuple[int, int] | None:
    """(N, line of the loop) of the outermost `for ... in range(N)` around `line` whose N the program's text
    fixes (a literal, or a name assigned one literal at module level): a plain loop's epochs."""
    tree = ast.parse(source)
    constants = {t.id: n.value.value for n in tree.body if isinstance(n, ast.Assign) and len(n.targets) == 1
                 for t in n.targets if isinstance(t, ast.Name) and isinstance(n.value, ast.Constant)
                 and isinstance(n.value.value, int)}
    for node in ast.walk(tree):
        if isinstance(node, ast.For) and node.lineno <= line <= node.end_lineno and isinstance(node.iter, ast.Call) \
                and getattr(node.iter.func, "id", "") == "range" and len(node.iter.args) == 1:
            arg = node.iter.args[0]
            n = arg.value if isinstance(arg, ast.Constant) else constants.get(getattr(arg, "id", None))
            if isinstance(n, int) and not isinstance(n, bool):
                return n, node.lineno
    return None


def _plain_epochs(cap: Capture, source: str) -> None:
    line = cap.stopped_at.rsplit(":", 1)[-1]
    found = loop_epochs(source, int(line)) if line.isdigit() else None
    if "epochs" not in cap.knobs and found:
        cap.add("epochs", found[0], f"the loop `for ... in range({found[0]})` at line {found[1]} around the step")


def run_child(program: Path, argv: list[str], folder: Path) -> Capture:
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": os.environ.get("TF_CPP_MIN_LOG_LEVEL", "2")}
    command = [sys.executable, "-m", "parity.capture.child", str(folder), str(program), *argv]
    done = subprocess.run(command, env=env, stdin=subprocess.DEVNULL)
    result = folder / "capture.json"
    if not result.exists():
        raise ParityError(f"program {str(program)!r}: the capture process ended (exit code {done.returncode}) "
                          f"before writing what it read")
    cap = Capture.from_json(json.loads(result.read_text()))
    if cap.batch:
        cap.batch["images"] = np.load(folder / cap.batch["images"])
    return cap


def _load_knobs(cap: Capture) -> None:
    """load_size / load_resize / load_crop: a Keras reader resizes every file to image_size; when the files
    already have that size nothing changes and the knobs stay off."""
    load = (cap.batch or {}).pop("load", None)
    if load is None:
        for knob, value in LOAD_DEFAULTS.items():
            cap.add(knob, value, "the reader keeps every image's own size" if knob == "load_size"
                    else "unused: no per-image resize when files are read")
        return
    from PIL import Image

    side = tuple(load["side"])
    sizes = {Image.open(p).size[::-1] for p in cap.batch["paths"]}
    if sizes == {side}:
        cap.add("load_size", None, f"{load['source']}: the files are already {side[0]}x{side[1]}, nothing resized")
        cap.add("load_resize", "tf_resize", "unused: no per-image resize")
    else:
        method = "keras_smart_resize" if load["crop_to_aspect_ratio"] else "tf_resize"
        exact = load["interpolation"] == "bilinear" and side[0] == side[1]
        cap.add("load_size", int(side[0]), load["source"], approximate=side[0] != side[1])
        cap.add("load_resize", method, load["source"], approximate=not exact)
        if not exact:
            cap.note("reader resize", f"{load['source']}: parity's reader resizes squares bilinearly")
    cap.add("load_crop", "centre", "Keras' readers crop at the centre")


def missing(cap: Capture) -> dict[str, str]:
    """Every knob the capture has no value for, with why."""
    return {k: cap.unread.get(k, "not read from the program") for k in recipes.KNOBS if k not in cap.knobs}


def complete(cap: Capture) -> Capture:
    """The pipeline knobs matched, then nothing missing; else a CaptureError with the partial capture."""
    _load_knobs(cap)
    if "framework" in cap.knobs and cap.library in PIPELINE_BACKEND and "size" in cap.knobs:
        hints = {**HINTS[cap.library], **(cap.batch or {}).pop("hints", {})}
        read_pipeline(cap, PIPELINE_BACKEND[cap.library], hints)
    gaps = missing(cap)
    if cap.message or gaps:
        first = sorted(gaps, key=lambda k: k not in ("body", "head"))  # an unmirrored body explains the rest
        reasons = [cap.message] if cap.message else [f"{k}: {gaps[k]}" for k in first]
        raise CaptureError(f"program {cap.program!r} was stopped at {cap.stopped_at}, but its capture is partial: "
                           + "; ".join(reasons), cap)
    return cap


def capture(program, argv=()) -> Capture:
    """Run `program` (with `argv`) up to its first training call and read it; a CaptureError otherwise."""
    program = Path(program)
    source = check_program(program)
    with tempfile.TemporaryDirectory(prefix="parity-capture-") as tmp:
        cap = run_child(program, list(argv), Path(tmp))
    if cap.status == NEVER_TRAINED:
        raise CaptureError(f"program {str(program)!r} never trained: {cap.message}. parity captures a program at "
                           f"its first training call ({STOP_POINTS})")
    if cap.status == RAISED:
        raise CaptureError(f"program {str(program)!r} raised before its first training call, at {cap.where}: "
                           f"{cap.message}", cap if cap.knobs or cap.weights else None)
    assert cap.status == STOPPED, cap.status
    if cap.library == "torch":
        _plain_epochs(cap, source)
    again = _trains_again(cap, source)
    if again:
        raise CaptureError(f"program {str(program)!r} trains more than once: it was stopped at {cap.stopped_at}, "
                           f"and {again}. A recipe is one training run: capture a program that trains once "
                           f"(the first run is shown below)", complete_quietly(cap))
    return complete(cap)


def complete_quietly(cap: Capture) -> Capture:
    try:
        return complete(cap)
    except CaptureError as exc:
        return exc.partial


def to_recipe(cap: Capture, name: str | None = None) -> recipes.Recipe:
    """The recipe a complete capture describes, its origin holding every knob's provenance."""
    program = Path(cap.program)
    origin = recipes.Origin(
        program=cap.program, argv=tuple(cap.argv), stopped_at=cap.stopped_at,
        provenance=tuple((k, cap.knobs[k].source) for k in recipes.KNOBS if k in cap.knobs),
        approximate=tuple(k for k in recipes.KNOBS if k in cap.knobs and cap.knobs[k].approximate),
        uncovered=tuple((u.setting, u.detail) for u in cap.uncovered), weights=tuple(cap.weights))
    knobs = {k: cap.knobs[k].value for k in recipes.KNOBS}
    recipe = recipes.Recipe(name=name or program.stem, source=f"captured from {program.name}: {cap.stopped_at}",
                            origin=origin, **knobs)
    return recipes.check_recipe(recipe, f"the capture of {program.name}")


def partial_lines(cap: Capture) -> list[str]:
    """A partial capture, labelled as such: the knobs read, those not read and why, the uncovered settings.
    A program that raised was read no further than the weights it asked for."""
    lines = [f"PARTIAL capture of {cap.program} ({cap.stopped_at or cap.status}); it is not a recipe:"]
    for knob in recipes.KNOBS if cap.status == STOPPED else ():
        if knob in cap.knobs:
            f = cap.knobs[knob]
            lines.append(f"  {knob:11s} {recipes.fmt_value(f.value):20s} {'~ ' if f.approximate else ''}{f.source}")
        else:
            lines.append(f"  {knob:11s} {'(not read)':20s} {cap.unread.get(knob, 'not read from the program')}")
    lines += [f"  uncovered: {u.setting}: {u.detail}" for u in cap.uncovered]
    lines += [f"  weights asked for (intercepted): {w}" for w in cap.weights]
    return lines
