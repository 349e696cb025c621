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

import importlib
import os
import threading
from dataclasses import dataclass
from queue import Queue

from parity.components import classifier, datasets, models
from parity.core.errors import ParityError, unknown
from parity.core.results import RunResult
from parity.runtime import workers as pool  # the module; "workers" is a count in this file
from parity.runtime.backends import Unsupported, current, get_backend
from parity.runtime.workers import WorkerDied
from parity.train import training
from parity.train.training import features_key

EXECUTORS = ("serial", "processes", "ray")
DEVICES = ("cpu", "cuda", "auto")


@dataclass(frozen=True)
class Task:
    recipe: object  # parity.train.recipes.Recipe
    spec: object  # parity.components.datasets.DataSpec
    seed: int
    body: str
    use_cache: bool = True
    device: str = "cpu"

    @property
    def backend(self) -> str:
        return self.recipe.framework


def prepared(task: Task) -> tuple:
    """(decoded data file, torch starting state or None): made once in the coordinating process."""
    path = training.prepare(task.recipe, task.spec, task.body)
    state = None
    if not get_backend(task.backend).builds_torch_models:  # ported from the torch model's starting state
        r = task.recipe
        state = classifier.torch_model_state(task.body, r.head, r.n_classes, models.TRAINING_WEIGHTS[task.body],
                                             dropout=True, seed=task.seed, init=r.init)
    return (str(path) if path else None), state


def unsupported_result(task: Task, why) -> dict:
    """Not a run: a configuration the backend cannot express (nothing is stored; it counts as missing)."""
    return RunResult(task.recipe.name, task.backend, task.seed, None, False, unsupported=str(why)).to_json()


def _run_on_lane(task: Task, lane: int, progress: bool) -> dict:
    try:
        path, state = prepared(task)
        args = (task.recipe, task.spec, task.seed, task.body, path, state, task.use_cache, progress, False)
        return pool.call_on(task.backend, pool.target_of(training.run_here), args, lane=lane, device=task.device)
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
    """Up to `workers` runs at once, each in a worker process (lane) of its backend; a backend has up to
    `per_backend` lanes. Runs that train the whole body start first (the long ones: a wave then does not end
    waiting on one). Runs that share cached body features go to the lane that holds them (or is making them),
    while other runs take the other lanes: a feature pass (minutes for 224 px inputs) is made once, not once
    per lane. Results do not depend on the lane: every lane computes a run's features the same way (the
    feature-cache test holds a run that made them and one that reused them equal bit for bit)."""
    name = "processes"

    def __init__(self, workers: int | None = None, progress: bool = False, per_backend: int | None = None):
        self.workers = workers or os.cpu_count() or 1
        self.per_backend = per_backend or self.workers
        self.progress = progress and self.workers == 1
        pool.plan(self.workers)
        self._lanes = threading.Condition()
        self._free: dict[str, list[int]] = {}  # backend -> its idle lanes
        self._warm: dict[tuple, set] = {}  # (backend, lane) -> feature keys that lane's worker has computed
        self._making: set = set()  # (backend, feature key) of first feature passes going on now

    def map(self, tasks: list[Task]):
        if self.workers == 1 or len(tasks) <= 1:
            for i, task in enumerate(tasks):
                yield i, _retry_once(task, lambda: _run_on_lane(task, 0, self.progress))
            return

        prepare_all(tasks)  # starting states and data files once, before the workers compete for them
        queue = sorted(((i, t, features_key(t.recipe, t.spec, t.body, t.use_cache)) for i, t in enumerate(tasks)),
                       key=lambda entry: entry[2] is not None)  # whole-body runs first, each group in order
        finished: Queue = Queue()
        for _ in range(min(self.workers, len(tasks))):
            threading.Thread(target=self._slot, args=(queue, finished), daemon=True,
                             name="parity-run").start()
        try:
            for _ in range(len(tasks)):
                i, result, error = finished.get()
                if error is not None:
                    raise error
                yield i, result
        finally:  # finished, failed or interrupted: start nothing more of this map (runs still going finish,
            with self._lanes:  # or end with their workers at exit)
                queue.clear()
                self._lanes.notify_all()

    def _pick(self, queue: list) -> tuple | None:
        """(position in the queue, lane) of the first run that can start now, or None: a run without cached
        features, one whose features an idle lane of its backend holds (on that lane), or one whose features
        no lane holds or is making. A run whose features a busy lane holds or is making waits for that lane
        (a second pass would cost more than the wait: at 224 px a pass is minutes, a run on it seconds)."""
        for pos, (_, task, key) in enumerate(queue):
            free = self._free.setdefault(task.backend, list(range(self.per_backend)))
            if not free:
                continue
            if key is None:
                return pos, free[0]
            if (task.backend, key) in self._making:
                continue
            holders = [lane for lane in range(self.per_backend) if key in self._warm.get((task.backend, lane), ())]
            warm = [lane for lane in free if lane in holders]
            if warm or not holders:
                return pos, (warm or free)[0]
        return None

    def _slot(self, queue: list, finished: Queue) -> None:
        """One of `workers` runs at once: take the next run _pick allows, run it on its lane, repeat."""
        while True:
            with self._lanes:
                picked = None
                while queue and (picked := self._pick(queue)) is None:
                    self._lanes.wait()
                if picked is None:
                    return
                i, task, key = queue.pop(picked[0])
                lane = picked[1]
                self._free[task.backend].remove(lane)
                first_pass = key is not None and key not in self._warm.get((task.backend, lane), ())
                if first_pass:
                    self._making.add((task.backend, key))
            result, error = None, None
            try:
                result = _retry_once(task, lambda: _run_on_lane(task, lane, self.progress))
            except BaseException as exc:  # handed to the coordinating thread, which raises it
                error = exc
            with self._lanes:
                self._free[task.backend].insert(0, lane)
                self._making.discard((task.backend, key))
                if key is not None and error is None:
                    self._warm.setdefault((task.backend, lane), set()).add(key)
                self._lanes.notify_all()
            finished.put((i, result, error))
            if error is not None:
                return


def _retry_once(task: Task, run):
    """A worker that died (killed, out of memory) loses its run; the run is tried once more on a fresh worker,
    and a second death is an error naming the run."""
    try:
        return run()
    except WorkerDied:
        pass
    try:
        return run()
    except WorkerDied as died:
        raise ParityError(f"run {task.recipe.name} [{task.backend}] seed {task.seed}, tried twice: {died} (an exit "
                          f"code of -9 is most often the kernel ending it for memory)") from None


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
        if path not in self._data:
            self._data[path] = self.ray.put(datasets.load(spec, path))
        return self._data[path]

    def map(self, tasks: list[Task]):
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
    """Runs in a Ray worker whose environment names the backend: started as a worker starts, then trains in
    place."""
    pool.bootstrap(task.backend, 1, task.device)
    try:
        return training.run_here(task.recipe, task.spec, task.seed, task.body, data, state, task.use_cache)
    except Unsupported as why:
        return unsupported_result(task, why)


def check_workers(executor: str, workers: int | None) -> None:
    """--workers: at least 1; with processes at most twice this machine's cores (each lane is a process that holds
    a framework, ~1-2 GB, and more lanes than that only queue on the CPU)."""
    if workers is None:
        return
    most = 2 * (os.cpu_count() or 1) if executor == "processes" else 1024
    if not 1 <= workers <= most:
        raise ParityError(f"--workers takes 1 to {most} with --executor {executor}"
                          f"{' (twice the cores)' if executor == 'processes' else ''}, got {workers}")


def make(name: str, workers: int | None = None, ray_address: str | None = None, progress: bool = False):
    if name not in EXECUTORS:
        raise unknown("executor", name, EXECUTORS)
    check_workers(name, workers)
    if name == "serial":
        return Serial(progress)
    if name == "processes":
        return Processes(workers, progress)
    return Ray(ray_address, workers, progress)


def resolve_device(device: str, backends) -> str:
    """The device every run of `backends` computes on. 'cuda' is checked before any run: each backend's cuda
    worker (a fresh interpreter, kept for the runs) must see a GPU, else an error names the backend that has
    none. 'auto' is cuda when every one of them sees a GPU, else cpu."""
    if device not in DEVICES:
        raise unknown("device", device, DEVICES)
    if device == "cpu":
        return device

    blind = [b for b in dict.fromkeys(backends) if not pool.call_on(b, pool.target_of(gpus_here), device="cuda")]
    if device == "auto":
        return "cpu" if blind else "cuda"
    if blind:
        raise ParityError(f"--device cuda: backend {blind[0]!r} sees no GPU on this machine (use --device cpu, or "
                          f"auto to take a GPU only where every backend of the command sees one)")
    return device


def gpus_here() -> int:
    """Runs in a backend's worker: how many GPUs its framework sees there."""
    return importlib.import_module(get_backend(current()).package).visible_gpus()


def check_device(task: Task, result: dict) -> dict:
    """A run's result records where it computed (read back from the framework's parameters); a run that
    computed elsewhere than its task asked is an error, never stored under the asked device."""
    if not result.get("unsupported") and result.get("device") != task.device:
        raise ParityError(f"run {task.recipe.name} [{task.backend}] seed {task.seed} computed on "
                          f"{result.get('device')!r}, not on the {task.device!r} it was asked for; not stored")
    return result
