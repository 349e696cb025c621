"""`--plan`: how many runs a command would make, how many the store already holds, how many train on cached
body features, and how long the rest would take, from a short calibration measured on this machine.

Calibration runs two tiny runs per group of alike runs (backend x cached or not), at two training-set sizes, in
the executor's own workers: their difference gives the time per training image-epoch, the first the fixed cost
of a run (building and porting the model, the evaluation). A cached group's feature pass is timed the same way.
The estimate for the executor is the sum over new runs divided by the runs it makes at once.
"""

from __future__ import annotations

import time
from dataclasses import replace

from parity.components import datasets
from parity.components.datasets import DataSpec
from parity.train import recipes, training
from parity.train.runner import Runner, run_identity

CALIBRATION_BATCHES = (1, 3)  # training batches of the two calibration runs
CALIBRATION_TEST = 2  # test images per class


def _images(recipe, n_train: int, n_test: int) -> float:
    return n_train * recipe.epochs + n_test


_SIZES: dict = {}


def _sizes(runner, spec: DataSpec, recipe) -> tuple[int, int]:
    """(training images, test images) a run on `spec` sees."""
    key = (spec, training.decoder_for(recipe, spec), training.load_for(recipe))
    if key not in _SIZES:
        train, test = datasets.load(spec, datasets.decoded_file(spec, key[1], key[2]))
        _SIZES[key] = (len(train.labels), len(test.labels))
    return _SIZES[key]


def _calibrate(runner, recipe, cached: bool, lanes: int) -> dict:
    """Seconds per run (fixed) and per training image-epoch, measured on two tiny runs of this group, after
    warm-up runs that start every worker (`lanes` of them) the group's runs will use: the estimate is of runs
    on started workers, whichever process then runs them, and a worker started only by the real runs would
    add its start (seconds) to a small command's wall time but not to the estimate."""
    timings = []
    for size, batches in enumerate(CALIBRATION_BATCHES):
        per_class = -(-batches * recipe.batch_size // recipe.n_classes)
        spec = replace(runner.spec, train_per_class=per_class, test_per_class=CALIBRATION_TEST)
        tiny = recipes.with_knobs(recipe, epochs=1, name=f"{recipe.name} (calibration)")
        task_runner = Runner(spec, runner.body, type(runner.store)(None), runner.use_cache, False,
                                      runner.executor, runner.device, announce=False)
        n_train, n_test = _sizes(runner, spec, tiny)
        # warm: worker start and imports (every lane, once), the feature pass of a cached group (each size)
        task_runner.map([(tiny, seed) for seed in range(1, 1 + (lanes if size == 0 else 1))])
        start = time.perf_counter()
        task_runner(tiny, 0)
        timings.append((_images(tiny, n_train, n_test), time.perf_counter() - start))
    (small, t_small), (large, t_large) = timings
    per_image = max((t_large - t_small) / max(large - small, 1), 0.0)
    return {"fixed": max(t_small - per_image * small, 0.0), "per_image": per_image}


def plan(runner, requests: list[tuple], note: str = "") -> dict:
    """The runs `requests` would make: counts, cached share, calibration and estimated wall times."""
    stored, new, seen = 0, [], set()
    for recipe, seed, *spec in requests:
        spec = spec[0] if spec else runner.spec
        identity = run_identity(recipe, spec, seed, runner.body, runner.versions, runner.device)
        key = repr(sorted(identity.items()))
        if key in seen:
            continue
        seen.add(key)
        if runner.store.get(identity) is not None:
            stored += 1
        else:
            new.append((recipe, seed, spec))
    groups: dict = {}
    for recipe, seed, spec in new:
        groups.setdefault((recipe.framework, runner.use_cache and training.cacheable(recipe)), []).append(
            (recipe, spec))
    total, costs = 0.0, {}
    at_once = max(1, runner.executor.workers)
    for (backend, cached), members in groups.items():
        cost = _calibrate(runner, members[0][0], cached, min(at_once, len(members)))
        costs[f"{backend}{' cached' if cached else ''}"] = cost
        for recipe, spec in members:
            n_train, n_test = _sizes(runner, spec, recipe)
            total += cost["fixed"] + cost["per_image"] * _images(recipe, n_train, n_test)
    return {"runs": len(seen), "stored": stored, "new": len(new),
            "cached_share": (sum(1 for r, _, _ in new if runner.use_cache and training.cacheable(r)) / len(new)
                             if new else 0.0),
            "calibration": costs, "serial_seconds": total, "executor": runner.executor.name,
            "workers": at_once, "estimate_seconds": total / at_once, "note": note}


def text(p: dict) -> str:
    lines = [f"{p['runs']} runs: {p['stored']} already in the store, {p['new']} to train "
             f"({100 * p['cached_share']:.0f}% of them on cached body features).{' ' + p['note'] if p['note'] else ''}"]
    for group, cost in p["calibration"].items():
        lines.append(f"  calibration, {group}: {cost['fixed']:.2f} s per run + {1000 * cost['per_image']:.2f} ms per "
                     f"training image-epoch")
    lines.append(f"Estimated wall time: {p['estimate_seconds'] / 60:.1f} min with --executor {p['executor']} "
                 f"({p['workers']} at once); {p['serial_seconds'] / 60:.1f} min one at a time; with Ray, that sum "
                 f"over the cluster's CPUs.")
    return "\n".join(lines)
