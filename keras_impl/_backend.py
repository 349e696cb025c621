"""What differs between Keras' backends inside keras_impl: which one runs, and how a gradient is taken (Keras 3
leaves custom training loops to each backend's autodiff: tf.GradientTape on TensorFlow, autograd's backward() on
torch, a stateless jax.value_and_grad on JAX)."""

from __future__ import annotations

import weakref

import keras
import numpy as np

ON_TF = keras.backend.backend() == "tensorflow"
ON_JAX = keras.backend.backend() == "jax"

# Grappler's rewrites (fused conv + BN + activation, arithmetic reordering) off, so a traced graph runs the same
# kernels as eager calls: a traced training step or inference pass equals the eager one bit for bit.
_GRAPH_AS_EAGER = {"remapping": False, "arithmetic_optimization": False, "constant_folding": False,
                  "layout_optimizer": False, "dependency_optimization": False, "loop_optimization": False,
                  "shape_optimization": False, "function_optimization": False}
if ON_TF:
    import tensorflow as tf

    tf.get_logger().setLevel("ERROR")  # one traced step per run retraces by design; its warning is noise
    tf.config.optimizer.set_experimental_options(_GRAPH_AS_EAGER)


def to_numpy(x) -> np.ndarray:
    """A tensor as numpy. On TensorFlow a CPU tensor's buffer is handed over as it is (a read-only array that
    keeps the tensor alive): keras.ops.convert_to_numpy copies it, a quarter of a Keras worker's time on layer
    outputs in a check (py-spy)."""
    return np.asarray(x) if ON_TF else keras.ops.convert_to_numpy(x)


# model -> {input signature: its traced inference pass, or None once it has been called eagerly}
_INFERENCE = weakref.WeakKeyDictionary()


def value_and_grads(compute, variables, has_aux: bool = False):
    """(compute(), d compute() / d each variable) for a scalar `compute()` of Keras variables; with `has_aux`,
    compute() returns (scalar, aux) and the result is (scalar, gradients, aux)."""
    with_aux = compute if has_aux else (lambda: (compute(), None))
    if ON_JAX:
        value, grads, aux = _jax_value_and_grads(with_aux, variables)
    elif ON_TF:
        import tensorflow as tf

        # watch only what is differentiated: a tape watches every variable created trainable, and a frozen
        # body's variables were, so it would backpropagate through the whole body for nothing
        with tf.GradientTape(watch_accessed_variables=False) as tape:
            tape.watch([var.value if hasattr(var, "value") else var for var in variables])
            value, aux = with_aux()
        grads = tape.gradient(value, variables)
    else:
        for var in variables:
            var.value.grad = None
        value, aux = with_aux()
        value.backward()
        grads = [var.value.grad for var in variables]
        value, aux = value.detach(), (aux.detach() if aux is not None else None)
    return (value, grads, aux) if has_aux else (value, grads)


class _Recording(keras.StatelessScope):
    """A stateless scope that remembers which variables a pass assigned (BN statistics, a dropout seed)."""

    def __init__(self, state_mapping):
        super().__init__(state_mapping=state_mapping)
        self.assigned = []

    def add_update(self, update):
        self.assigned.append(update[0])
        super().add_update(update)


def _jax_value_and_grads(compute, variables):
    """JAX differentiates functions of values, not of variables: the pass (compute() -> (scalar, aux)) runs in a
    stateless scope on the variables' values, and what it assigned (BN statistics, the dropout seed) is assigned
    for real afterwards. (scalar, gradients, aux)."""
    import jax

    assigned = []

    def of_values(values):
        with _Recording(list(zip(variables, values))) as scope:
            value, aux = compute()
        assigned[:] = scope.assigned
        return value, (aux, [scope.get_current_value(v) for v in scope.assigned])

    (value, (aux, updates)), grads = jax.value_and_grad(of_values, has_aux=True)([v.value for v in variables])
    for var, new in zip(assigned, updates):
        var.assign(new)
    return value, list(grads), aux


def inference(model: keras.Model, images, traced: bool | None = None) -> np.ndarray:
    """model(images, training=False) as numpy.

    On TensorFlow the pass is traced once per model and input shape (the batch dimension left free) when
    `traced` says so or, when it is None, from the second call on: a traced Lite0 pass at 64 px, batch 64, one
    thread, runs 0.17 s against 0.5 s eager after a 0.9 s trace, with the same logits bit for bit (measured).
    A single call (the checks' few images) stays eager: it would not pay for the trace."""
    x = np.asarray(images)
    if not ON_TF:
        return to_numpy(model(x, training=False))
    calls = _INFERENCE.setdefault(model, {})
    signature = (None,) + x.shape[1:], x.dtype.name
    if calls.get(signature) is None and (traced or (traced is None and signature in calls)):
        ref = weakref.ref(model)  # the graph keeps the variables, not the model, so the memo never holds it
        calls[signature] = tf.function(lambda batch: ref()(batch, training=False), autograph=False,
                                       input_signature=[tf.TensorSpec(*signature)])
    elif signature not in calls:
        calls[signature] = None
    run = calls[signature]
    return to_numpy(run(x) if run is not None else model(x, training=False))
