"""Typed results, written and read by this one module: a case's row (CaseResult), a training run (RunResult), an
attribution (Attribution) and the 95% interval they carry (Interval). Each record converts to the JSON a report
folder stores and back; a record missing a field, or with one it does not know, is an error naming the field.

results.json carries the layout's version as `schema`. `load` reads the versions listed in READABLE (older ones
are migrated on reading: schema 2 named cases by sentences, which map to today's short ids) and refuses any other
with the version it found and the ones it reads.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from parity.core.errors import ParityError
from parity.core.ids import current_id

SCHEMA = 3  # 3: short case ids with titles, typed records; 2: sentence ids


class Record:
    """to_json / from_json for a dataclass: from_json names the first missing or unknown field."""

    def to_json(self) -> dict:
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}

    @classmethod
    def from_json(cls, data: dict, where: str = ""):
        names = [f.name for f in dataclasses.fields(cls)]
        required = [f.name for f in dataclasses.fields(cls) if f.default is dataclasses.MISSING
                    and f.default_factory is dataclasses.MISSING]
        missing = [n for n in required if n not in data]
        unknown = [k for k in data if k not in names]
        if missing or unknown:
            problem = f"is missing field {missing[0]!r}" if missing else f"has unknown field {unknown[0]!r}"
            raise ParityError(f"{where or cls.__name__}: a {cls.__name__} {problem}")
        return cls(**data)


@dataclass
class Interval(Record):
    """A mean with its 95% CI over n seeds (n = 1: no interval, low = high = mean)."""
    mean: float
    low: float
    high: float
    n: int


@dataclass
class CaseResult(Record):
    """One case of `parity check`: its verdict over every pair of backends and the deciding pair's figures."""
    component: str
    case: str  # the case's title within its component
    id: str  # short and stable: 'model.resnet18.64.infer'
    title: str
    kind: str  # matched | divergence
    tol: float | None
    tol_name: str
    units: str
    relative: bool
    tol_source: str
    reason: str
    figure: str | None
    max_abs: float | None
    max_rel: float | None
    noise: float | None
    noise_ratio: float | None
    mean_abs: float | None
    noise_rel: float | None
    passed: bool | None
    status: str
    labels: list | None
    detail: dict
    seconds: float | None = None


@dataclass
class RunResult(Record):
    """One training run: a recipe on a backend with a seed, its test accuracy and how it ran."""
    recipe: str
    framework: str  # the backend it ran on
    seed: int
    accuracy: float | None  # None: diverged, or not run (unsupported)
    diverged: bool
    unsupported: str | None = None  # why the backend cannot run this configuration
    body: str | None = None
    weights: str | None = None
    steps: int | None = None
    final_loss: float | None = None
    diverged_at_step: int | None = None
    cached_features: bool | None = None
    body_built: bool | None = None
    n_train: int | None = None
    n_test: int | None = None
    device: str | None = None
    seconds: float | None = None
    logits: Any = None


@dataclass
class Attribution(Record):
    """A bisect from recipe A to recipe B: the gap, and what each method found (None where not asked)."""
    from_: str
    to: str
    factors: list
    seeds: list
    diff: dict
    middle: Any
    accuracy_from: dict
    accuracy_to: dict
    gap: dict
    oat: dict | None = None
    shapley: dict | None = None
    ddmin: dict | None = None
    interactions: dict | None = None
    configurations: int = 0
    runs: int = 0
    diverged_runs: int = 0
    unsupported_runs: list = field(default_factory=list)
    answer: str = ""
    budget: dict | None = None  # a budgeted bisect: runs spent, the screen, why it stopped (parity.train.budget)
    fidelity: dict | None = None  # screened at a lower fidelity: both fidelities per factor (parity.train.fidelity)

    def to_json(self) -> dict:  # 'from' is a Python keyword: stored under its own name
        out = super().to_json()
        out["from"] = out.pop("from_")
        return out

    @classmethod
    def from_json(cls, data: dict, where: str = ""):
        data = dict(data)
        if "from" in data:
            data["from_"] = data.pop("from")
        return super().from_json(data, where)


def _migrate_2(results: dict) -> dict:
    """Schema 2 named cases by sentences ('model/resnet18 64px inference'): today's ids, the sentence as title."""
    for row in results.get("cases", []):
        row.setdefault("title", row["id"])
        row["id"] = current_id(row["id"])
    return {**results, "schema": SCHEMA, "migrated_from": 2}


READABLE: dict[int, Callable[[dict], dict]] = {2: _migrate_2, SCHEMA: lambda results: results}


def load(path) -> dict:
    """A report folder's results.json (or the file itself), migrated to this schema; errors name the path and
    what is wrong with it."""
    path = Path(path)
    file = path / "results.json" if path.is_dir() else path
    if not path.exists():
        raise ParityError(f"run {str(path)!r} does not exist")
    if not file.is_file():
        raise ParityError(f"run {str(path)!r} has no results.json: it is not a parity report folder")
    try:
        results = json.loads(file.read_text())
    except (OSError, ValueError) as exc:
        raise ParityError(f"run {str(path)!r}: results.json is not readable JSON ({exc})") from exc
    if not isinstance(results, dict):
        raise ParityError(f"run {str(path)!r}: results.json holds a {type(results).__name__}, not a report")
    if "schema" not in results:
        raise ParityError(f"run {str(path)!r}: results.json is from an older parity (field 'schema' is missing); "
                          f"rerun that command with this version to compare it")
    if results["schema"] not in READABLE:
        raise ParityError(f"run {str(path)!r}: results.json has schema {results['schema']!r}; this parity reads "
                          f"schema {', '.join(map(str, sorted(READABLE)))}")
    results = READABLE[results["schema"]](results)
    for k, row in enumerate(results.get("cases", [])):
        CaseResult.from_json(row, f"run {str(path)!r}: results.json case {k}")
    return results
