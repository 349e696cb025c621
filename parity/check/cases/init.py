"""Initialiser parity: each init drawn in torch and in Keras, compared by distribution (percentiles of
w * sqrt(fan_in)) against the theoretical one; and the sizes of the init defaults' differences."""

from __future__ import annotations

from functools import partial

import numpy as np

from parity.components import heads
from parity.check.case import Case, Sides
from parity.check.cases._shared import TORCH, KERAS

FAN_IN, FAN_OUT = 1024, 512  # a head's Linear(2*512, 512): 524,288 draws
PERCENTILES = np.arange(1, 100)


def theoretical_percentiles(init: str) -> np.ndarray:
    """Percentiles of w * sqrt(fan_in) under `init`, from scipy.stats."""
    from scipy import stats

    dist = {
        "kaiming_normal": stats.norm(0, np.sqrt(2)),
        "glorot_uniform": stats.uniform(-np.sqrt(6 * FAN_IN / (FAN_IN + FAN_OUT)),
                                        2 * np.sqrt(6 * FAN_IN / (FAN_IN + FAN_OUT))),
        "torch_default": stats.uniform(-1, 2),
        "keras_he_normal": stats.truncnorm(-2, 2, scale=np.sqrt(2) / heads.TRUNCATED_NORMAL_SD),
    }[init]
    return dist.ppf(PERCENTILES / 100)


def _percentiles(init: str, backend: str, ctx) -> np.ndarray:
    return np.percentile(heads.sample_init(init, FAN_IN, FAN_OUT, ctx.seed, on=backend) * np.sqrt(FAN_IN), PERCENTILES)


def _cross(init_a: str, init_b: str, ctx) -> Sides:
    return Sides(_percentiles(init_a, TORCH, ctx), _percentiles(init_b, KERAS, ctx),
                 labels=(f"torch {init_a}", f"keras_tf {init_b}"))


CASES = [
    *[Case("init", f"{name} percentiles", "matched", partial(_percentiles, name), "init_percentiles",
           heads.INITS[name].summary, across=True, reference=lambda ctx, name=name: theoretical_percentiles(name),
           key=f"{name}")
      for name in heads.INITS],
    Case("init", "kaiming_normal vs keras he_normal", "divergence",
         partial(_cross, "kaiming_normal", "keras_he_normal"), "init_percentiles",
         "the thread's 'use kaiming in Keras' advice: keras HeNormal is a truncated normal (no weight beyond "
         "2 sd), torch kaiming_normal_ is not; VarianceScaling(2, 'fan_in', 'untruncated_normal') matches it",
         key="kaiming_vs_he_normal"),
    Case("init", "kaiming_normal (fastai head) vs glorot_uniform (keras Dense)", "divergence",
         partial(_cross, "kaiming_normal", "glorot_uniform"), "init_percentiles",
         "fastai heads start from kaiming_normal_, Keras Dense from glorot_uniform: a different scale and shape",
         key="kaiming_vs_glorot"),
]
