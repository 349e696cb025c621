"""Keras side of parity.components.schedules: a LearningRateSchedule computing fastai's cosines in keras.ops float32, and
Keras' own nearest schedule (CosineDecay with warm-up)."""

from __future__ import annotations

import math

import keras
import numpy as np
from keras import ops


class _Cosines(keras.optimizers.schedules.LearningRateSchedule):
    """fastai's cosine between consecutive points, evaluated from the optimizer's step counter: batch i sits at
    positions[i] of phase phases[i] (parity.components.schedules decides both)."""

    def __init__(self, phases, positions, points):
        self.phases, self.positions, self.points = list(phases), list(positions), tuple(points)

    def __call__(self, step):
        i = ops.cast(step, "int32")
        phase = ops.take(ops.convert_to_tensor(self.phases, "int32"), i)
        pos = ops.take(ops.convert_to_tensor(self.positions, "float32"), i)
        points = ops.convert_to_tensor(self.points, "float32")
        start, end = ops.take(points, phase), ops.take(points, phase + 1)
        return end + (start - end) / 2 * (ops.cos(math.pi * pos) + 1)

    def get_config(self):
        return {"phases": self.phases, "positions": self.positions, "points": self.points}


def lr_schedule(phases, positions, lr_points, mom_points) -> tuple[np.ndarray, np.ndarray]:
    """(lr, momentum) per batch from Keras LearningRateSchedule objects, as an optimizer would call them."""
    steps = ops.arange(len(phases))
    return tuple(ops.convert_to_numpy(_Cosines(phases, positions, points)(steps)).astype(np.float32)
                 for points in (lr_points, mom_points))


def native_one_cycle(n_steps: int, lr_max: float, pct_start: float, div: float, div_final: float,
                     moms: tuple) -> tuple[np.ndarray, np.ndarray]:
    """Keras' nearest own schedule: CosineDecay with a LINEAR warm-up from lr_max/div to lr_max over pct_start
    of the steps, then cosine to lr_max/div_final. Keras' Adam keeps beta_1 fixed at 0.9: no momentum cycle."""
    warmup = int(pct_start * n_steps)
    sched = keras.optimizers.schedules.CosineDecay(lr_max / div, decay_steps=n_steps - warmup, alpha=1 / div_final,
                                                   warmup_target=lr_max, warmup_steps=warmup)
    lrs = [float(ops.convert_to_numpy(sched(step))) for step in range(n_steps)]  # one step at a time, as Keras does
    return np.array(lrs, np.float32), np.full(n_steps, 0.9, np.float32)
