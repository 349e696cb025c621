"""parity: cross-framework parity suite for transfer learning (PyTorch/fastai vs TensorFlow/Keras).

This package is the framework-neutral core; it never imports torch or TensorFlow at module level. The names of
parity.testing (`parity.port_weights`, `parity.assert_forward_close`, ...) are re-exported here, loaded on first
use, so `import parity` stays light.
"""

__version__ = "0.1.0"

TESTING_NAMES = ("Comparison", "LayerMap", "assert_forward_close", "assert_gradients_close", "assert_training_close",
                 "compare_forward", "compare_gradients", "compare_training", "layer_map", "port_weights")


def __getattr__(name: str):
    if name in TESTING_NAMES:
        from parity import testing  # the facade's one upward reach, on first use (tests/test_layers.py allows it)

        return getattr(testing, name)
    raise AttributeError(f"module 'parity' has no attribute {name!r}")
