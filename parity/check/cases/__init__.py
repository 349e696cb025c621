"""Every parity case, collected from the per-component modules (each declares its cases as data), and the
selection by component. A component is named after the module that declares it."""

from __future__ import annotations

from parity.check.cases import accuracy, data, grad, head, init, loss, model, optim, resize, schedule, spec, train
from parity.core.errors import unknown

CASES = [*data.CASES, *resize.CASES, *model.CASES, *head.CASES, *init.CASES, *grad.CASES, *optim.CASES, *schedule.CASES,
         *loss.CASES, *spec.CASES, *train.CASES, *accuracy.CASES]


def all_cases() -> list:
    return list(CASES)


def components() -> list[str]:
    return sorted({c.component for c in all_cases()})


def select(only: str | None) -> list:
    """Cases of the comma-separated components in `only` (all when None)."""
    cases = all_cases()
    if not only:
        return cases
    wanted = [w.strip() for w in only.split(",") if w.strip()]
    for name in wanted:
        if name not in components():
            raise unknown("component", name, components())
    return [c for c in cases if c.component in wanted]
