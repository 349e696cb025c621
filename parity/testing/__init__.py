"""parity.testing: your own torch model and your own Keras model, compared layer by layer, gradient by gradient
and step by step, in your own process and your own pytest (the `testing` layer: it sits on check's judge and
the reports, and drives torch_impl.testing and keras_impl.testing in place, never through workers).

    from parity.testing import port_weights, assert_forward_close, assert_gradients_close, assert_training_close

    port_weights(torch_model, keras_model)                   # the porting table, every tensor's shape asserted
    assert_forward_close(torch_model, keras_model, x)        # x: NHWC numpy, as Keras takes it
    assert_gradients_close(torch_model, keras_model, x, y)
    assert_training_close(torch_model, torch.optim.Adam(...), keras_model, keras.optimizers.Adam(...),
                          [(x, y)], steps=20)

Each compare_* returns a Comparison (its rows, the first over tolerance, `message()`); each assert_* raises an
AssertionError with that message. The pytest plugin (installed with parity) adds the `parity_seed` fixture and
`--parity-report DIR`. docs/testing.md has the worked example and the limits.
"""

from parity.testing.align import LayerMap
from parity.testing.core import (Comparison, assert_forward_close, assert_gradients_close, assert_training_close,
                                 compare_forward, compare_gradients, compare_training, layer_map, port_weights)

__all__ = ["Comparison", "LayerMap", "assert_forward_close", "assert_gradients_close", "assert_training_close",
           "compare_forward", "compare_gradients", "compare_training", "layer_map", "port_weights"]
