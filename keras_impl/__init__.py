"""TensorFlow / Keras side of every mirrored component. Mirror of `torch_impl`."""

import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

# Importing torchvision after TensorFlow segfaults (torch 2.14.1, TF 2.21): the torch side loads first.
import torch_impl  # noqa: E402,F401
import tensorflow  # noqa: E402,F401
