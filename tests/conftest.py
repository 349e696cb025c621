"""Deterministic numerics for every test: torch (and torchvision) before TensorFlow, seeds, one thread per
process (this one and every backend worker), TF32 off. Shared fixtures: the check context, the backends a test
runs on, and the optional CIFAR-10 image-folder tree.
"""

import os
import random
import tarfile
from pathlib import Path

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ["TF_DETERMINISTIC_OPS"] = "1"
os.environ.setdefault("PARITY_WORKER_THREADS", "1")  # backend workers: one compute thread each, like this process

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from parity.selftest.plantedtests import ALL_FRAMEWORKS, FRAMEWORKS_ENV  # noqa: E402
from benchmarks.testcpu import runs_tests  # noqa: E402

torch = tf = None  # loaded by pytest_configure in every process that runs tests (TensorFlow unless left out)


def pytest_configure(config):
    global torch, tf
    # not in pytest-xdist's controller: loading torch and TensorFlow there cost ~10 s of wall time before any
    # worker started (`pytest -n 2` on one small test file: 22.2 s wall and 33 CPU-s with them, 12.2 s and 23
    # CPU-s without)
    if not runs_tests(config):
        return
    wanted = os.environ.get(FRAMEWORKS_ENV, ALL_FRAMEWORKS[-1])
    if wanted not in ALL_FRAMEWORKS:
        raise pytest.UsageError(f"{FRAMEWORKS_ENV} must be one of {', '.join(ALL_FRAMEWORKS)}; got {wanted!r}")
    import torch
    import torchvision  # noqa: F401  (must precede TensorFlow)

    torch.set_num_threads(1)
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    torch.use_deterministic_algorithms(True)
    if wanted == "torch":  # the oracle tests of fastai (also with a fault planted), the Ray tests (noxfile)
        return
    import keras_impl  # noqa: F401  (loads TensorFlow after torch, without its C++ notices)
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(1)
    tf.config.threading.set_inter_op_parallelism_threads(1)


CIFAR_ARCHIVE = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "cifar10-jpg.tar.gz"
CIFAR_CACHE = Path(os.environ.get("PARITY_CACHE_DIR", Path.home() / ".cache" / "parity")) / "cifar10"


@pytest.fixture(autouse=True)
def _seed_everything():
    random.seed(0)
    np.random.seed(0)
    torch.manual_seed(0)
    if tf is not None:
        tf.random.set_seed(0)


BACKENDS = pytest.mark.parametrize("backend", ["torch", "keras_tf"])  # the default pair, for per-backend tests


@pytest.fixture(scope="session")
def check_context():
    from parity.check.context import CheckContext

    ctx = CheckContext(seed=0)
    yield ctx
    ctx.close()


@pytest.fixture(scope="session")
def cifar_tree() -> Path:
    """The CIFAR-10 image-folder tree: PARITY_DATA_DIR, or the shared archive extracted once to a cache."""
    if os.environ.get("PARITY_DATA_DIR"):
        return Path(os.environ["PARITY_DATA_DIR"])
    if not (CIFAR_CACHE / "test").is_dir():
        if not CIFAR_ARCHIVE.is_file():
            pytest.skip(f"no CIFAR-10 tree: set PARITY_DATA_DIR or provide {CIFAR_ARCHIVE}")
        CIFAR_CACHE.mkdir(parents=True, exist_ok=True)
        with tarfile.open(CIFAR_ARCHIVE) as tar:
            tar.extractall(CIFAR_CACHE, filter="data")
    return CIFAR_CACHE
