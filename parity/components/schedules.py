"""LR and momentum schedules as data, with their float64 values step by step.

fastai 1 `fit_one_cycle` (callbacks/one_cycle.py + Scheduler): batch 0 runs at the phase start, batch i at
phase pct = k/n_phase after k steps; phase 1 is int(n * pct_start) batches of cosine warm-up from
lr_max/div to lr_max (momentum 0.95 -> 0.85), phase 2 cosine down to lr_max/(div*1e4) (0.85 -> 0.95).
fastai 2 `fit_one_cycle` (callback/schedule.py): batch i at pct = i/n, combined_cos(pct_start=0.25,
lr_max/25, lr_max, lr_max/1e5), momentum 0.95 -> 0.85 -> 0.95. `fit` is constant.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from parity.core.errors import ParityError, unknown
from parity.runtime.client import client


@dataclass(frozen=True)
class Schedule:
    name: str
    source: str
    pct_start: float = 0.0
    div: float = 1.0
    div_final: float = 1.0
    moms: tuple[float, float] = (0.9, 0.9)


SCHEDULES = {s.name: s for s in [
    Schedule("constant", "fastai fit(): the same LR every batch; Keras fit() without a schedule"),
    Schedule("fastai_v1_one_cycle", "fastai 1 fit_one_cycle: pct_start 0.3, div 25, final div 25e4",
             0.3, 25.0, 25e4, (0.95, 0.85)),
    Schedule("fastai_v2_one_cycle", "fastai 2 fit_one_cycle: pct_start 0.25, div 25, div_final 1e5",
             0.25, 25.0, 1e5, (0.95, 0.85)),
]}


def get_schedule(name: str) -> Schedule:
    if name not in SCHEDULES:
        raise unknown("schedule", name, SCHEDULES)
    return SCHEDULES[name]


def anneal_cos(start: float, end: float, pct: float) -> float:
    """fastai's cosine from start (pct 0) to end (pct 1)."""
    return end + (start - end) / 2 * (math.cos(math.pi * pct) + 1)


def phase_positions(name: str, n_steps: int) -> list[tuple[int, float]]:
    """Per batch, (phase 0 or 1, position in that phase from 0 to 1): the discretisation of each library."""
    spec = get_schedule(name)
    if n_steps < 1:
        raise ParityError(f"a schedule needs at least 1 step, got {n_steps}")
    if name == "constant":
        return [(0, 0.0)] * n_steps
    if name == "fastai_v1_one_cycle":
        n1 = int(n_steps * spec.pct_start)
        n2 = n_steps - n1
        return [(0, 0.0)] + [(0, k / n1) if k <= n1 else (1, (k - n1) / n2) for k in range(1, n_steps)]
    pcts = [i / n_steps for i in range(n_steps)]
    return [(0, p / spec.pct_start) if p < spec.pct_start else (1, (p - spec.pct_start) / (1 - spec.pct_start))
            for p in pcts]


def points(name: str, lr_max: float) -> tuple[tuple, tuple]:
    """The (start, peak, end) LR and momentum each cosine phase runs between; constant: one value throughout."""
    spec = get_schedule(name)
    if name == "constant":
        return (lr_max,) * 3, (spec.moms[0],) * 3
    return (lr_max / spec.div, lr_max, lr_max / spec.div_final), (spec.moms[0], spec.moms[1], spec.moms[0])


def schedule_values(name: str, n_steps: int, lr_max: float) -> tuple[np.ndarray, np.ndarray]:
    """float64 (lr, momentum) for each of n_steps batches."""
    lr_points, mom_points = points(name, lr_max)
    lrs, moms = [], []
    for phase, pos in phase_positions(name, n_steps):
        lrs.append(anneal_cos(lr_points[phase], lr_points[phase + 1], pos))
        moms.append(anneal_cos(mom_points[phase], mom_points[phase + 1], pos))
    return np.array(lrs), np.array(moms)


# --- the front layer: the schedule decided here, evaluated by a backend in its own float32 ---------------

def lr_schedule(name: str, n_steps: int, lr_max: float, *, on: str) -> tuple[np.ndarray, np.ndarray]:
    """(lr, momentum) per batch as backend `on`'s scheduler produces them."""
    phases, positions = zip(*phase_positions(name, n_steps))
    lr_points, mom_points = points(name, lr_max)
    return client(on).schedules.lr_schedule(list(phases), list(positions), lr_points, mom_points)


NATIVE_ONE_CYCLE = "fastai_v2_one_cycle"  # the numbers each framework's own one-cycle is given


def native_one_cycle(n_steps: int, lr_max: float, *, on: str) -> tuple[np.ndarray, np.ndarray]:
    """The backend's own nearest one-cycle (torch OneCycleLR, Keras CosineDecay with warm-up) given fastai 2's
    numbers."""
    s = get_schedule(NATIVE_ONE_CYCLE)
    if n_steps < 2:
        raise ParityError(f"a one-cycle schedule needs at least 2 steps, got {n_steps}")
    return client(on).schedules.native_one_cycle(n_steps, lr_max, s.pct_start, s.div, s.div_final, s.moms)
