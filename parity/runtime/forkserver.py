"""Fork servers: one process per worker environment loads a backend's package once, and each later worker of that
environment is a fork of it instead of a fresh interpreter that loads torch or TensorFlow again (2.7-3.5 CPU-s
each, `python -c 'import keras_impl'`; a test session starts ~35 workers). Linux only (it needs pidfds);
elsewhere, and with PARITY_FORK_WORKERS=0, workers start as fresh interpreters.

The server forks before either framework has started a thread pool or touched a device: it only imports. It
never reaps its children on its own, so a worker's pid stays its own until the coordinator asks for the exit
code. It exits when the coordinator closes its end or dies; its workers, watching their parent, follow it.

After its imports the server freezes what they made (gc.freeze, as the gc module's documentation advises before
a fork): the ~450,000 objects of torch and TensorFlow are out of every later collection in the children, so a
collection neither walks them (a full one took 85 ms in a Keras worker, 2 us frozen) nor writes to their pages,
which the child would otherwise copy.
"""

from __future__ import annotations

import gc
import importlib
import os
import pickle
import select
import signal
import socket
import subprocess
import sys
import threading
import traceback
from collections import deque

FORK_ENV = "PARITY_FORK_WORKERS"  # '0': every worker a fresh interpreter (to compare, or to debug a start-up)
MESSAGE = 1 << 18  # bytes: the largest request or reply (a target, its small arguments, an environment)


def available() -> bool:
    return (sys.platform.startswith("linux") and hasattr(os, "pidfd_open") and hasattr(socket, "send_fds")
            and os.environ.get(FORK_ENV, "1") != "0")


def _resolve(target: str):
    module, _, name = target.partition(":")
    return getattr(importlib.import_module(module), name)


# --- the server process -----------------------------------------------------------------------------------------

def serve_forks(fd: int, setup: str, setup_args: tuple) -> None:
    """The server's loop (started with `python -c`): run `setup(*setup_args)` (the imports), then answer
    ('fork', target, args, env, cwd) with the pid of a child running `target(fd, *args)` on the file descriptor
    that came with the request, and ('reap', pid) with that child's exit code."""
    _SIGINT_AT_START.append(signal.signal(signal.SIGINT, signal.SIG_IGN))  # Ctrl-C is the coordinator's to handle
    _resolve(setup)(*setup_args)
    gc.freeze()  # what the imports made lives as long as the children: their collections skip it
    control = socket.socket(fileno=fd)
    while True:
        try:
            message, fds, _, _ = socket.recv_fds(control, MESSAGE, 1)
        except OSError:
            message = b""
        if not message:  # the coordinator closed its end, or died
            os._exit(0)
        request = pickle.loads(message)
        if request[0] == "reap":
            control.send(pickle.dumps(_exit_code(request[1])))
            continue
        _, target, args, env, cwd = request
        pid = os.fork()
        if pid == 0:
            control.close()
            _run_child(target, fds[0], args, env, cwd)
        os.close(fds[0])
        control.send(pickle.dumps(pid))


_SIGINT_AT_START: list = []  # how the server was to take Ctrl-C before it chose to ignore it


def sigint_at_start():
    """In a forked child: the SIGINT handler the server started with (Python's default, or SIG_IGN when the
    coordinator ignored it: a background job of a shell), for a child that should take Ctrl-C as a fresh
    interpreter would."""
    return _SIGINT_AT_START[0] if _SIGINT_AT_START else signal.getsignal(signal.SIGINT)


def _run_child(target: str, fd: int, args: tuple, env: dict, cwd: str | None) -> None:
    code = 1
    try:
        if cwd is not None:
            os.chdir(cwd)
        os.environ.clear()  # the environment the worker was asked for, as a fresh interpreter would get it
        os.environ.update(env)
        code = _resolve(target)(fd, *args) or 0  # a target that returns may return its exit code
    except BaseException:  # noqa: BLE001  (a child must never return into the server's loop)
        traceback.print_exc()
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def _exit_code(pid: int) -> int | None:
    try:
        _, status = os.waitpid(pid, 0)
    except ChildProcessError:
        return None
    return os.waitstatus_to_exitcode(status)


# --- the coordinator's side ---------------------------------------------------------------------------------------

def running(servers: dict, env: dict, volatile: tuple, setup: str, setup_args: tuple,
            cwd: str | None = None) -> ForkServer:
    """The server kept in `servers` for `setup` and `env` but for its `volatile` variables (they change from
    call to call and no import reads them), started on first use or when the last one died."""
    key = (setup, setup_args, tuple(sorted((k, v) for k, v in env.items() if k not in volatile)))
    if key not in servers or not servers[key].alive():
        servers[key] = ForkServer(env, setup, setup_args, cwd)
    return servers[key]


def close_all(servers: dict) -> None:
    """Close every server kept in `servers` (by `running`) and forget them."""
    for server in servers.values():
        server.close()
    servers.clear()


class ForkServer:
    """A server process started with `env` (in `cwd`, ours by default: `python -c` puts it first on sys.path);
    `fork` returns at once (the server may still be importing)."""

    def __init__(self, env: dict, setup: str, setup_args: tuple, cwd: str | None = None):
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        code = (f"from parity.runtime.forkserver import serve_forks; "
                f"serve_forks({theirs.fileno()}, {setup!r}, {setup_args!r})")
        self.process = subprocess.Popen([sys.executable, "-c", code], pass_fds=[theirs.fileno()], env=env, cwd=cwd,
                                        stdin=subprocess.DEVNULL, stdout=2)  # our file descriptor 2, as workers
        theirs.close()
        self.control = ours
        self.lock = threading.Lock()
        self.pending: deque[Forked] = deque()  # forks asked for, whose pid has not been read yet

    def alive(self) -> bool:
        return self.process.poll() is None

    def fork(self, target: str, fd: int, args: tuple, env: dict) -> Forked:
        """A child running `target(fd, *args)` with `env` added to the server's environment, in our cwd."""
        child = Forked(self)
        try:
            cwd = os.getcwd()
        except FileNotFoundError:  # ours was deleted: the child stays in the server's
            cwd = None
        with self.lock:
            socket.send_fds(self.control, [pickle.dumps(("fork", target, args, env, cwd))], [fd])
            self.pending.append(child)
        return child

    def settle(self, block: bool = True) -> None:
        """Read the pids of the forks asked for (in order); without `block`, only those already answered."""
        with self.lock:
            self._settle(block)

    def _settle(self, block: bool) -> None:
        while self.pending:
            if not block and not select.select([self.control], [], [], 0)[0]:
                return
            reply = self.control.recv(MESSAGE)
            self.pending.popleft().started(pickle.loads(reply) if reply else None)

    def reap(self, pid: int) -> int | None:
        with self.lock:
            self._settle(block=True)
            try:
                self.control.send(pickle.dumps(("reap", pid)))
                reply = self.control.recv(MESSAGE)
            except OSError:
                return None
            return pickle.loads(reply) if reply else None

    def close(self) -> None:
        """The server exits when its end closes; workers it forked notice and end too."""
        self.control.close()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


class Forked:
    """A forked worker, with the parts of subprocess.Popen that workers use (pid, poll, wait, kill)."""

    def __init__(self, server: ForkServer):
        self.server = server
        self._pid: int | None = None
        self._pidfd: int | None = None  # readable once the process has exited
        self.returncode: int | None = None

    def started(self, pid: int | None) -> None:
        if pid is None:  # the server died before it forked
            self.returncode = 1
            return
        self._pid = pid
        self._pidfd = os.pidfd_open(pid)

    @property
    def pid(self) -> int | None:
        if self._pid is None and self.returncode is None:
            self.server.settle()
        return self._pid

    def poll(self) -> int | None:
        if self.returncode is None and self._pid is None:
            self.server.settle(block=False)
            if self._pid is None:
                return self.returncode  # still starting (None), or never started (1)
        if self.returncode is None and select.select([self._pidfd], [], [], 0)[0]:
            self._collect()
        return self.returncode

    def wait(self, timeout: float | None = None) -> int | None:
        if self.pid is not None and self.returncode is None:
            if not select.select([self._pidfd], [], [], timeout)[0]:
                raise subprocess.TimeoutExpired(f"worker {self._pid}", timeout)
            self._collect()
        return self.returncode

    def kill(self) -> None:
        if self.pid is not None and self.returncode is None:
            signal.pidfd_send_signal(self._pidfd, signal.SIGKILL)

    def _collect(self) -> None:
        code = self.server.reap(self._pid)
        self.returncode = -1 if code is None else code  # None: the server went first, and the code with it
        os.close(self._pidfd)
