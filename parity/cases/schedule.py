"""Schedule parity: LR and momentum per batch in both frameworks against float64, and how far the frameworks'
own one-cycle schedules sit from fastai's."""

from __future__ import annotations

from functools import partial

import numpy as np

from parity.frameworks import mirror
from parity.registry import Case, Sides

SCHEDULE_STEPS, SCHEDULE_LR = 97, 3e-3  # an odd count, so the phase boundaries fall between batches


def _schedule(name: str, ctx) -> Sides:
    from parity import schedules

    torch_side, keras_side = mirror("schedules")
    a, b = torch_side.lr_schedule(name, SCHEDULE_STEPS, SCHEDULE_LR), keras_side.lr_schedule(
        name, SCHEDULE_STEPS, SCHEDULE_LR)
    ref = schedules.schedule_values(name, SCHEDULE_STEPS, SCHEDULE_LR)
    layers = [("lr", a[0], b[0], ref[0]), ("momentum", a[1], b[1], ref[1])]
    return Sides(a[0], b[0], ref[0], layers=layers, detail={"steps": SCHEDULE_STEPS, "lr_max": SCHEDULE_LR})


def _native_one_cycle(framework: int, ctx) -> Sides:
    from parity import schedules

    side = mirror("schedules")[framework]
    lr, mom = side.native_one_cycle(SCHEDULE_STEPS, SCHEDULE_LR)
    ref_lr, ref_mom = schedules.schedule_values("fastai_v2_one_cycle", SCHEDULE_STEPS, SCHEDULE_LR)
    label = ("torch OneCycleLR", "keras CosineDecay with warm-up")[framework]
    return Sides(lr / SCHEDULE_LR, ref_lr / SCHEDULE_LR, labels=(label, "fastai 2 one-cycle"),
                 detail={"curve": list(np.abs(lr - ref_lr) / SCHEDULE_LR),
                         "curve_label": "|a - b| / lr_max per step", "momentum_max_abs": float(
                             np.abs(mom - ref_mom).max())})


def _v1_vs_v2(ctx) -> Sides:
    from parity import schedules

    a = schedules.schedule_values("fastai_v1_one_cycle", SCHEDULE_STEPS, SCHEDULE_LR)[0]
    b = schedules.schedule_values("fastai_v2_one_cycle", SCHEDULE_STEPS, SCHEDULE_LR)[0]
    return Sides(a / SCHEDULE_LR, b / SCHEDULE_LR, labels=("fastai 1 one-cycle", "fastai 2 one-cycle"))


def _schedule_names():
    from parity import schedules

    return list(schedules.SCHEDULES)


CASES = [
    *[Case("schedule", f"{name}", "matched", partial(_schedule, name), "schedule_f32",
           "LR and momentum per batch: torch LambdaLR and a Keras LearningRateSchedule against float64")
      for name in _schedule_names()],
    Case("schedule", "torch OneCycleLR vs fastai 2 one-cycle", "divergence", partial(_native_one_cycle, 0),
         "schedule_f32", "torch's OneCycleLR with fastai 2's numbers places the peak at step pct*n - 1 and "
         "reaches the final LR on the last step; fastai evaluates its cosines at pct = i/n",
         figure="divergence_curves/schedules"),
    Case("schedule", "keras CosineDecay+warmup vs fastai 2 one-cycle", "divergence",
         partial(_native_one_cycle, 1), "schedule_f32",
         "Keras' own schedule warms up linearly, not by a cosine, and has no momentum cycle (beta_1 stays 0.9)",
         figure="divergence_curves/schedules"),
    Case("schedule", "fastai 1 vs fastai 2 one-cycle", "divergence", _v1_vs_v2, "schedule_f32",
         "fastai 1 warms up for 30% of batches to a final LR of lr_max/25e4; fastai 2 for 25% to lr_max/1e5"),
]
