"""Every parity case, collected from the per-component modules (each declares its cases as data), and the
selection by component. A component is named after the module that declares it."""

from __future__ import annotations

import fnmatch

from parity.core.ids import current_id
from parity.check.cases import accuracy, data, grad, head, init, loss, model, optim, resize, schedule, spec, train
from parity.core.errors import unknown

CASES = [*data.CASES, *resize.CASES, *model.CASES, *head.CASES, *init.CASES, *grad.CASES, *optim.CASES, *schedule.CASES,
         *loss.CASES, *spec.CASES, *train.CASES, *accuracy.CASES]


def all_cases() -> list:
    return list(CASES)


def components() -> list[str]:
    return sorted({c.component for c in all_cases()})


def select(only: str | None) -> list:
    """The cases `only` names, comma-separated: components ('resize'), case ids ('model.resnet18.64.infer'), id
    patterns ('resize.fastai_v1.*') or earlier ids of a case (parity.core.ids); all when None. A name that
    matches no case is an error."""
    cases = all_cases()
    if not only:
        return cases
    chosen = set()
    for name in (w.strip() for w in only.split(",") if w.strip()):
        name = current_id(name)
        found = {c.id for c in cases if c.component == name or fnmatch.fnmatchcase(c.id, name)}
        if not found:
            raise unknown("component or case id", name, components())
        chosen |= found
    return [c for c in cases if c.id in chosen]
