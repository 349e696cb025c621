"""Command-line arguments shared by the commands, checked before any work: seeds, knob overrides, data
folders, output and store paths. Every check raises ParityError naming the flag and the value."""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path

from parity.core.errors import ParityError
from parity.core.outputs import REPORTS_DIR, check_out, check_writable
from parity.train import recipes
from parity.train.store import default_store_dir

DATA_DIR_ENV = "PARITY_DATA_DIR"


MAX_SEEDS = 1000  # runs per recipe: a 95% CI over 1000 seeds is already 30x narrower than over 3
MAX_SEED = 2**31 - 1  # TensorFlow's and Keras' op seeds are 32-bit signed integers


@dataclass(frozen=True)
class Bound:
    """The range a numeric option takes, and why its ends are where they are."""
    least: float
    most: float
    why: str
    integer: bool = True


# Every numeric option of the training commands, checked before any work (parse_seeds has its own).
BOUNDS = {
    "--top": Bound(2, 32, "the leading factors whose pairwise interactions are run: a pair needs two, and a recipe "
                          "has fewer than 32 knobs"),
    "--permutations": Bound(1, 1000, "orderings sampled for Shapley values beyond 8 factors; each ordering adds "
                                     "up to one run per factor and seed"),
    "--workers": Bound(1, 1024, "runs at once; with --executor processes each is a process holding a framework, "
                                "and at most twice the machine's cores (parity.train.executors.check_workers)"),
    "--train-per-class": Bound(1, 10**6, "images per class; at most what every class of the data holds"),
    "--test-per-class": Bound(1, 10**6, "images per class; at most what every class of the data holds"),
    "--budget": Bound(1, 10**6, "runs a budgeted bisect may spend; the screen alone takes 3 x (2n + 2) for n "
                                "factors"),
    "--confirm": Bound(1, 64, "factors a screened bisect carries to full size (Shapley over them)"),
    "--margin": Bound(0, 1, "an accuracy difference, as a fraction (0.03 = 3 points), above 0 and below 1",
                      integer=False),
}


def bounded(value, flag: str):
    """`value` if it lies in BOUNDS[flag] (and is finite), else a ParityError naming the flag, value and range."""
    b = BOUNDS[flag]
    inside = math.isfinite(value) and (b.least <= value <= b.most if b.integer else b.least < value < b.most)
    if not inside:
        ends = f"from {b.least:g} to {b.most:g}" if b.integer else f"above {b.least:g} and below {b.most:g}"
        raise ParityError(f"{flag} takes {'an integer' if b.integer else 'a number'} {ends} ({b.why}), got {value!r}")
    return value


def check_bounds(args) -> None:
    """Every option of BOUNDS that the command has and was given."""
    for flag in BOUNDS:
        value = getattr(args, flag[2:].replace("-", "_"), None)
        if value is not None:
            bounded(value, flag)


def parse_seeds(text: str, flag: str = "--seeds", least: int = 1) -> list[int]:
    """'3' -> [0, 1, 2]; '0,3,7' -> [0, 3, 7]; seeds are non-negative and listed once; at least `least` of
    them and at most MAX_SEEDS, each at most MAX_SEED."""
    try:
        if "," not in text:
            count = int(text)
            if count < 1:
                raise ValueError
            seeds = list(range(min(count, MAX_SEEDS + 1)))
        else:
            seeds = [int(s) for s in text.split(",") if s.strip()]
    except ValueError:
        raise ParityError(f"{flag} must be a positive count or a comma-separated list of integers, got {text!r}")
    if not seeds or len(set(seeds)) != len(seeds):
        raise ParityError(f"{flag} lists a seed twice or none: {text!r}")
    if not least <= len(seeds) <= MAX_SEEDS:
        raise ParityError(f"{flag} takes {least} to {MAX_SEEDS} seeds, got {text!r}")
    outside = [s for s in seeds if not 0 <= s <= MAX_SEED]
    if outside:
        raise ParityError(f"{flag} must list seeds from 0 to {MAX_SEED} (32-bit op seeds), got {outside[0]} in "
                          f"{text!r}")
    return seeds


def parse_set(items: list[str], flag: str = "--set") -> dict:
    """['lr=3e-3', 'epochs=1'] -> {knob: value}, each value parsed and checked by its knob's type."""
    out = {}
    for item in items:
        if "=" not in item:
            raise ParityError(f"{flag} wants KNOB=VALUE, got {item!r}")
        key, raw = item.split("=", 1)
        out[key.strip()] = recipes.parse_knob(key.strip(), raw.strip(), where=f"{flag} {item!r}")
    return out


def check_data_dir(path) -> None:
    if path is not None and not Path(path).is_dir():
        raise ParityError(f"data folder {str(path)!r} does not exist")


def check_out_arg(out) -> None:
    """--out: absent or a parity report (see parity.core.outputs); without --out the default folder must be writable."""
    if out is not None:
        check_out(Path(out))
    else:

        parent = REPORTS_DIR if REPORTS_DIR.is_dir() else Path.cwd()
        check_writable(parent, "report folder")


def check_store_arg(store, no_store: bool) -> None:
    """--store: an existing folder must be writable; a new one must be creatable."""
    if no_store:
        return

    folder = Path(store) if store else default_store_dir()
    if folder.exists() and not folder.is_dir():
        raise ParityError(f"--store {str(folder)!r} is a file, not a folder")
    probe = folder
    while not probe.exists():
        probe = probe.parent
    check_writable(probe, "--store folder" if probe == folder else f"--store {str(folder)!r}: parent folder")


def default_data_dir():
    return os.environ.get(DATA_DIR_ENV) or None
