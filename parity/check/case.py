"""What a parity case is (declared as data, OpInfo-style) and what running one yields.

Most cases run `across` backends: `run(backend, ctx)` computes the same thing in each backend (an array, or
named layers), `reference(ctx)` the float64 truth, and every pair of backends that implements the case is
compared. The other cases compare two things within a backend (two resize methods, two defaults) and return
Sides. `parity check`, the pytest suite and the report all iterate over parity.check.cases.all_cases().
"""

from __future__ import annotations

import re

from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from parity.core.errors import ParityError, unknown

KINDS = ("matched", "divergence")


@dataclass(frozen=True)
class Exclusion:
    """Layers or tensors a case measures and shows but does not judge, and why (a record, not a comment)."""
    match: str  # regular expression on the layer/tensor name (re.search)
    reason: str
    judged_by: str = ""  # the case id that judges them instead, if any


@dataclass
class Output:
    """What one backend (or the float64 reference) computed: an array, or layers [(name, array)] in depth order."""
    value: np.ndarray | None = None
    layers: list | None = None
    detail: dict = field(default_factory=dict)


@dataclass
class Sides:
    """Two arrays a within-backend case compares, an optional float64 reference, and what each side is.

    A layer-wise case also gives `layers`: (name, a, b, reference) in depth order; its verdict is then the
    worst layer's, and the report names the first layer over tolerance.
    """
    a: np.ndarray
    b: np.ndarray
    reference: np.ndarray | None = None
    labels: tuple[str, str] = ("a", "b")
    detail: dict = field(default_factory=dict)
    layers: list | None = None


class Skip(Exception):
    """Raised by a case whose input is not at hand (e.g. no --data-dir): reported as skipped, not failed."""


@dataclass(frozen=True)
class Case:
    component: str  # 'data', 'resize', ...: the name of the file under parity/cases that declares it
    name: str
    kind: str  # 'matched': equal within tol; 'divergence': a known difference, measured, must exceed tol
    run: Callable  # across: (backend, ctx) -> Output | array; within: ctx -> Sides
    tol: str  # key of parity.check.tolerances.TOLERANCES
    reason: str = ""  # why the two sides differ (divergence) or why they should agree (matched)
    across: bool = False
    reference: Callable | None = None  # across: ctx -> Output | array, the float64 truth
    requires: tuple = ()  # across: (component, method) pairs a backend must implement to take part
    diverging_pairs: dict = field(default_factory=dict)  # across, matched: {(a, b): why this pair differs}
    exclude: tuple[Exclusion, ...] = ()  # layer-wise cases: names measured but not judged
    figure: str | None = None  # 'family/key' of the report figure this case feeds (parity.reports.plots.FIGURES)
    # > 0: `reference` is a rounding-order twin (the same float64 computation summed in another order), and a
    # tensor may differ by this many times the rounding noise it measures (see parity.check.compare.floor_of)
    floor_factor: float = 0.0
    key: str = ""  # the short stable id within the component: 'resnet18.64.infer' (the id: 'model.resnet18.64.infer')

    def __post_init__(self):
        if not KEY.fullmatch(self.key):
            raise ParityError(f"case {self.title!r} needs a key of lowercase letters, digits, '_', '-' and '.' "
                              f"(got {self.key!r})")
        if self.kind not in KINDS:
            raise unknown("case kind", self.kind, KINDS)
        if self.floor_factor and self.reference is None:
            raise ParityError(f"case {self.id!r} has a floor_factor but no rounding-order reference to measure it")
        if self.kind == "divergence" and not self.reason:
            raise ParityError(f"divergence case {self.id!r} needs a reason")

    @property
    def id(self) -> str:
        """Short and stable: reports, --only, diff and the self-test key on it; rewording a title changes nothing."""
        return f"{self.component}.{self.key}"

    @property
    def title(self) -> str:
        """What a reader sees; also the id this case had before ids were short (OLD_IDS maps stored results)."""
        return f"{self.component}/{self.name}"


KEY = re.compile(r"[a-z0-9_][a-z0-9_.-]*")


def lr_key(lr) -> str:
    """(1e-4, 1e-2) -> '1e-4_1e-2'; 3e-3 -> '3e-3': a learning rate or a slice's ends in a case key."""
    values = lr if isinstance(lr, tuple) else (lr,)
    return "_".join(f"{v:.0e}".replace("e-0", "e-").replace("e+0", "e") for v in values)


def as_output(value) -> Output:
    return value if isinstance(value, Output) else Output(value=np.asarray(value))
