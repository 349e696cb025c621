"""What the capture tests share: a small image-folder tree, the acceptance programs, running `parity capture`'s
machinery on one, and moving a recipe's knob to another valid value."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
from PIL import Image

import parity
from parity.capture.program import capture, to_recipe
from parity.train import recipes

CLASSES, PER_CLASS, SIDE = 10, 7, 32  # 70 images a split: one batch of 64 and a partial one
PROGRAMS = Path(parity.__file__).parent / "examples" / "programs"


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


def captured(name: str, tree: Path) -> recipes.Recipe:
    """The recipe `parity capture` reads from parity/examples/programs/NAME.py run on `tree`."""
    return to_recipe(capture(PROGRAMS / f"{name}.py", [str(tree)]))


def digest(folder: Path) -> str:
    """Every file's path and bytes under `folder`: a capture must leave the program's own files as they were."""
    h = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file() and "__pycache__" not in p.parts):
        h.update(str(path.relative_to(folder)).encode() + path.read_bytes())
    return h.hexdigest()


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
                 "loss": loss.LOSSES, "load_resize": resize.RESIZE_METHODS, "load_crop": resize.LOAD_CROPS}[knob])


def _valid(recipe, knob, value) -> bool:
    try:
        recipes.with_knobs(recipe, **{knob: value})
    except Exception:  # noqa: BLE001  (a combination a recipe refuses: try the next value)
        return False
    return True
