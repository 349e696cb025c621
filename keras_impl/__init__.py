"""TensorFlow / Keras side of every mirrored component. Mirror of `torch_impl`."""

import os
import re
import sys
import tempfile

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

# Importing torchvision after TensorFlow segfaults (torch 2.14.1, TF 2.21): the torch side loads first.
import torch_impl  # noqa: E402,F401

# TF 2.21 writes notices from C++ static initialisers straight to file descriptor 2 while it loads (the oneDNN
# line, absl's "before InitializeLog" warning), and TF_CPP_MIN_LOG_LEVEL no longer reaches them. They are
# caught during the import and dropped; anything else printed then (a real error) is passed on.
_NOTICE = re.compile(r"^(WARNING: All log messages before absl::InitializeLog\(\)|[IW]\d{4} [\d:. ]+\d+ \S+:\d+\] )")


def _import_tensorflow_quietly() -> None:
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as captured:
        os.dup2(captured.fileno(), 2)
        try:
            import keras  # noqa: F401
            import tensorflow  # noqa: F401
        finally:
            os.dup2(saved, 2)
            os.close(saved)
        captured.seek(0)
        kept = [line for line in captured.read().decode(errors="replace").splitlines(keepends=True)
                if not _NOTICE.match(line)]
    sys.stderr.write("".join(kept))


_import_tensorflow_quietly()
