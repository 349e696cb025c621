"""Keras 3 side of every component: modules satisfy parity.runtime.protocols. The same code serves two backends,
`keras_tf` (KERAS_BACKEND=tensorflow, the default) and `keras_torch` (KERAS_BACKEND=torch); code that only
TensorFlow can run is marked where it sits, and parity.runtime.backends declares what keras_torch cannot express.

In a process that also uses torchvision, import it before this package: torchvision after TensorFlow
segfaults (torch 2.14.1, TF 2.21). Backend workers never mix the two.
"""

import os
import re
import sys
import tempfile

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

# TF 2.21 writes notices from C++ static initialisers straight to file descriptor 2 while it loads (the oneDNN
# line, absl's "before InitializeLog" warning), and TF_CPP_MIN_LOG_LEVEL no longer reaches them. They are
# caught during the import and dropped; anything else printed then (a real error) is passed on.
_NOTICE = re.compile(r"^(WARNING: All log messages before absl::InitializeLog\(\)|[IW]\d{4} [\d:. ]+\d+ \S+:\d+\] )")


# Keras imports these, when they are installed, only for what parity never asks of it: its scikit-learn
# wrappers, plot_image_gallery, and pandas frames as fit() inputs. Each import sits in a try/except ImportError.
# Loading them cost a quarter to a third of `import keras_impl` (python -X importtime), paid by every Keras
# worker a check or a test starts. They are hidden while Keras loads (Keras keeps None for them) and importable as usual afterwards.
_HIDDEN_FROM_KERAS = ("matplotlib.pyplot", "sklearn", "pandas")


def _import_keras_quietly() -> None:
    sys.stderr.flush()
    saved = os.dup(2)
    hidden = [name for name in _HIDDEN_FROM_KERAS if name not in sys.modules]  # one already loaded costs nothing
    with tempfile.TemporaryFile() as captured:
        os.dup2(captured.fileno(), 2)
        try:
            sys.modules.update(dict.fromkeys(hidden))  # a None entry makes `import name` raise ImportError
            import keras

            if keras.backend.backend() == "tensorflow":
                import tensorflow  # noqa: F401
        finally:
            for name in hidden:
                if sys.modules.get(name, 0) is None:
                    del sys.modules[name]
            os.dup2(saved, 2)
            os.close(saved)
        captured.seek(0)
        kept = [line for line in captured.read().decode(errors="replace").splitlines(keepends=True)
                if not _NOTICE.match(line)]
    sys.stderr.write("".join(kept))


_import_keras_quietly()


def _tensorflow_cuda() -> dict:
    import tensorflow as tf

    tf.config.experimental.enable_op_determinism()
    tf.config.experimental.enable_tensor_float_32_execution(False)
    return {"op_determinism": True, "tf32": False}


def _torch_cuda() -> dict:
    import torch

    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cudnn.deterministic = True
    torch.backends.cudnn.benchmark = False
    return {"tf32": False, "cudnn_deterministic": True, "cudnn_benchmark": False}


def _jax_cuda() -> dict:
    import jax

    # XLA's GPU determinism is a flag read when its client starts; full float32 matmuls (no TF32)
    os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " --xla_gpu_deterministic_ops=true").strip()
    jax.config.update("jax_default_matmul_precision", "highest")
    return {"deterministic_ops": True, "matmul_precision": "highest"}


def _tensorflow_gpus() -> int:
    import tensorflow as tf

    return len(tf.config.list_physical_devices("GPU"))


def _torch_gpus() -> int:
    import torch

    return torch.cuda.device_count() if torch.cuda.is_available() else 0


def _jax_gpus() -> int:
    import jax

    return sum(d.platform == "gpu" for d in jax.devices())


def _tensorflow_threads(threads: int) -> None:
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(threads)
    tf.config.threading.set_inter_op_parallelism_threads(1)


def _torch_threads(threads: int) -> None:
    import torch

    torch.set_num_threads(threads)


def _jax_threads(threads: int) -> None:
    # XLA's CPU client reads its threads when it starts (at the first computation, after this call)
    os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " --xla_cpu_multi_thread_eigen=false "
                               f"intra_op_parallelism_threads={threads}").strip()


# Keras' backend -> how this package sets a GPU up, counts GPUs and sets compute threads on it
_BY_BACKEND = {"tensorflow": (_tensorflow_cuda, _tensorflow_gpus, _tensorflow_threads),
               "torch": (_torch_cuda, _torch_gpus, _torch_threads),
               "jax": (_jax_cuda, _jax_gpus, _jax_threads)}


def _of_backend():
    import keras

    return _BY_BACKEND[keras.backend.backend()]


def configure_device(device: str) -> dict:
    """'cpu' or 'cuda' (the worker hides GPUs for 'cpu'); on a GPU, deterministic kernels and no TF32. Returns
    the determinism settings it made."""
    return _of_backend()[0]() if device == "cuda" else {}


def visible_gpus() -> int:
    """How many GPUs Keras' backend sees in this process (a cpu worker hides them all)."""
    return _of_backend()[1]()


def configure_threads(threads: int) -> None:
    """Compute threads of this process (a worker gets cores / workers, so workers do not oversubscribe)."""
    _of_backend()[2](threads)
