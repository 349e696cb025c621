"""PyTorch / torchvision / fastai side of every mirrored component. Mirror of `keras_impl`."""

import torch  # noqa: F401  (torch and torchvision first: torchvision imported after TensorFlow segfaults)
import torchvision  # noqa: F401
