"""Runs from the coordinating process: one at a time (`run`), or store-backed through an executor (`Runner`)."""

from __future__ import annotations

import sys

from parity.components import datasets, models
from parity.runtime import workers
from parity.runtime.backends import versions
from parity.train import training
from parity.train.executors import Serial, Task, check_device, prepared
from parity.train.recipes import Recipe, fingerprint, identity_knobs
from parity.train.store import run_key


def run(recipe: Recipe, spec: datasets.DataSpec, seed: int, body: str | None = None, use_cache: bool = True,
        progress: bool = False, keep_logits: bool = False, device: str = "cpu") -> dict:
    """One run in its backend's worker, from the coordinating process."""
    task = Task(recipe, spec, seed, body or recipe.body, use_cache, device)
    path, state = prepared(task)
    args = (recipe, spec, seed, task.body, path, state, use_cache, progress, keep_logits)
    return check_device(task, workers.call_on(recipe.framework, workers.target_of(training.run_here), args,
                                              device=device))


def run_identity(recipe: Recipe, spec: datasets.DataSpec, seed: int, body: str, versions: dict,
                 device: str = "cpu") -> dict:
    """Everything that decides a run's result: the result store's key. The recipe's name is left out, so
    two recipes with the same knobs share their runs."""
    knobs = identity_knobs(recipe)
    knobs["body"] = body
    return {"knobs": knobs, "fingerprint": fingerprint(recipe), "body": body,
            "weights": models.TRAINING_WEIGHTS.get(body), "data": spec.key(), "seed": seed, "versions": versions,
            "device": device}


class Runner:
    """Store-backed runs through an executor (parity.train.executors): finished runs are read back, the others
    submitted together and stored, atomically, by this process as each one finishes."""

    def __init__(self, spec: datasets.DataSpec, body: str, store, use_cache: bool = True, progress: bool = True,
                 executor=None, device: str = "cpu", announce: bool = True):

        self.spec, self.body, self.store, self.use_cache = spec, body, store, use_cache
        self.versions = {k: v for k, v in versions().items() if k != "platform"}
        self.executor = executor or Serial(progress)
        self.device = device
        self.announce = announce  # one line per finished run on stderr
        self.trained = 0

    def __call__(self, recipe: Recipe, seed: int) -> dict:
        return self.map([(recipe, seed)])[0]

    def map(self, requests: list[tuple]) -> list[dict]:
        """Results of (recipe, seed) or (recipe, seed, data spec) requests, in order, submitted together;
        each distinct new run trains once."""
        results: list = [None] * len(requests)
        waiting: dict[str, list] = {}  # store key -> [identity, task, indices]
        for i, (recipe, seed, *spec) in enumerate(requests):
            spec = spec[0] if spec else self.spec
            identity = run_identity(recipe, spec, seed, self.body, self.versions, self.device)
            found = self.store.get(identity)
            if found is not None:
                results[i] = found
                continue
            entry = waiting.setdefault(run_key(identity), [identity, Task(recipe, spec, seed, self.body,
                                                                          self.use_cache, self.device), []])
            entry[2].append(i)
        entries = list(waiting.values())
        for j, result in self.executor.map([task for _, task, _ in entries]):
            identity, task, indices = entries[j]
            if not result.get("unsupported"):
                result = self._record(identity, task, result)
            for i in indices:
                results[i] = result
        return results

    def _record(self, identity: dict, task, result: dict) -> dict:
        check_device(task, result)
        self.trained += 1
        accuracy = "diverged" if result["diverged"] else f"{100 * result['accuracy']:.1f}%"
        if self.announce:
            print(f"[run {self.trained}] {task.recipe.name} [{task.backend}] seed {task.seed}: {accuracy} "
                  f"({result['seconds']:.1f} s{', cached features' if result['cached_features'] else ''})",
                  file=sys.stderr, flush=True)
        return self.store.put(identity, result)


class AtSpec:
    """A runner seen through another data spec (one point of a sweep over data sizes): the same store,
    executor and run counters."""

    def __init__(self, runner: Runner, spec: datasets.DataSpec):
        self.runner, self.spec = runner, spec

    def __call__(self, recipe: Recipe, seed: int) -> dict:
        return self.map([(recipe, seed)])[0]

    def map(self, requests: list[tuple]) -> list[dict]:
        return self.runner.map([(recipe, seed, self.spec) for recipe, seed, *_ in requests])
