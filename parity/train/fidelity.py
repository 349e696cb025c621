"""Multi-fidelity attribution (`bisect --screen-at`, `sweep --bisect-at ... --screen-at`): the screen of the
budgeted design (parity.train.budget) runs at a lower fidelity (fewer images per class, fewer epochs), and only
the leading factors are confirmed at full size, with Shapley values and seeds added while a decision is open.

Honest about what a cheaper screen can miss: the report gives every factor's screened effect next to its
full-size value, flags a factor whose sign differs between the two fidelities, and measures at full size what
the factors left at A's values do jointly (the gap that the confirmed factors do not explain).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from parity.components.datasets import DataSpec
from parity.core.errors import ParityError
from parity.train import recipes
from parity.train.bisect import Bisection
from parity.train.budget import run_budgeted

KEYS = ("train_per_class", "test_per_class", "epochs")
CONFIRM = 3  # factors carried to full size by default: the leading ones of the screen


@dataclass(frozen=True)
class Fidelity:
    train_per_class: int | None = None
    test_per_class: int | None = None
    epochs: int | None = None

    def text(self) -> str:
        return ", ".join(f"{k}={getattr(self, k)}" for k in KEYS if getattr(self, k) is not None)


def parse_screen_at(text: str) -> Fidelity:
    """'train_per_class=20,epochs=1' -> Fidelity; unknown keys, bad or repeated values are errors."""
    values = {}
    for item in (i.strip() for i in text.split(",") if i.strip()):
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or key not in KEYS:
            raise ParityError(f"--screen-at takes {', '.join(k + '=N' for k in KEYS)}; got {item!r}")
        if key in values:
            raise ParityError(f"--screen-at sets {key} twice: {text!r}")
        try:
            values[key] = int(value)
        except ValueError:
            raise ParityError(f"--screen-at {key} must be a whole number, got {value.strip()!r}") from None
        if values[key] < 1:
            raise ParityError(f"--screen-at {key} must be at least 1, got {values[key]}")
    if not values:
        raise ParityError(f"--screen-at names no fidelity: {text!r}")
    return Fidelity(**values)


def check(fid: Fidelity, spec: DataSpec, factors: list[str], epochs: dict) -> DataSpec:
    """A screen is cheaper than the full size, never the same or larger, and does not change a factor;
    `epochs` holds both ends' epochs by recipe name. Returns the data spec at the screen's fidelity."""
    for key in ("train_per_class", "test_per_class"):
        low, full = getattr(fid, key), getattr(spec, key)
        if low is not None and full is not None and low >= full:
            raise ParityError(f"--screen-at {key}={low} is not below the full size's {full} "
                              f"(--{key.replace('_', '-')})")
    if fid.epochs is not None:
        if "epochs" in factors:
            raise ParityError(f"--screen-at epochs={fid.epochs}: epochs is a factor of this bisect "
                              f"({' -> '.join(str(e) for e in epochs.values())}); screen on fewer images instead")
        if fid.epochs >= min(epochs.values()):
            raise ParityError(f"--screen-at epochs={fid.epochs} is not below the recipes' {min(epochs.values())} "
                              f"epochs")
    if fid.train_per_class is None and fid.epochs is None:
        raise ParityError("--screen-at test_per_class alone does not make training cheaper: lower "
                          "train_per_class or epochs")
    return replace(spec, **{k: getattr(fid, k) for k in ("train_per_class", "test_per_class")
                            if getattr(fid, k) is not None})


def ends(a: recipes.Recipe, b: recipes.Recipe, fid: Fidelity) -> tuple[recipes.Recipe, recipes.Recipe]:
    """Both ends at the screen's epochs (the data size is the spec's)."""
    knobs = {"epochs": fid.epochs} if fid.epochs is not None else {}
    return recipes.with_knobs(a, **knobs), recipes.with_knobs(b, **knobs)


def lower(bis: Bisection, fid: Fidelity, evaluate) -> Bisection:
    """The same bisection at the screen's fidelity, run by `evaluate` (an evaluator on the screen's data)."""
    a, b = ends(bis.a, bis.b, fid)
    return Bisection(a, b, list(bis.factors), list(bis.seeds), evaluate, middle=bis.middle, after=dict(bis.after))


def sign_changes(result: dict) -> dict:
    """Per factor: its screened effect (lower fidelity), its full-size Shapley value (confirmed factors) and
    whether the sign differs (`clear` when both CIs exclude zero on opposite sides)."""
    b = result["budget"]
    full = (result.get("shapley") or {}).get("factors", {})
    out = {}
    for f in result["factors"]:
        low, high = b["screen_effects"].get(f), full.get(f, {}).get("value")
        row = {"screen": low, "full": high, "confirmed": f in b["active"], "sign_change": False, "clear": False}
        if low and high and low["mean"] * high["mean"] < 0:
            row["sign_change"] = True
            row["clear"] = (low["low"] > 0 or low["high"] < 0) and (high["low"] > 0 or high["high"] < 0)
        out[f] = row
    return out


def record(result: dict, fid: Fidelity, spec: DataSpec, low_spec: DataSpec, a_epochs: int) -> dict:
    """The `fidelity` field of an attribution screened at a lower fidelity, and one sentence for its answer."""
    factors = sign_changes(result)
    changed = [f for f, r in factors.items() if r["sign_change"]]
    out = {"screen_at": fid.text(), "screen": {"train_per_class": low_spec.train_per_class,
                                               "test_per_class": low_spec.test_per_class,
                                               "epochs": fid.epochs or a_epochs},
           "full": {"train_per_class": spec.train_per_class, "test_per_class": spec.test_per_class,
                    "epochs": a_epochs},
           "screen_runs": result["budget"]["screen_runs"], "screen_gap": result["budget"]["screen_gap"],
           "factors": factors, "sign_changes": changed}
    result["fidelity"] = out
    said = (f" Screened at {fid.text()}; the sign changes between fidelities for: {', '.join(changed)}."
            if changed else f" Screened at {fid.text()}; no confirmed factor changes sign at full size.")
    result["answer"] += said
    return result


def run_screened(bis: Bisection, screen: tuple, spec: DataSpec, permutations: int, confirm: int | None = None,
                 budget: int | None = None) -> dict:
    """The budgeted design with its screen at the lower fidelity; `screen` is (the bisection there, its data
    spec, the Fidelity) and `spec` the full size's."""
    low, low_spec, fid = screen
    result = run_budgeted(bis, budget, permutations, low, confirm or CONFIRM)
    return record(result, fid, spec, low_spec, bis.a.epochs)
