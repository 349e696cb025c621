"""Command-line arguments shared by the commands, checked before any work: seeds, knob overrides, data
folders, output and store paths. Every check raises ParityError naming the flag and the value."""

from __future__ import annotations

import os
from pathlib import Path

from parity import recipes
from parity.errors import ParityError
from parity.outputs import check_out, check_writable

DATA_DIR_ENV = "PARITY_DATA_DIR"


def parse_seeds(text: str, flag: str = "--seeds") -> list[int]:
    """'3' -> [0, 1, 2]; '0,3,7' -> [0, 3, 7]; seeds are non-negative and listed once."""
    try:
        if "," not in text:
            count = int(text)
            if count < 1:
                raise ValueError
            return list(range(count))
        seeds = [int(s) for s in text.split(",") if s.strip()]
    except ValueError:
        raise ParityError(f"{flag} must be a positive count or a comma-separated list of integers, got {text!r}")
    if not seeds or len(set(seeds)) != len(seeds):
        raise ParityError(f"{flag} lists a seed twice or none: {text!r}")
    negative = [s for s in seeds if s < 0]
    if negative:
        raise ParityError(f"{flag} must list seeds >= 0, got {negative[0]} in {text!r}")
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
    """--out: absent or a parity report (see parity.outputs); without --out the default folder must be writable."""
    if out is not None:
        check_out(Path(out))
    else:
        from parity.outputs import REPORTS_DIR

        parent = REPORTS_DIR if REPORTS_DIR.is_dir() else Path.cwd()
        check_writable(parent, "report folder")


def check_store_arg(store, no_store: bool) -> None:
    """--store: an existing folder must be writable; a new one must be creatable."""
    if no_store:
        return
    from parity.store import default_store_dir

    folder = Path(store) if store else default_store_dir()
    if folder.exists() and not folder.is_dir():
        raise ParityError(f"--store {str(folder)!r} is a file, not a folder")
    probe = folder
    while not probe.exists():
        probe = probe.parent
    check_writable(probe, "--store folder" if probe == folder else f"--store {str(folder)!r}: parent folder")


def positive(value: float, flag: str) -> float:
    if not (value > 0):  # also refuses NaN
        raise ParityError(f"{flag} must be positive, got {value!r}")
    return value


def default_data_dir():
    return os.environ.get(DATA_DIR_ENV) or None
