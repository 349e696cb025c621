"""Parity cases as data: what a case is, what running one yields, and the selection by component.

`parity check`, the pytest suite and the report all iterate over `all_cases()`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from parity.errors import ParityError, unknown

KINDS = ("matched", "divergence")


@dataclass
class Sides:
    """The two arrays a case compares, an optional float64 reference, and what each side is.

    A layer-wise case also gives `layers`: (name, a, b, reference) in depth order; its verdict is then the
    worst layer's, and the report names the first layer over tolerance.
    """
    a: np.ndarray
    b: np.ndarray
    reference: np.ndarray | None = None
    labels: tuple[str, str] = ("torch", "keras")
    detail: dict = field(default_factory=dict)
    layers: list | None = None


@dataclass(frozen=True)
class Exclusion:
    """Layers or tensors a case measures and shows but does not judge, and why (a record, not a comment)."""
    match: str  # regular expression on the layer/tensor name (re.search)
    reason: str
    judged_by: str = ""  # the case id that judges them instead, if any


class Skip(Exception):
    """Raised by a case whose input is not at hand (e.g. no --data-dir): reported as skipped, not failed."""


@dataclass(frozen=True)
class Case:
    component: str  # 'data', 'resize', ...
    name: str
    kind: str  # 'matched': equal within tol; 'divergence': a known difference, measured, must exceed tol
    run: Callable[["object"], Sides]  # takes a parity.context.CheckContext
    tol: str  # key of parity.tolerances.TOLERANCES
    reason: str = ""  # why the two sides differ (divergence) or why they should agree (matched)
    exclude: tuple[Exclusion, ...] = ()  # layer-wise cases: names measured but not judged
    figure: str | None = None  # 'family/key' of the report figure this case feeds (parity.plots.FIGURES)

    def __post_init__(self):
        if self.kind not in KINDS:
            raise unknown("case kind", self.kind, KINDS)
        if self.kind == "divergence" and not self.reason:
            raise ParityError(f"divergence case {self.id!r} needs a reason")

    @property
    def id(self) -> str:
        return f"{self.component}/{self.name}"


def all_cases() -> list[Case]:
    from parity.cases import CASES

    return list(CASES)


def components() -> list[str]:
    return sorted({c.component for c in all_cases()})


def select(only: str | None) -> list[Case]:
    """Cases of the comma-separated components in `only` (all when None)."""
    cases = all_cases()
    if not only:
        return cases
    wanted = [w.strip() for w in only.split(",") if w.strip()]
    for name in wanted:
        if name not in components():
            raise unknown("component", name, components())
    return [c for c in cases if c.component in wanted]
