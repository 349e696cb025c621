"""Keras classifier = body + head as nested models named 'body' and 'head', BN policies, and gradients."""

from __future__ import annotations

from contextlib import contextmanager

import keras
import numpy as np
import tensorflow as tf
from keras import layers

from keras_impl.heads import build_head
from keras_impl.models import _build_body
from parity import heads as head_spec
from parity import loss as loss_spec

tf.get_logger().setLevel("ERROR")  # one tf.function per run retraces by design; its warning is noise
from parity import models as body_spec
from parity import porting
from parity.errors import ParityError


def build_model(body: str, head: str, n_classes: int, weights: str | None = None, dropout: bool = True,
                seed: int = 0, dtype: str = "float32", init: str | None = None) -> keras.Model:
    """Variables map to torch names 'body.<torchvision name>' and 'head.<fastai index>'; dtype float32 or
    float64 (Keras takes both from its global floatx and dtype policy, set only while building); `init`
    replaces the head's Linear initialiser."""
    if dtype not in ("float32", "float64"):
        raise ParityError(f"model dtype {dtype!r} is not one of: float32, float64")
    with _keras_float(dtype):
        net = _build_body(body, weights, model_name="body")
        top = build_head(head, body_spec.get_body(body).features, n_classes, dropout, seed, init)
        inputs = keras.Input((None, None, 3))
        return keras.Model(inputs, top(net(inputs)), name=f"{body}_{head}")


@contextmanager
def _keras_float(dtype: str):
    """Keras takes variable dtypes (layers' and optimizers' learning rates alike) from its global floatx and dtype
    policy: set them only while building, so a float64 twin is float64 throughout, its LR included."""
    floatx, policy = keras.config.floatx(), keras.config.dtype_policy()
    keras.config.set_floatx(dtype)
    keras.config.set_dtype_policy(dtype)
    try:
        yield
    finally:
        keras.config.set_floatx(floatx)
        keras.config.set_dtype_policy(policy)


def _is_bn(layer) -> bool:
    return isinstance(layer, layers.BatchNormalization)


def _trained(model: keras.Model, policy: str) -> list[tuple[str, str, object]]:
    """(torch key, conversion, variable) of what `policy` trains: stats_only keeps body BN affine fixed."""
    return [(key, conv, var) for key, conv, var in porting.keras_variables(model) if var.trainable
            and not (policy == "stats_only" and key.startswith("body.") and key.endswith((".weight", ".bias")))]


def apply_bn_policy(model: keras.Model, policy: str) -> list[str]:
    """Freeze the body per `policy` (the head stays trainable); returns the trainable parameter names.

    Keras runs a BN layer in inference mode whenever it is not trainable, so 'train_bn' and 'stats_only'
    keep body BN layers trainable and 'frozen' freezes the whole body.
    """
    head_spec.check_policy(policy)
    body = model.get_layer("body")
    body.trainable = policy != "frozen"
    for layer in body.layers:
        layer.trainable = policy != "frozen" and _is_bn(layer)
    model.get_layer("head").trainable = True
    return sorted(key for key, _, _ in _trained(model, policy))


def gradients(model: keras.Model, images, labels, policy: str) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """One training-mode forward and backward of mean cross-entropy on logits.

    Returns the logits and the gradient of every parameter `policy` trains, by torch name, torch layout.
    """
    apply_bn_policy(model, policy)
    head_spec.check_labels(labels, model.output.shape[-1])
    x = np.asarray(images, np.float32)
    if x.ndim != 4 or x.shape[-1] != 3:
        raise ParityError(f"model input must be NHWC with 3 channels, got shape {x.shape}")
    trained = _trained(model, policy)
    with tf.GradientTape() as tape:
        logits = model(x, training=True)
        loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(np.asarray(labels, np.int64), logits))
    grads = tape.gradient(loss, [var for _, _, var in trained])
    return logits.numpy(), {key: porting.CONVERSIONS[conv].to_torch(g.numpy())
                            for (key, conv, _), g in zip(trained, grads)}


def model_state(model: keras.Model) -> dict[str, np.ndarray]:
    """Variables as a torch-named, torch-layout numpy state (the Keras -> torch direction of the table)."""
    return porting.keras_state(model)


def load_model_state(model: keras.Model, state: dict[str, np.ndarray]) -> int:
    """Load a torch-named numpy state through the porting table; missing or extra keys are errors."""
    return porting.port_torch_to_keras(state, model)


GRAPH_AS_EAGER = {"remapping": False, "arithmetic_optimization": False, "constant_folding": False,
                  "layout_optimizer": False, "dependency_optimization": False, "loop_optimization": False,
                  "shape_optimization": False, "function_optimization": False}


def train_steps(model: keras.Model, batches, optimizer: str, lrs, policy: str, groups: dict | None = None,
                loss: str = "ce_logits", moms=None):
    """The same loop as torch_impl's, written as a Keras custom training step (GradientTape + apply).

    `batches` are (x NHWC, labels) numpy pairs; `lrs` one list of layer-group LRs per batch; `moms` an
    optional beta_1 per batch (one-cycle momentum). Returns the losses; stops after the first non-finite one.
    """
    from keras_impl.loss import per_sample_loss
    from keras_impl.optim import build_optimizer, set_lrs

    loss_spec.get_loss(loss)
    apply_bn_policy(model, policy)
    trained = _trained(model, policy)
    dtype = model.weights[0].dtype  # float32, or float64 for a reference-precision twin
    with _keras_float(dtype):
        optim = build_optimizer(optimizer, [(key, var) for key, _, var in trained], groups, lrs[0])
    losses = []
    variables = [var for _, _, var in trained]

    # forward + backward as one graph (3x less Python overhead than eager); the optimizer steps stay eager.
    # Grappler's rewrites (fused conv + BN + activation, arithmetic reordering) are off, so the graph runs
    # the same kernels as eager calls: cached eager features then equal the uncached path bit for bit.
    tf.config.optimizer.set_experimental_options(GRAPH_AS_EAGER)

    @tf.function(reduce_retracing=True)
    def loss_and_grads(x, labels):
        with tf.GradientTape() as tape:
            value = tf.reduce_mean(per_sample_loss(loss, model(x, training=True), labels))
        return value, tape.gradient(value, variables)

    for step, ((x, labels), step_lrs) in enumerate(zip(batches, lrs)):
        value, grad_list = loss_and_grads(tf.constant(np.asarray(x, dtype)), tf.constant(np.asarray(labels, np.int64)))
        losses.append(float(value))
        if not np.isfinite(losses[-1]):
            break
        grads = dict(zip([key for key, _, _ in trained], grad_list))
        set_lrs(optim, step_lrs, None if moms is None else moms[step])
        for opt, members in optim.values():
            opt.apply([grads[key] for key, _ in members], [var for _, var in members])
    return np.array(losses)


def head_only(model: keras.Model) -> keras.Model:
    """The same head behind an identity body: trains on cached body features with the same names, groups,
    BN policy and random draws as the whole model (the head's layers are shared, not copied)."""
    head = model.get_layer("head")
    inputs = keras.Input(head.input.shape[1:])
    body = keras.Sequential([layers.Identity()], name="body")
    return keras.Model(inputs, head(body(inputs)), name=f"{model.name}_head_only")


def evaluate(model: keras.Model, images, labels, batch_size: int = 64) -> tuple[np.ndarray, float]:
    """Inference mode (BN on moving statistics, no dropout): (logits, accuracy) over the whole set."""
    x = np.asarray(images, np.float32)
    logits = np.concatenate([model(x[i:i + batch_size], training=False).numpy()
                             for i in range(0, len(x), batch_size)])
    return logits, float((logits.argmax(axis=1) == np.asarray(labels)).mean())
