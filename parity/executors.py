"""How training runs are carried out. A run is a pure task (recipe knobs, framework, body, data spec, seed,
device) -> result record; the coordinating process prepares what a task needs (the decoded data, the torch
starting state for a Keras backend), submits tasks, takes results as they finish and writes them to the store
itself, so a crashed or killed worker loses only its own unfinished run.

- serial: one run after another in one worker per backend (for debugging);
- processes (default): up to N worker processes at once on this machine (`--workers`, default: the cores),
  each with cores / N compute threads;
- ray: Ray tasks on a cluster (`--ray-address`) or a local Ray; the decoded data reaches them through Ray's
  object store, once per dataset, not pickled into every task; a cuda run asks for one GPU.
"""

from __future__ import annotations

import os
import threading
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from dataclasses import dataclass

from parity.errors import ParityError, unknown

EXECUTORS = ("serial", "processes", "ray")
DEVICES = ("cpu", "cuda", "auto")


@dataclass(frozen=True)
class Task:
    recipe: object  # parity.recipes.Recipe
    spec: object  # parity.datasets.DataSpec
    seed: int
    body: str
    use_cache: bool = True
    device: str = "cpu"

    @property
    def backend(self) -> str:
        return self.recipe.framework


def prepared(task: Task) -> tuple:
    """(decoded data file, torch starting state or None): made once in the coordinating process."""
    from parity import classifier, models, training

    path = training.prepare(task.recipe, task.spec, task.body)
    state = None
    if task.backend != "torch":
        r = task.recipe
        state = classifier.torch_model_state(task.body, r.head, r.n_classes, models.TRAINING_WEIGHTS[task.body],
                                             dropout=True, seed=task.seed, init=r.init)
    return (str(path) if path else None), state


def unsupported_result(task: Task, why) -> dict:
    """Not a run: a configuration the backend cannot express (nothing is stored; it counts as missing)."""
    return {"recipe": task.recipe.name, "framework": task.backend, "seed": task.seed, "accuracy": None,
            "diverged": False, "unsupported": str(why)}


def _run_on_lane(task: Task, lane: int, progress: bool) -> dict:
    from parity import workers
    from parity.backends import Unsupported

    try:
        path, state = prepared(task)
        args = (task.recipe, task.spec, task.seed, task.body, path, state, task.use_cache, progress, False)
        return workers.call_on(task.backend, "parity.training:run_here", args, lane=lane, device=task.device)
    except Unsupported as why:
        return unsupported_result(task, why)


class Serial:
    """One run at a time, in one worker per backend."""
    name = "serial"
    workers = 1

    def __init__(self, progress: bool = False):
        self.progress = progress

    def map(self, tasks: list[Task]):
        for i, task in enumerate(tasks):
            yield i, _run_on_lane(task, 0, self.progress)


class Processes:
    """Up to `workers` runs at once, each in a worker process of its backend; a backend has up to
    `per_backend` worker processes (lanes), so runs of one backend may wait for a lane while another's run."""
    name = "processes"

    def __init__(self, workers: int | None = None, progress: bool = False, per_backend: int | None = None):
        from parity import workers as pool

        self.workers = workers or os.cpu_count() or 1
        self.per_backend = per_backend or self.workers
        self.progress = progress and self.workers == 1
        pool.plan(self.workers)
        self._free: dict[str, list[int]] = {}
        self._lane_freed = threading.Condition()

    def _take_lane(self, backend: str) -> int:
        with self._lane_freed:
            free = self._free.setdefault(backend, list(range(self.per_backend)))
            self._lane_freed.wait_for(lambda: free)
            return free.pop(0)

    def _run(self, task: Task) -> dict:
        lane = self._take_lane(task.backend)
        try:
            return _retry_once(lambda: _run_on_lane(task, lane, self.progress))
        finally:
            with self._lane_freed:
                self._free[task.backend].insert(0, lane)
                self._lane_freed.notify_all()

    def map(self, tasks: list[Task]):
        if self.workers == 1 or len(tasks) <= 1:
            for i, task in enumerate(tasks):
                yield i, self._run(task)
            return
        prepare_all(tasks)  # starting states and data files once, before the workers compete for them
        threads = ThreadPoolExecutor(self.workers, thread_name_prefix="parity-run")
        pending = {threads.submit(self._run, task): i for i, task in enumerate(tasks)}
        try:
            while pending:
                done, _ = wait(pending, return_when=FIRST_COMPLETED)
                for future in done:
                    yield pending.pop(future), future.result()
        finally:  # interrupted or failed: do not wait for the runs still going (their workers are stopped at exit)
            threads.shutdown(wait=not pending, cancel_futures=True)


def _retry_once(run):
    """A worker that died (killed, out of memory) loses its run; the run is tried once more on a fresh worker."""
    from parity.workers import RemoteError

    try:
        return run()
    except RemoteError as exc:
        if "worker died" not in str(exc):
            raise
        return run()


def prepare_all(tasks: list[Task]) -> None:
    for task in tasks:
        prepared(task)


class Ray:
    """Ray tasks: a local Ray (ray.init with this machine's cores) or a cluster at `address`."""
    name = "ray"

    def __init__(self, address: str | None = None, workers: int | None = None, progress: bool = False):
        try:
            import ray
        except ImportError as exc:
            raise ParityError("--executor ray needs Ray: pip install 'parity[ray]' (or pip install ray)") from exc
        self.ray = ray
        if not ray.is_initialized():
            kwargs = {"address": address} if address else {"num_cpus": workers or os.cpu_count() or 1}
            try:
                ray.init(include_dashboard=False, log_to_driver=False, configure_logging=False, **kwargs)
            except Exception as exc:  # ConnectionError and friends: a clear message, not Ray's traceback
                raise ParityError(f"cannot start or reach Ray at {address or 'a local instance'!r}: {exc}") from exc
        self.workers = int(ray.cluster_resources().get("CPU", 1))
        self._data: dict = {}

    def _data_ref(self, spec, path):
        from parity import datasets

        if path not in self._data:
            self._data[path] = self.ray.put(datasets.load(spec, path))
        return self._data[path]

    def map(self, tasks: list[Task]):
        from parity.backends import get_backend

        refs = {}
        for i, task in enumerate(tasks):
            path, state = prepared(task)
            env = {**get_backend(task.backend).env, "PARITY_BACKEND": task.backend, "OMP_NUM_THREADS": "1"}
            remote = self.ray.remote(_ray_run).options(num_cpus=1, num_gpus=1 if task.device == "cuda" else 0,
                                                       runtime_env={"env_vars": env}, max_retries=1)
            refs[remote.remote(task, self._data_ref(task.spec, path), state)] = i
        while refs:
            done, _ = self.ray.wait(list(refs), num_returns=1)
            for ref in done:
                yield refs.pop(ref), self.ray.get(ref)


def _ray_run(task: Task, data, state) -> dict:
    """Runs in a Ray worker whose environment names the backend: configure it, then train in place."""
    import importlib

    from parity import training
    from parity.backends import get_backend

    from parity.backends import Unsupported

    package = importlib.import_module(get_backend(task.backend).package)
    package.configure_threads(1)
    package.configure_device(task.device)
    try:
        return training.run_here(task.recipe, task.spec, task.seed, task.body, data, state, task.use_cache)
    except Unsupported as why:
        return unsupported_result(task, why)


def make(name: str, workers: int | None = None, ray_address: str | None = None, progress: bool = False):
    if name not in EXECUTORS:
        raise unknown("executor", name, EXECUTORS)
    if workers is not None and workers < 1:
        raise ParityError(f"--workers must be at least 1, got {workers}")
    if name == "serial":
        return Serial(progress)
    if name == "processes":
        return Processes(workers, progress)
    return Ray(ray_address, workers, progress)


def resolve_device(device: str) -> str:
    """'auto' is cuda when the torch backend sees a GPU, else cpu."""
    if device not in DEVICES:
        raise unknown("device", device, DEVICES)
    if device != "auto":
        return device
    from parity import workers

    return "cuda" if workers.call_on("torch", "parity.executors:cuda_here", device="cuda") else "cpu"


def cuda_here() -> bool:
    import torch

    return bool(torch.cuda.is_available())
