"""End-accuracy parity: one recipe trained in torch and in Keras from the same weights, batches and LRs per
seed. A paired TOST at level 0.05 is the statement that the 90% CI of the per-seed difference lies inside
+-margin: the case compares those CI bounds with the margin.

At CI size (digits, 300 training images) the case runs the thread's Keras recipe at 64 px, whose frozen
body makes a run take seconds; fastai's train_bn recipe (`keras_matched`) is tested the same way by
`nox -s equivalence` (all digits) and `nox -s thread` (CIFAR-10): with 9 training steps on 200 digits it
barely learns (~28%) and its per-seed spread (sd ~5 points) would need a margin too wide to mean much."""

from __future__ import annotations

import numpy as np

from parity.check.case import Case, Sides
from parity.check.tolerances import get_tolerance
from parity.components.datasets import DataSpec
from parity.train import recipes
from parity.train.equivalence import equivalence
from parity.train.executors import Processes
from parity.train.runner import Runner
from parity.train.store import ResultStore

SEEDS = (0, 1, 2, 3, 4)
CI_DATA = DataSpec("digits", train_per_class=30, test_per_class=40)
RECIPE = "keras_thread_64"


def _equivalence(ctx) -> Sides:
    # the two backends train at the same time, each in the worker the other cases use
    runner = ctx.memo(("runner", CI_DATA), lambda: Runner(CI_DATA, "efficientnet_lite0", ResultStore(None),
                                                          progress=False, announce=False,
                                                          executor=Processes(2, per_backend=1)))
    margin = get_tolerance("accuracy_tost").max_abs
    result = equivalence(runner, recipes.get_recipe(RECIPE), SEEDS, margin)
    t = result["test"]
    return Sides(np.array(t["ci"]), np.zeros(2), labels=("90% CI of torch - keras_tf accuracy", "zero"),
                 detail={"mean_diff": t["mean_diff"], "p_value": t["p_value"], "seeds": list(SEEDS),
                         "accuracy": {s["framework"]: s["per_seed"] for s in result["summary"]}})


CASES = [
    Case("accuracy", f"{RECIPE} end accuracy on digits, torch vs keras, 5 seeds (paired TOST)", "matched",
         _equivalence, "accuracy_tost", "same recipe, weights, batches and LRs per seed in both frameworks: only "
         "float32 noise and the dropout masks (each framework's own RNG) differ", key=f"{RECIPE}.tost"),
]
