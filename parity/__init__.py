"""parity: cross-framework parity suite for transfer learning (PyTorch/fastai vs TensorFlow/Keras).

This package is the framework-neutral core; it never imports torch or TensorFlow at module level.
"""

__version__ = "0.1.0"
