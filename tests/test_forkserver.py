"""Workers forked from a fork server: one server per worker environment, results bit for bit those of a fresh
interpreter, exit codes reported, and a server's death ends its workers without stranding the next call."""

import signal
import subprocess

import numpy as np
import pytest

from conftest import BACKENDS
from parity.components import classifier
from parity.runtime import forkserver, workers
from parity.runtime.workers import RemoteError

FORKED, FRESH = 5, 6  # lanes no other test uses: each test closes what it started


def _parent(pid: int) -> int:
    with open(f"/proc/{pid}/stat") as fh:
        return int(fh.read().rsplit(")", 1)[1].split()[1])


def _close(*keys) -> None:
    for backend, lane in keys:
        workers.worker(backend, lane).close()


@pytest.fixture(autouse=True)
def _needs_fork_server():
    if not forkserver.available():
        pytest.skip("fork servers need Linux pidfds (this platform starts fresh interpreters)")


def test_workers_of_one_environment_are_forks_of_one_server():
    """torch and its float64 reference share a package and an environment: one server, forked twice."""
    import os

    try:
        pids = [workers.worker(b, FORKED).process.pid for b in ("torch", "torch_reference")]
        parents = {_parent(pid) for pid in pids}
        assert len(parents) == 1 and parents != {os.getpid()}, (pids, parents)
        assert _parent(parents.pop()) == os.getpid()
    finally:
        _close(("torch", FORKED), ("torch_reference", FORKED))


def test_a_fork_ignores_ctrl_c_and_knows_how_its_server_took_it_at_start():
    """Forks ignore Ctrl-C (a worker leaves it to its coordinator); a planted pytest run takes it as its server
    started with it, which is how its coordinator took it: here Python's default handler, set for the start
    (a coordinator run as a shell's background job ignores it, and so would the server)."""
    import os

    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        server = forkserver.ForkServer(dict(os.environ), "parity.runtime.forkserver:available", ())
    finally:
        signal.signal(signal.SIGINT, previous)
    read, write = os.pipe()
    try:
        child = server.fork("tests.worker_probe:write_ctrl_c", write, (), dict(os.environ))
        os.close(write)
        with os.fdopen(read) as answer:
            assert answer.read() == "ignored default"
        assert child.wait(timeout=60) == 0
    finally:
        server.close()


def test_a_worker_whose_parent_died_before_it_began_to_watch_ends_at_once():
    """A worker watches the pid that started it (handed over at the start), not whatever os.getppid() says when
    its watch begins: a fork whose server was killed first would read init's pid there and never end (seen once
    in CI, in the server-death test below)."""
    import os

    server = forkserver.ForkServer(dict(os.environ), "parity.runtime.forkserver:available", ())
    read, write = os.pipe()
    os.close(read)
    try:
        child = server.fork("tests.worker_probe:outlive", write, (server.process.pid + 1,), dict(os.environ))
        os.close(write)
        assert child.wait(timeout=workers.PARENT_POLL * 10) == 0
    finally:
        server.close()


@BACKENDS
def test_a_forked_worker_computes_what_a_fresh_one_does(backend, monkeypatch):
    """A forward and backward pass of a seeded ResNet-18 (train-mode BN) in a forked worker and in a fresh
    interpreter: the same gradients and statistics, bit for bit. Both keep the frameworks' objects out of their
    collections (gc.freeze after the imports: ~450,000 objects; a full collection walked them for 85 ms)."""
    rng = np.random.default_rng(0)
    images = rng.uniform(0, 1, (4, 32, 32, 3)).astype(np.float32)
    labels = np.arange(4)
    with monkeypatch.context() as m:
        m.setenv(forkserver.FORK_ENV, "0")
        fresh = workers.worker(backend, FRESH)
    assert not isinstance(fresh.process, forkserver.Forked)
    assert isinstance(workers.worker(backend, FORKED).process, forkserver.Forked)
    results, frozen = [], []
    try:
        for lane in (FORKED, FRESH):
            frozen.append(workers.call_on(backend, "gc:get_freeze_count", lane=lane))
            with workers.spread({backend: FRESH + 1}), workers.in_lane(lane):
                model = classifier.build_model("resnet18", "fastai_v1", 10, "resnet18.init", seed=0, on=backend)
            results.append(classifier.gradients(model, images, labels, "train_bn"))
            workers.release(model)
    finally:
        _close((backend, FORKED), (backend, FRESH))
    assert min(frozen) > 100_000, frozen
    (loss_forked, grads_forked), (loss_fresh, grads_fresh) = results
    np.testing.assert_array_equal(loss_forked, loss_fresh)
    assert grads_forked.keys() == grads_fresh.keys()
    for name in grads_forked:
        np.testing.assert_array_equal(grads_forked[name], grads_fresh[name], err_msg=name)


def test_a_forked_worker_that_dies_says_how():
    """... and its coordinator removes the temp folder it could not remove itself."""
    import os

    workers.call_on("torch", "parity.runtime.backends:current", lane=FORKED)  # started: serve has made its folder
    pid = workers.worker("torch", FORKED).process.pid
    assert os.path.isdir(workers.worker_temp("torch", pid))
    with pytest.raises(RemoteError, match=r"the torch worker died \(exit code 9\) while running os:_exit"):
        workers.call_on("torch", "os:_exit", (9,), lane=FORKED)
    assert not os.path.exists(workers.worker_temp("torch", pid))
    assert not workers.worker("torch", FORKED).process.poll()  # the next call started a fresh one
    _close(("torch", FORKED))


def test_when_a_fork_server_dies_its_workers_end_and_the_next_call_starts_both_again():
    process = workers.worker("torch", FORKED).process
    assert process.pid  # forked
    server = process.server
    server.process.send_signal(signal.SIGKILL)
    server.process.wait()
    try:
        process.wait(timeout=workers.PARENT_POLL * 5)
    except subprocess.TimeoutExpired:
        pytest.fail("the worker outlived its fork server")
    assert process.returncode == -1  # its exit code went with the server
    try:
        assert workers.call_on("torch", "parity.runtime.backends:current", lane=FORKED) == "torch"
        assert workers.worker("torch", FORKED).process.server is not server
    finally:
        _close(("torch", FORKED))


def test_a_worker_takes_what_the_frameworks_wrote_to_its_temp_folder_with_it():
    """TensorFlow's autograph writes a module per converted function to the temp folder and deletes them at
    exit in an atexit handler, which a worker's fast exit skips: the worker's own temp folder goes instead."""
    import os
    import tempfile

    folder, written = workers.call_on("keras_tf", "tests.worker_probe:autograph_files", lane=FORKED)
    workers.worker("keras_tf", FORKED).close()
    assert folder != tempfile.gettempdir() and written, (folder, written)
    assert not any(os.path.exists(path) for path in written) and not os.path.exists(folder)
