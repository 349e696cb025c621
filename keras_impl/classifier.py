"""Keras classifier = body + head as nested models named 'body' and 'head', BN policies, gradients, training loop."""

from __future__ import annotations

import weakref
from contextlib import contextmanager

import keras
import numpy as np
from keras import layers

from keras_impl._backend import ON_JAX, ON_TF, inference, to_numpy, value_and_grads
from keras_impl._porting import keras_variables, load_state, state_of
from keras_impl.heads import build_head
from keras_impl.loss import per_sample_loss
from keras_impl.models import build_body
from keras_impl.optim import build_optimizer, set_lrs
from parity.components import models as body_spec
from parity.components.tracing import step_tracer
from parity.components.porting import CONVERSIONS

if ON_TF:
    import tensorflow as tf


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


def build_model(body: str, head: str, n_classes: int, weights: str | None = None, dropout: bool = True,
                seed: int = 0, dtype: str = "float32", init: str | None = None) -> keras.Model:
    """Variables map to torch names 'body.<torchvision name>' and 'head.<fastai index>'; dtype float32 or
    float64; `init` replaces the head's Linear initialiser. Pretrained weights arrive through load_model_state."""
    with _keras_float(dtype):
        net = build_body(body, weights, seed)
        net = keras.Model(net.input, net.output, name="body")  # the torch prefix of every body variable
        top = build_head(head, body_spec.get_body(body).features, n_classes, dropout, seed, init)
        inputs = keras.Input((None, None, 3))
        return keras.Model(inputs, top(net(inputs)), name=f"{body}_{head}")


def build_head_model(body: str, head: str, n_classes: int, dropout: bool = True, seed: int = 0,
                     dtype: str = "float32", init: str | None = None) -> keras.Model:
    """build_model's head behind an identity body, the body never built: `head_only(build_model(...))` for
    runs on body features cached before (the head's initialisers and dropout layers carry their own seeds)."""
    with _keras_float(dtype):
        top = build_head(head, body_spec.get_body(body).features, n_classes, dropout, seed, init)
        return _behind_identity(top, f"{body}_{head}_head_only")


def model_state(model: keras.Model) -> dict[str, np.ndarray]:
    """Variables as a torch-named, torch-layout numpy state (the Keras -> torch direction of the table)."""
    return state_of(model)


def load_model_state(model: keras.Model, state: dict[str, np.ndarray]) -> int:
    """Load a torch-named numpy state through the porting table; missing or extra keys are errors."""
    return load_state(model, state)


_STATISTICS = ("/moving_mean", "/moving_variance")  # BatchNormalization's running statistics


def snapshot(model: keras.Model, statistics_only: bool = False) -> dict:
    """Weights and BN statistics, to give back with restore() after a train-mode pass moved them (copied as
    backend tensors: no trip through numpy); with `statistics_only`, the BN statistics alone (all a forward
    or backward pass can move). Keyed by the variable's place in model.weights."""
    return {i: keras.ops.copy(v.value) for i, v in enumerate(model.weights)
            if not statistics_only or v.path.endswith(_STATISTICS)}


def restore(model: keras.Model, snapshot: dict) -> None:
    variables = model.weights
    for i, value in snapshot.items():
        variables[i].assign(value)


def _is_bn(layer) -> bool:
    return isinstance(layer, layers.BatchNormalization)


def _trained(model: keras.Model, policy: str) -> list[tuple[str, str, object]]:
    """(torch key, conversion, variable) of what `policy` trains: stats_only keeps body BN affine fixed."""
    return [(key, conv, var) for key, conv, var in keras_variables(model) if var.trainable
            and not (policy == "stats_only" and key.startswith("body.") and key.endswith((".weight", ".bias")))]


def apply_bn_policy(model: keras.Model, policy: str) -> list[str]:
    """Freeze the body per `policy` (the head stays trainable); returns the trainable parameter names.

    Keras runs a BN layer in inference mode whenever it is not trainable, so 'train_bn' and 'stats_only'
    keep body BN layers trainable and 'frozen' freezes the whole body.
    """
    body = model.get_layer("body")
    body.trainable = policy != "frozen"
    for layer in body.layers:
        layer.trainable = policy != "frozen" and _is_bn(layer)
    model.get_layer("head").trainable = True
    return sorted(key for key, _, _ in _trained(model, policy))


def _to_torch_layout(trained, grads) -> dict[str, np.ndarray]:
    return {key: CONVERSIONS[conv].to_torch(keras.ops.convert_to_numpy(g)) for (key, conv, _), g in zip(trained, grads)}


def gradients(model: keras.Model, images, labels, policy: str) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """One training-mode forward and backward of mean cross-entropy on logits.

    Returns the logits and the gradient of every parameter `policy` trains, by torch name, torch layout.
    """
    apply_bn_policy(model, policy)
    trained = _trained(model, policy)
    x = keras.ops.convert_to_tensor(np.asarray(images, np.float32))
    y = keras.ops.convert_to_tensor(np.asarray(labels, np.int64))
    def mean_loss():
        logits = model(x, training=True)
        return keras.ops.mean(per_sample_loss("ce_logits", logits, y)), logits

    _, grads, logits = value_and_grads(mean_loss, [var for _, _, var in trained], has_aux=True)
    return keras.ops.convert_to_numpy(logits), _to_torch_layout(trained, grads)


_TRACE_FROM_STEPS = 40  # a traced step costs about as much as this many eager ones to trace, then runs 3x faster


def _traced(steps: int) -> bool:
    """Is a run of `steps` long enough to trace its step and update (TensorFlow only)?"""
    return ON_TF and steps >= _TRACE_FROM_STEPS


def _step_function(model: keras.Model, variables: list, loss: str, steps: int):
    """(x, labels) -> (mean loss, gradients): one traced graph on TensorFlow for runs long enough to pay for the
    tracing, eager otherwise (and always on torch). Both give the same numbers (Grappler's rewrites are off)."""
    def step(x, labels):
        return value_and_grads(lambda: keras.ops.mean(per_sample_loss(loss, model(x, training=True), labels)),
                               variables)

    return tf.function(step, reduce_retracing=True) if _traced(steps) else step


def _update_function(optim: dict, steps: int, moms):
    """[[gradient per member] per bucket] -> every bucket's optimizer applied once: traced when the step is (an
    eager update of a train_bn Lite0's 106 variables took 0.3 s beside a 0.5 s traced step at 64 px, batch 64),
    except under a one-cycle momentum, which sets beta_1 as a plain attribute that a trace would freeze."""
    buckets = list(optim.values())

    def update(grads):
        for (opt, members), bucket_grads in zip(buckets, grads):
            opt.apply(bucket_grads, [var for _, var in members])

    if not _traced(steps) or moms is not None:
        return update
    for opt, members in buckets:  # the slots exist before the trace: it then only reads and assigns them
        opt.build([var for _, var in members])
    return tf.function(update)


def train_steps(model: keras.Model, batches, optimizer: str, lrs, policy: str, groups: dict | None = None,
                loss: str = "ce_logits", moms=None):
    """The same loop as torch_impl's, written as a Keras custom training step (gradients + apply).

    `batches` are (x NHWC, labels) numpy pairs; `lrs` one list of layer-group LRs per batch; `moms` an
    optional beta_1 per batch (one-cycle momentum). Returns the losses; stops after the first non-finite one.
    """
    return _steps(model, batches, optimizer, lrs, policy, groups, loss, moms)


def traced_steps(model: keras.Model, batches, optimizer: str, lrs, policy: str, groups: dict | None = None,
                 loss: str = "ce_logits", moms=None, prefix: str = "head.") -> dict[str, np.ndarray]:
    """train_steps, and after every step the state whose torch names start with `prefix`: {'losses': ...,
    'step <k> <name>': value}, k from 1."""
    trace, after = step_tracer(state_of, model, prefix)
    return {"losses": _steps(model, batches, optimizer, lrs, policy, groups, loss, moms, after), **trace}


def _steps(model, batches, optimizer, lrs, policy, groups, loss, moms, after=None) -> np.ndarray:
    apply_bn_policy(model, policy)
    trained = _trained(model, policy)
    dtype = model.weights[0].dtype  # float32, or float64 for a reference-precision twin
    with _keras_float(dtype):
        optim = build_optimizer(optimizer, [(key, var) for key, _, var in trained], groups, lrs[0])
    step = _step_function(model, [var for _, _, var in trained], loss, len(lrs))
    update = _update_function(optim, len(lrs), moms)
    losses = []
    for i, ((x, labels), step_lrs) in enumerate(zip(batches, lrs)):
        value, grad_list = step(keras.ops.convert_to_tensor(np.asarray(x, dtype)),
                                keras.ops.convert_to_tensor(np.asarray(labels, np.int64)))
        losses.append(float(keras.ops.convert_to_numpy(value)))
        if not np.isfinite(losses[-1]):
            break
        grads = dict(zip([key for key, _, _ in trained], grad_list))
        set_lrs(optim, step_lrs, None if moms is None else moms[i])
        update([[grads[key] for key, _ in members] for _, members in optim.values()])
        if after is not None:
            after(i)
    return np.array(losses)


def head_only(model: keras.Model) -> keras.Model:
    """The same head behind an identity body: trains on cached body features with the same names, groups,
    BN policy and random draws as the whole model (the head's layers are shared, not copied)."""
    return _behind_identity(model.get_layer("head"), f"{model.name}_head_only")


def _behind_identity(head: keras.Model, name: str) -> keras.Model:
    inputs = keras.Input(head.input.shape[1:])
    body = keras.Sequential([layers.Identity()], name="body")
    return keras.Model(inputs, head(body(inputs)), name=name)


def body_of(model: keras.Model) -> keras.Model:
    return model.get_layer("body")


def evaluate(model: keras.Model, images, batch_size: int = 64) -> np.ndarray:
    """Inference mode (BN on moving statistics, no dropout): the logits of every image."""
    x = np.asarray(images, np.float32)
    traced = len(x) > batch_size
    return np.concatenate([inference(model, x[i:i + batch_size], traced) for i in range(0, len(x), batch_size)])


_PROBES = weakref.WeakKeyDictionary()  # head -> model of its layer outputs


def head_layer_outputs(model: keras.Model, images, training: bool = False) -> dict[str, np.ndarray]:
    """Every head layer's output, flattened per image, by torch name (layers are named by fastai's indices):
    the body in inference mode, the head in `training` (batch statistics and dropout, when built with it)."""
    head = model.get_layer("head")
    named = [layer for layer in head.layers if layer.name.isdigit()]
    if head not in _PROBES:  # built once per head: a functional model costs more to build than a pass
        _PROBES[head] = keras.Model(head.input, [layer.output for layer in named])
    probe = _PROBES[head]
    x = model.get_layer("body")(np.asarray(images, model.weights[0].dtype), training=False)
    outputs = probe(x, training=training)
    return {f"head.{layer.name}": np.reshape(to_numpy(y), (len(images), -1))
            for layer, y in zip(named, outputs)}


def seed_draws(seed: int) -> None:
    """Nothing to seed: Keras' Dropout layers carry their own seeds (seed + layer index, set when built)."""


def device_of(model: keras.Model) -> str:
    """Where the model computes, read from its variables (TensorFlow's 'GPU' is named 'cuda', as torch names it)."""
    value = model.weights[0].value
    if ON_TF:
        kind = tf.DeviceSpec.from_string(value.device).device_type or "CPU"
        return "cuda" if kind == "GPU" else kind.lower()
    if ON_JAX:
        kind = next(iter(value.devices())).platform
        return "cuda" if kind == "gpu" else kind
    return value.device.type
