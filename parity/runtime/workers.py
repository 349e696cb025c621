"""Backend worker processes: each backend runs in a process of its own and speaks numpy in and out.

The coordinating process never imports torch or TensorFlow. `call(backend, target, ...)` runs `target` (a
function of the backend's package, 'classifier.gradients', or of parity, 'parity.train.training:run_here') in
that backend's worker and returns its result. Arrays, numbers, strings and containers of them cross as they
are; anything else (a model) stays in the worker and comes back as a Handle, which later calls pass back.
Workers are started on first use and reused until the process ends, so their start-up is paid once.
Inside a worker, a call for its own backend runs in place.
"""

from __future__ import annotations

import atexit
import contextvars
import dataclasses
import gc
import importlib
import itertools
import mmap
import os
import pickle
import shutil
import sys
import tempfile
import threading
import traceback
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np

from parity.runtime import forkserver
from parity.runtime.backends import BACKEND_ENV, current, get_backend
from parity.core.errors import ParityError

THREADS_ENV = "PARITY_WORKER_THREADS"  # compute threads per worker (default: cores / workers in use)
PLAIN = (np.ndarray, np.generic, int, float, bool, str, bytes, type(None))
SHARED = "/dev/shm" if os.path.isdir("/dev/shm") else None  # large arrays travel through files here
BIG = 1 << 20  # bytes: an array this large crosses as a file in shared memory, not through the socket


@dataclass(frozen=True)
class Handle:
    """An object living in a backend's worker (a model, a snapshot): pass it back to calls on that backend."""
    backend: str
    key: int
    kind: str
    lane: int = 0  # which of the backend's workers keeps it


class RemoteError(RuntimeError):
    """An exception raised inside a worker that is not a ParityError; carries the worker's traceback."""


class WorkerDied(RemoteError):
    """The worker process ended while it ran a call (killed for memory, a crash in a framework)."""


# --- inside a worker -------------------------------------------------------------------------------------

_OBJECTS: dict[int, object] = {}
_KEYS = itertools.count(1)


def kept() -> int:
    """How many objects this worker keeps for Handles (call it on a backend: a leak shows as growth)."""
    return len(_OBJECTS)


# --- the wire: pickle 5 with large arrays out of band, each in a shared-memory file mapped on arrival -------

def send(conn, message) -> None:
    big = []
    payload = pickle.dumps(message, protocol=5,
                           buffer_callback=lambda b: b.raw().nbytes < BIG or big.append(b))
    files = []
    for buffer in big:
        fd, path = tempfile.mkstemp(prefix="parity-wire-", dir=SHARED)
        with os.fdopen(fd, "wb") as fh:
            fh.write(buffer.raw())
        files.append(path)
    conn.send((payload, files))


def receive(conn):
    payload, files = conn.recv()
    buffers = []
    for path in files:
        with open(path, "rb") as fh:
            size = os.fstat(fh.fileno()).st_size
            buffers.append(mmap.mmap(fh.fileno(), size, access=mmap.ACCESS_COPY) if size else b"")
        os.unlink(path)  # the mapping keeps the data alive; the file is gone
    return pickle.loads(payload, buffers=buffers)


def _plain_record(value) -> bool:
    """parity's own data records (LoadedSplit, Recipe, ...) cross as they are: they hold arrays and names."""
    return dataclasses.is_dataclass(value) and not isinstance(value, type) and type(value).__module__.startswith(
        "parity.")


def _resolve(value):
    if isinstance(value, Handle):
        return _OBJECTS[value.key]
    if isinstance(value, (list, tuple)):
        return type(value)(_resolve(v) for v in value)
    if isinstance(value, dict):
        return {k: _resolve(v) for k, v in value.items()}
    return value


def _store(value, backend: str, lane: int):
    """Plain values as they are; containers item by item; anything else kept here behind a Handle."""
    if isinstance(value, PLAIN) or _plain_record(value):
        return value
    if isinstance(value, (list, tuple)):
        return type(value)(_store(v, backend, lane) for v in value)
    if isinstance(value, dict):
        return {k: _store(v, backend, lane) for k, v in value.items()}
    key = next(_KEYS)
    _OBJECTS[key] = value
    return Handle(backend, key, type(value).__name__, lane)


def target_of(function) -> str:
    """'parity.train.training:run_here' for that function: a call names parity's code by reference, so readers
    and import graphs follow the hop; only module-level functions of parity can be named in a worker."""
    if "<locals>" in function.__qualname__ or not function.__module__.startswith("parity."):
        raise ParityError(f"{function.__qualname__} cannot run in a worker: only parity's module-level functions "
                          f"can be named there")
    return f"{function.__module__}:{function.__qualname__}"


def resolve_target(target: str, package: str | None = None):
    """'resize.resize' -> <package>.resize.resize; 'parity.train.training:run_here' -> that function."""
    module, _, function = target.rpartition(":") if ":" in target else target.rpartition(".")
    if ":" not in target:
        module = f"{package}.{module}"
    return getattr(importlib.import_module(module), function)


PARENT_POLL = 1.0  # seconds between a worker's checks that its coordinator is still alive


def _exit_with_parent(parent: int) -> None:
    """A daemon thread ends the worker within PARENT_POLL seconds of its parent's death (the coordinator, or the
    fork server that dies with it), even in the middle of a run: the run is lost either way (results are stored
    by the coordinator), and an orphan that trains on would hold cores and gigabytes for nothing. `parent` is
    the pid the worker was started by: one that died before the worker got here is noticed at the first look
    (reading os.getppid() here would then read init's, and watch it forever)."""
    import time

    def watch():
        while os.getppid() == parent:
            time.sleep(PARENT_POLL)
        _exit(0)

    threading.Thread(target=watch, daemon=True, name="parity-parent-watch").start()


def _exit(code: int) -> None:
    """End the worker now, skipping the frameworks' slow interpreter teardown, its temp folder removed (the
    atexit handlers that delete what the frameworks wrote there, such as TensorFlow autograph's generated
    modules, do not run)."""
    sys.stdout.flush()
    sys.stderr.flush()
    if _TEMP:
        shutil.rmtree(_TEMP[0], ignore_errors=True)
    os._exit(code)


_TEMP: list[str] = []  # this worker's temp folder, once serve has made it


def worker_temp(backend: str, pid: int) -> str:
    """The temp folder of a backend's worker process: made by serve, removed as the worker exits, or by its
    coordinator when it died."""
    return os.path.join(tempfile.gettempdir(), f"parity-{backend}-worker-{pid}")


def bootstrap(backend: str, threads: int, device: str):
    """Make this process `backend`'s: its package imported, its compute threads and device set. Every way a
    backend starts (a worker here, a Ray task) goes through this."""
    package = importlib.import_module(get_backend(backend).package)
    gc.freeze()  # the frameworks' objects stay for the process's life: out of its collections (runtime.forkserver)
    package.configure_threads(threads)
    package.configure_device(device)
    return package


def serve(fd: int, backend: str, threads: int, lane: int, device: str, parent: int) -> None:
    """A worker's main loop (started by Worker: forked, or with `python -c`): requests in, results out, until
    told to stop; it ends when `parent` (the process that started it) dies."""
    import signal
    from multiprocessing.connection import Connection

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the coordinator's to handle
    _TEMP.append(worker_temp(backend, os.getpid()))
    shutil.rmtree(_TEMP[0], ignore_errors=True)  # a stale one, of an earlier process with this pid
    os.mkdir(_TEMP[0], 0o700)
    tempfile.tempdir = _TEMP[0]  # what the frameworks put in the temp folder goes with the worker (_exit)
    _keep_freed_memory(threads)  # before the frameworks load and start their threads
    _exit_with_parent(parent)
    package = bootstrap(backend, threads, device)
    conn = Connection(fd)
    while True:
        try:
            message = receive(conn)
        except EOFError:
            message = None
        if message is None:
            _exit(0)
        op, target, args, kwargs = message
        try:
            if op == "free":
                model_freed = not all(_is_tensor(_OBJECTS.get(key)) for key in args)
                for key in args:
                    _OBJECTS.pop(key, None)
                if model_freed:  # a snapshot's tensors are freed by reference counting, and their memory reused
                    _give_back_memory()
                send(conn, ("ok", None))
                continue
            result = resolve_target(target, package.__name__)(*_resolve(args), **_resolve(kwargs))
            send(conn, ("ok", _store(result, backend, lane)))
        except BaseException as exc:  # noqa: BLE001  (sent back, raised in the coordinator)
            send(conn, ("error", type(exc).__name__, str(exc), traceback.format_exc(),
                        isinstance(exc, ParityError), _error_class(exc)))


# glibc's malloc, left to its defaults, hands every freed block above its mmap threshold (128 KiB to 32 MiB,
# adapting) back to the OS and trims the heap's free top, so the next tensor of that size is fresh memory the
# kernel must zero page by page: 6.0M page faults and 38 of the 133 CPU-seconds of a `parity check` were the
# kernel's (perf). Blocks up to 32 MiB now come from the heap and stay there for the next tensor, up
# to 1 GiB of free top is kept, and a worker computing on one thread keeps one arena (TensorFlow's threads would
# each grow their own). _give_back_memory still returns everything after a model is freed.
_M_MMAP_THRESHOLD, _M_TRIM_THRESHOLD, _M_ARENA_MAX = -3, -1, -8  # mallopt's options (malloc.h)


def _keep_freed_memory(threads: int) -> None:
    import ctypes

    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:  # not glibc: its allocator keeps its own policy
        return
    for option, value in ((_M_MMAP_THRESHOLD, 32 << 20), (_M_TRIM_THRESHOLD, 1 << 30),
                          (_M_ARENA_MAX, max(1, threads))):
        libc.mallopt(option, value)


def _is_tensor(value) -> bool:
    """A framework tensor (one item of a snapshot), by its array attributes: it holds no reference cycles."""
    return hasattr(value, "shape") and hasattr(value, "dtype")


def _give_back_memory() -> None:
    """After freeing models: collect the cycles and hand the freed heap back to the OS (glibc keeps it otherwise,
    and a worker that served a float64 ResNet-50 would hold gigabytes for the rest of the run)."""
    import ctypes

    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc: the allocator keeps its own policy
        pass


def _error_class(exc) -> str:
    """The ParityError subclass to re-raise in the coordinator (Skip, Unsupported, ...), by import path."""
    cls = type(exc)
    return f"{cls.__module__}:{cls.__qualname__}" if isinstance(exc, ParityError) or cls.__name__ == "Skip" else ""


# --- in the coordinator ----------------------------------------------------------------------------------

class Worker:
    """One backend's process, a fresh interpreter with the backend's environment (KERAS_BACKEND, thread counts)
    set before anything loads; its stdout goes to our stderr, so results on stdout stay clean. Calls to it are
    serialised by a lock (one request at a time)."""

    def __init__(self, backend: str, threads: int, lane: int = 0, device: str = "cpu"):
        import socket
        import subprocess
        import sys
        from multiprocessing.connection import Connection

        ours, theirs = socket.socketpair()
        env = {**os.environ, **get_backend(backend).env, BACKEND_ENV: backend,
               "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
        if device == "cpu":
            env["CUDA_VISIBLE_DEVICES"] = ""  # neither framework may reach a GPU (or spend time looking for one)
        args = (backend, threads, lane, device)
        self.backend = backend
        if device == "cpu" and forkserver.available():  # cuda: a fresh interpreter, CUDA's documented-safe start
            server = _fork_server(get_backend(backend).package, env, threads)
            self.process = server.fork("parity.runtime.workers:serve", theirs.fileno(), (*args, server.process.pid), env)
        else:
            code = f"from parity.runtime.workers import serve; serve({theirs.fileno()}, *{(*args, os.getpid())!r})"
            self.process = subprocess.Popen([sys.executable, "-c", code], pass_fds=[theirs.fileno()], env=env,
                                            stdin=subprocess.DEVNULL, stdout=2)  # our file descriptor 2
        theirs.close()
        self.conn = Connection(ours.detach())
        self.lock = threading.Lock()

    def alive(self) -> bool:
        return self.process.poll() is None

    def request(self, op: str, target: str, args, kwargs):
        with self.lock:
            try:
                send(self.conn, (op, target, args, kwargs))
                reply = receive(self.conn)
            except (EOFError, BrokenPipeError, ConnectionResetError) as exc:
                try:  # reap it, so the next call starts a fresh worker
                    code = self.process.wait(timeout=10)
                except Exception:  # noqa: BLE001
                    self.process.kill()
                    code = self.process.wait()
                self._remove_temp()
                raise WorkerDied(f"the {self.backend} worker died (exit code {code}) while running {target}") from exc
        if reply[0] == "ok":
            return reply[1]
        _, name, message, trace, is_parity, error_class = reply
        if error_class:
            cls = resolve_target(error_class)
            raise cls(message)
        raise RemoteError(f"{name} in the {self.backend} worker running {target}: {message}\n{trace}")

    def close(self) -> None:
        self.stop()
        self.wait()

    def stop(self) -> None:
        """Ask the worker to exit; `wait` collects it (stop all, then wait all: they exit side by side)."""
        try:
            with self.lock:
                send(self.conn, None)
        except (OSError, ValueError):
            pass

    def wait(self) -> None:
        try:
            self.process.wait(timeout=10)
        except Exception:  # noqa: BLE001  (a worker that will not stop is stopped)
            self.process.kill()
            self.process.wait()
        self._remove_temp()

    def _remove_temp(self) -> None:
        """What a worker that died could not remove itself (one that exits removes its folder first)."""
        if self.process.pid is not None:
            shutil.rmtree(worker_temp(self.backend, self.process.pid), ignore_errors=True)


_WORKERS: dict[tuple, Worker] = {}  # (backend, lane, device) -> its process
_SERVERS: dict[tuple, forkserver.ForkServer] = {}  # forkserver.running's key -> the server workers fork from
VOLATILE_ENV = ("PYTEST_CURRENT_TEST", BACKEND_ENV)  # change from call to call; no import reads them


def _fork_server(package: str, env: dict, threads: int) -> forkserver.ForkServer:
    """The fork server for workers of `package` with this environment (started on first use; called under
    _START). A worker gets the environment of its own start; the server's imports saw the same but for
    VOLATILE_ENV."""
    return forkserver.running(_SERVERS, env, VOLATILE_ENV, "parity.runtime.workers:load_package", (package, threads))


def load_package(package: str, threads: int) -> None:
    """What a fork server does before it forks: the allocator's settings, then the backend's imports."""
    _keep_freed_memory(threads)
    importlib.import_module(package)


_START = threading.Lock()
_PLANNED: list[int] = [0]  # how many workers this run expects to use at once (sets threads per worker)


def plan(workers: int) -> None:
    """Tell the pool how many workers will compute at once, so each gets cores / workers threads."""
    _PLANNED[0] = max(1, workers)


def _threads() -> int:
    if os.environ.get(THREADS_ENV):
        return max(1, int(os.environ[THREADS_ENV]))
    return max(1, (os.cpu_count() or 1) // max(1, _PLANNED[0] or 2))


def worker(backend: str, lane: int = 0, device: str = "cpu") -> Worker:
    get_backend(backend)
    key = (backend, lane, device)
    with _START:
        if key not in _WORKERS or not _WORKERS[key].alive():
            _WORKERS[key] = Worker(backend, _threads(), lane, device)
        return _WORKERS[key]


def call_on(backend: str, target: str, args=(), kwargs=None, lane: int = 0, device: str = "cpu"):
    """Run `target` for `backend` on one of its workers (`lane`, on `device`): in place inside that backend's
    worker, else through the worker."""
    if current() == backend:
        return resolve_target(target, get_backend(backend).package)(*args, **(kwargs or {}))
    if current() is not None:
        raise ParityError(f"the {current()} worker cannot call the {backend} backend ({target}); the coordinating "
                          f"process moves data between backends")
    return worker(backend, lane, device).request("call", target, args, kwargs or {})


_LANE = contextvars.ContextVar("parity_lane", default=0)  # where this thread's calls without handles go
_SPREAD: dict[str, int] = {}  # backend -> over how many CPU workers calls without handles spread (default 1)


@contextmanager
def spread(lanes: dict[str, int]):
    """Meanwhile calls to each backend that carry no handle go to its `lanes[backend]` workers, each caller to
    the one its `in_lane` names (a full check runs two cases at a time, each on a Keras worker of its own)."""
    saved = dict(_SPREAD)
    _SPREAD.update({backend: max(1, n) for backend, n in lanes.items()})
    try:
        yield
    finally:
        _SPREAD.clear()
        _SPREAD.update(saved)


@contextmanager
def in_lane(lane: int):
    """This thread's calls without handles go to worker `lane` of each backend (modulo its spread)."""
    token = _LANE.set(lane)
    try:
        yield
    finally:
        _LANE.reset(token)


def call(backend: str, target: str, *args, **kwargs):
    """`call_on` the CPU worker that keeps the call's handles, else the caller's lane (`in_lane`; by default
    the backend's first worker)."""
    lanes = {h.lane for h in handles_in((args, kwargs)) if h.backend == backend}
    if len(lanes) > 1:
        raise ParityError(f"{target} got objects kept by {backend} workers {sorted(lanes)}: one call runs in one "
                          f"worker")
    lane = lanes.pop() if lanes else _LANE.get() % _SPREAD.get(backend, 1)
    return call_on(backend, target, args, kwargs, lane=lane)


_THREADS = ThreadPoolExecutor(max_workers=8, thread_name_prefix="parity-call")


def submit(backend: str, target: str, *args, **kwargs) -> Future:
    """`call` without waiting (in the caller's lane): calls to different backends run at the same time."""
    return _THREADS.submit(contextvars.copy_context().run, call, backend, target, *args, **kwargs)


def handles_in(value):
    """Every Handle in a value: a Handle, or containers holding some (a snapshot comes back as a list or dict
    of them, one per tensor)."""
    if isinstance(value, Handle):
        yield value
    elif isinstance(value, (list, tuple)):
        for v in value:
            yield from handles_in(v)
    elif isinstance(value, dict):
        for v in value.values():
            yield from handles_in(v)


def release(value) -> None:
    """Drop the objects workers keep for every Handle in `value` (a model, a snapshot, a check run's memo when
    it ends); values made in this process hold none and are left alone."""
    by_worker: dict[tuple, list[int]] = {}
    for h in handles_in(value):
        by_worker.setdefault((h.backend, h.lane, "cpu"), []).append(h.key)
    for key, keys in by_worker.items():
        if key in _WORKERS and _WORKERS[key].alive():
            _WORKERS[key].request("free", "", keys, {})


def shutdown(keep_first_lanes: bool = False, backend: str | None = None) -> None:
    """Stop the workers and their fork servers (or only the workers past each backend's first CPU lane, which
    most callers use, and none of the servers; or only `backend`'s workers)."""
    stopping = {key: w for key, w in _WORKERS.items() if not (keep_first_lanes and key[1:] == (0, "cpu"))
                and backend in (None, key[0])}
    for w in stopping.values():
        w.stop()
    for key, w in stopping.items():
        w.wait()
        del _WORKERS[key]
    if not keep_first_lanes and backend is None:
        forkserver.close_all(_SERVERS)


def started() -> list[tuple]:
    return [key for key, w in _WORKERS.items() if w.alive()]


atexit.register(shutdown)
