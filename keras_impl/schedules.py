"""Keras side of parity.schedules: a LearningRateSchedule computing fastai's one-cycle in TF ops."""

from __future__ import annotations

import math

import keras
import numpy as np
import tensorflow as tf

from parity import schedules as spec


class _OneCycle(keras.optimizers.schedules.LearningRateSchedule):
    """fastai's two cosine phases, evaluated from the optimizer's step counter in float32 TF ops."""

    def __init__(self, name: str, n_steps: int, points: tuple[float, float, float]):
        sched = spec.get_schedule(name)
        self.name, self.n_steps, self.points = name, n_steps, points
        self.n1 = int(n_steps * sched.pct_start)  # fastai 1: warm-up batches
        self.pct_start = sched.pct_start

    def _phase_pos(self, step):
        step = tf.cast(step, tf.float32)
        if self.name == "fastai_v1_one_cycle":  # batch 0 at the start, then k/n1, then (k-n1)/n2
            n1, n2 = float(self.n1), float(self.n_steps - self.n1)
            return step > n1, tf.where(step > n1, (step - n1) / n2, step / n1)
        pct = step / float(self.n_steps)
        late = pct >= self.pct_start
        return late, tf.where(late, (pct - self.pct_start) / (1 - self.pct_start), pct / self.pct_start)

    def __call__(self, step):
        late, pos = self._phase_pos(step)
        start = tf.where(late, self.points[1], self.points[0])
        end = tf.where(late, self.points[2], self.points[1])
        return end + (start - end) / 2 * (tf.cos(math.pi * pos) + 1)

    def get_config(self):
        return {"name": self.name, "n_steps": self.n_steps, "points": self.points}


def lr_schedule(name: str, n_steps: int, lr_max: float) -> tuple[np.ndarray, np.ndarray]:
    """(lr, momentum) per batch from Keras LearningRateSchedule objects, as an optimizer would call them."""
    sched = spec.get_schedule(name)
    if name == "constant":
        return np.full(n_steps, lr_max, np.float32), np.full(n_steps, sched.moms[0], np.float32)
    lr = _OneCycle(name, n_steps, (lr_max / sched.div, lr_max, lr_max / sched.div_final))
    mom = _OneCycle(name, n_steps, (sched.moms[0], sched.moms[1], sched.moms[0]))
    steps = tf.range(n_steps)
    return lr(steps).numpy(), mom(steps).numpy()


def native_one_cycle(n_steps: int, lr_max: float) -> tuple[np.ndarray, np.ndarray]:
    """Keras' nearest own schedule: CosineDecay with a LINEAR warm-up from lr_max/25 to lr_max over 25% of
    the steps, then cosine to lr_max/1e5. Keras' Adam keeps beta_1 fixed: momentum stays 0.9."""
    warmup = int(0.25 * n_steps)
    sched = keras.optimizers.schedules.CosineDecay(lr_max / 25, decay_steps=n_steps - warmup, alpha=1e-5,
                                                   warmup_target=lr_max, warmup_steps=warmup)
    lrs = [float(sched(step)) for step in range(n_steps)]  # CosineDecay takes one step at a time
    return np.array(lrs, np.float32), np.full(n_steps, 0.9, np.float32)
