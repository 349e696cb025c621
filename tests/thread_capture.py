"""What the thread-script oracle tests share: a small image-folder tree, running a training program up to its
first training call, and comparing the knobs read from its live objects with a built-in recipe."""

from __future__ import annotations

import runpy
import sys
from pathlib import Path

import numpy as np
from PIL import Image

from parity.train import recipes

CLASSES, PER_CLASS, SIDE = 10, 7, 32  # 70 images a split: one batch of 64 and a partial one


def image_tree(root: Path) -> Path:
    """train/<class>/*.jpg and test/<class>/*.jpg, CIFAR-sized, drawn from a fixed seed."""
    rng = np.random.default_rng(0)
    for split in ("train", "test"):
        for c in range(CLASSES):
            folder = root / split / f"class{c}"
            folder.mkdir(parents=True)
            for i in range(PER_CLASS):
                pixels = rng.integers(0, 256, (SIDE, SIDE, 3), dtype=np.uint8)
                Image.fromarray(pixels).save(folder / f"{i:03d}.jpg", quality=90)
    return root


class Stopped(Exception):
    """Raised by the patched training call: carries what it was called with."""

    def __init__(self, obj, args, kwargs):
        super().__init__("stopped at the first training call")
        self.obj, self.args, self.kwargs = obj, args, kwargs


def stop_here(obj, *args, **kwargs):
    raise Stopped(obj, args, kwargs)


def run_until_training(script: Path, *argv: str) -> Stopped:
    """Run `script` as its author would (`python script ARGS`) until the patched training call stops it."""
    saved = sys.argv
    sys.argv = [str(script), *argv]
    try:
        runpy.run_path(str(script), run_name="__main__")
    except Stopped as stopped:
        return stopped
    finally:
        sys.argv = saved
    raise AssertionError(f"{script} finished without calling its training method")


def mismatches(captured: dict, recipe: recipes.Recipe) -> dict:
    """{knob: (read from the program, the recipe's)} for every knob read that the recipe sets otherwise."""
    knobs = recipe.knobs()
    return {k: (v, knobs[k]) for k, v in captured.items()
            if not (knobs[k] in v if isinstance(v, frozenset) else v == knobs[k])}


def changed(recipe: recipes.Recipe, knob: str) -> recipes.Recipe:
    """The recipe with `knob` moved to another valid value."""
    value = recipe.knobs()[knob]
    kind = recipes.KNOBS[knob].kind
    if kind == "flag":
        other = not value
    elif kind in ("count", "size"):
        other = (value or 32) + 1
    elif kind == "lr":
        other = tuple(2 * v for v in value) if isinstance(value, tuple) else 2 * value
    else:
        other = next(n for n in _choices(knob) if n != value and _valid(recipe, knob, n))
    return recipes.with_knobs(recipe, **{knob: other})


def _choices(knob: str) -> list[str]:
    from parity.components import data, heads, loss, models, optim, resize, schedules
    from parity.runtime.backends import frameworks

    return list({"framework": frameworks(), "decoder": data.DECODERS, "resize": resize.RESIZE_METHODS,
                 "norm": data.NORMALIZATIONS, "body": models.BODIES, "head": heads.HEADS, "init": heads.INITS,
                 "bn_policy": heads.BN_POLICIES, "optimizer": optim.OPTIMIZERS, "schedule": schedules.SCHEDULES,
                 "loss": loss.LOSSES}[knob])


def _valid(recipe, knob, value) -> bool:
    try:
        recipes.with_knobs(recipe, **{knob: value})
    except Exception:  # noqa: BLE001  (a combination a recipe refuses: try the next value)
        return False
    return True


def pipelines_that_reproduce(paths, batch: np.ndarray, size: int, backend: str, tol: float) -> dict:
    """{'decoder': {...}, 'resize': {...}, 'norm': {...}}: every (decoder, resize, norm) of parity's registries,
    run by `backend`, whose images equal the program's own `batch` (the same files, in order) within `tol` of
    its scale. Several methods can give the same pixels (a square upsample is the same for tf_resize and
    keras_resizing): a knob matches when the recipe's value is among them."""
    from parity.components import data, resize
    from parity.runtime.backends import why_unsupported

    found = {"decoder": set(), "resize": set(), "norm": set()}
    scale = float(np.abs(batch).max())
    for decoder in data.DECODERS:
        if why_unsupported(backend, "decoder", decoder):
            continue
        decoded = np.stack([data.decode_image(p, decoder, on=backend) for p in paths]).astype(np.float32)
        for method in resize.RESIZE_METHODS:
            if why_unsupported(backend, "resize", method):
                continue
            resized = resize.resize(decoded, size, method, on=backend)
            for norm in data.NORMALIZATIONS:
                ours = data.normalize(resized, norm, on=backend)
                if ours.shape == batch.shape and np.abs(ours - batch).max() <= tol * scale:
                    for knob, value in (("decoder", decoder), ("resize", method), ("norm", norm)):
                        found[knob].add(value)
    return {k: frozenset(v) for k, v in found.items()}
