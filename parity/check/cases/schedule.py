"""Schedule parity: LR and momentum per batch in both frameworks against float64, and how far the frameworks'
own one-cycle schedules sit from fastai's."""

from __future__ import annotations

from functools import partial

import numpy as np

from parity.components import schedules
from parity.check.case import Case, Output, Sides
from parity.check.cases._shared import TORCH, KERAS

SCHEDULE_STEPS, SCHEDULE_LR = 97, 3e-3  # an odd count, so the phase boundaries fall between batches


def _as_layers(lr, mom) -> Output:
    return Output(value=lr, layers=[("lr", lr), ("momentum", mom)])


def _schedule(name: str, backend: str, ctx) -> Output:
    return _as_layers(*schedules.lr_schedule(name, SCHEDULE_STEPS, SCHEDULE_LR, on=backend))


def _reference(name: str, ctx) -> Output:
    return _as_layers(*schedules.schedule_values(name, SCHEDULE_STEPS, SCHEDULE_LR))


NATIVE = {TORCH: "torch OneCycleLR", KERAS: "keras CosineDecay with warm-up"}


def _native_one_cycle(backend: str, ctx) -> Sides:
    lr, mom = schedules.native_one_cycle(SCHEDULE_STEPS, SCHEDULE_LR, on=backend)
    ref_lr, ref_mom = schedules.schedule_values(schedules.NATIVE_ONE_CYCLE, SCHEDULE_STEPS, SCHEDULE_LR)
    return Sides(lr / SCHEDULE_LR, ref_lr / SCHEDULE_LR, labels=(NATIVE[backend], "fastai 2 one-cycle"),
                 detail={"curve": list(np.abs(lr - ref_lr) / SCHEDULE_LR),
                         "curve_label": "|a - b| / lr_max per step", "momentum_max_abs": float(
                             np.abs(mom - ref_mom).max())})


def _v1_vs_v2(ctx) -> Sides:
    a = schedules.schedule_values("fastai_v1_one_cycle", SCHEDULE_STEPS, SCHEDULE_LR)[0]
    b = schedules.schedule_values("fastai_v2_one_cycle", SCHEDULE_STEPS, SCHEDULE_LR)[0]
    return Sides(a / SCHEDULE_LR, b / SCHEDULE_LR, labels=("fastai 1 one-cycle", "fastai 2 one-cycle"))


CASES = [
    *[Case("schedule", f"{name}", "matched", partial(_schedule, name), "schedule_f32",
           "LR and momentum per batch: torch LambdaLR and a Keras LearningRateSchedule against float64",
           across=True, reference=partial(_reference, name), key=f"{name}") for name in schedules.SCHEDULES],
    Case("schedule", "torch OneCycleLR vs fastai 2 one-cycle", "divergence", partial(_native_one_cycle, TORCH),
         "schedule_f32", "torch's OneCycleLR with fastai 2's numbers places the peak at step pct*n - 1 and "
         "reaches the final LR on the last step; fastai evaluates its cosines at pct = i/n",
         figure="divergence_curves/schedules", key="torch_one_cycle_vs_fastai_v2"),
    Case("schedule", "keras CosineDecay+warmup vs fastai 2 one-cycle", "divergence",
         partial(_native_one_cycle, KERAS), "schedule_f32",
         "Keras' own schedule warms up linearly, not by a cosine, and has no momentum cycle (beta_1 stays 0.9)",
         figure="divergence_curves/schedules", key="keras_cosine_vs_fastai_v2"),
    Case("schedule", "fastai 1 vs fastai 2 one-cycle", "divergence", _v1_vs_v2, "schedule_f32",
         "fastai 1 warms up for 30% of batches to a final LR of lr_max/25e4; fastai 2 for 25% to lr_max/1e5",
         key="fastai_v1_vs_v2"),
]
