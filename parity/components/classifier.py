"""The classifier front layer: body + head models in any backend, checked once here and computed by the
backend (parity.runtime.protocols.Classifier). Every backend starts from the torch model's weights: a Keras model gets
the torch state ported in through parity.components.porting, so a seed means the same starting point everywhere.
"""

from __future__ import annotations

import weakref

import numpy as np

from parity.components import heads, loss, models, optim
from parity.core.errors import ParityError, unknown
from parity.core.memo import BoundedMemo
from parity.runtime.backends import PORT_SOURCE, check_supported, current, get_backend
from parity.runtime.client import backend_of, client, on
from parity.runtime.workers import Handle

DTYPES = ("float32", "float64")
_N_CLASSES: dict = {}  # model handle -> its head's class count, for label checks
_N_CLASSES_HERE = weakref.WeakKeyDictionary()  # the same for a worker's own model objects (no id() reuse)
_TORCH_STATES = BoundedMemo(32)  # the torch model's starting state per build arguments


def _classes(model):
    return (_N_CLASSES if isinstance(model, Handle) else _N_CLASSES_HERE).get(model, np.inf)


def _remember_classes(model, n_classes) -> None:
    try:
        (_N_CLASSES if isinstance(model, Handle) else _N_CLASSES_HERE)[model] = n_classes
    except TypeError:  # an object that takes no weak reference: its labels go unchecked here
        pass


def check_labels(labels, n_classes: int) -> np.ndarray:
    """`class count mismatch: labels span 0..7, the head has 3 classes`."""
    labels = np.asarray(labels)
    if labels.size and (labels.min() < 0 or labels.max() >= n_classes):
        raise ParityError(f"class count mismatch: labels span {int(labels.min())}..{int(labels.max())}, "
                          f"the head has {n_classes} classes")
    return labels.astype(np.int64)


def _check_build(body: str, head: str, n_classes: int, weights: str, dtype: str, init: str | None) -> None:
    heads.get_head(head, init)
    if models.get_weights(weights).body != models.get_body(body).name:
        raise ParityError(f"weights {weights!r} are not {body!r} weights")
    if n_classes < 1:
        raise ParityError(f"class count must be at least 1, got {n_classes}")
    if dtype not in DTYPES:
        raise unknown("model dtype", dtype, DTYPES)


def torch_model_state(body: str, head: str, n_classes: int, weights: str, dropout: bool = True, seed: int = 0,
                      init: str | None = None) -> dict:
    """The torch model's starting state for these arguments: what a Keras backend is given (built once)."""
    def build() -> dict:
        model = build_model(body, head, n_classes, weights, dropout, seed, "float32", init, on=PORT_SOURCE)
        return model_state(model)

    return _TORCH_STATES.get((body, head, n_classes, weights, dropout, seed, init), build)


def build_model(body: str, head: str, n_classes: int, weights: str, dropout: bool = True, seed: int = 0,
                dtype: str = "float32", init: str | None = None, state: dict | None = None, *, on: str):
    """body + head in `backend`, parameters named 'body.<torch name>' and 'head.<fastai index>'. A backend other
    than torch loads `state` (default: the torch model's, built with the same arguments)."""
    return _built(True, body, head, n_classes, weights, on, dropout, seed, dtype, init, state)


def build_head_model(body: str, head: str, n_classes: int, weights: str, dropout: bool = True, seed: int = 0,
                     dtype: str = "float32", init: str | None = None, state: dict | None = None, *, on: str):
    """`head_only(build_model(...))` with the same arguments, the body never built: for runs on body features
    cached before. A backend other than torch loads the head's part of `state`."""
    return _built(False, body, head, n_classes, weights, on, dropout, seed, dtype, init, state)


def _built(whole: bool, body, head, n_classes, weights, backend, dropout, seed, dtype, init, state):
    """The whole model, or (not `whole`) its head alone: no body, so no body weights to name or port."""
    _check_build(body, head, n_classes, weights, dtype, init)
    check_supported(backend, "dtype", dtype)
    keras_only = models.get_body(body).family == "keras_applications"
    torch_built = get_backend(backend).builds_torch_models
    source = models.get_weights(weights).source if torch_built or keras_only else None
    build = client(backend).classifier.build_model if whole else client(backend).classifier.build_head_model
    model = build(body, head, n_classes, *((source,) if whole else ()), dropout, seed, dtype, init)
    if not (torch_built or keras_only):  # the torch weights ported in: all of them, or the head's
        state = state if state is not None else torch_model_state(body, head, n_classes, weights, dropout, seed,
                                                                  init)
        load_model_state(model, state if whole else {k: v for k, v in state.items() if k.startswith("head.")})
    _remember_classes(model, n_classes)
    return model


def model_state(model) -> dict:
    return on(model).classifier.model_state(model)


def load_model_state(model, state: dict) -> int:
    return on(model).classifier.load_model_state(model, state)


def snapshot(model, statistics_only: bool = False):
    """The model's weights and BN statistics (Handles: they stay in the worker), or with `statistics_only` the
    BN statistics alone: what a forward or backward pass moves, when no optimizer steps."""
    return on(model).classifier.snapshot(model, statistics_only)


def restore(model, snapshot) -> None:
    on(model).classifier.restore(model, snapshot)


def apply_bn_policy(model, policy: str) -> list[str]:
    heads.check_policy(policy)
    return on(model).classifier.apply_bn_policy(model, policy)


def _check_images(images) -> np.ndarray:
    x = np.asarray(images)
    if x.ndim != 4:
        raise ParityError(f"model input must be NHWC (images, or body features for a head), got shape {x.shape}")
    return x


def gradients(model, images, labels, policy: str) -> tuple[np.ndarray, dict]:
    """(logits, {torch name: gradient}) of one training-mode forward and backward of mean cross-entropy."""
    heads.check_policy(policy)
    labels = check_labels(labels, _classes(model))
    return on(model).classifier.gradients(model, models.check_input(images), labels, policy)


def head_layer_outputs(model, images, training: bool = False) -> dict:
    """{'head.<index>': (N, features) output} of every head layer on `images` (the body in inference mode), or
    on body features for a `head_only` model."""
    return on(model).classifier.head_layer_outputs(model, _check_images(images), training)


def train_steps(model, batches, optimizer: str, lrs, policy: str, groups: dict | None = None,
                loss_name: str = "ce_logits", moms=None) -> np.ndarray:
    """The backend's training loop over `batches` with per-step layer-group LRs; the losses."""
    return _steps("train_steps", model, batches, optimizer, lrs, policy, groups, loss_name, moms)


def traced_steps(model, batches, optimizer: str, lrs, policy: str, groups: dict | None = None,
                 loss_name: str = "ce_logits", moms=None, prefix: str = "head.") -> dict:
    """The same loop, and the state named `prefix`* after every step: {'losses', 'step <k> <name>'}."""
    return _steps("traced_steps", model, batches, optimizer, lrs, policy, groups, loss_name, moms, prefix)


def _steps(loop: str, model, batches, optimizer, lrs, policy, groups, loss_name, moms, *extra):
    optim.get_optimizer(optimizer)
    heads.check_policy(policy)
    loss.get_loss(loss_name)
    n_classes, backend = _classes(model), backend_of(model)
    checked = ((_check_images(x), check_labels(y, n_classes)) for x, y in batches)  # lazily: epochs can be large
    if current() != backend:  # crossing to a worker: the batches travel as a list
        checked = list(checked)
        if len(lrs) < len(checked):
            raise ParityError(f"{len(checked)} batches but learning rates for {len(lrs)} steps")
    return getattr(client(backend).classifier, loop)(model, checked, optimizer, lrs, policy, groups, loss_name, moms,
                                                     *extra)


def head_only(model):
    head = on(model).classifier.head_only(model)
    _remember_classes(head, _classes(model))
    return head


def device_of(model) -> str:
    """Where the backend computes `model`, read back from its parameters ('cpu', 'cuda')."""
    return on(model).classifier.device_of(model)


def body_of(model):
    return on(model).classifier.body_of(model)


# Inference runs in chunks of at most this many pixels: Keras' eager functional call keeps every layer's output
# until the call returns (Lite0 at 224 px: ~100 MB an image; 128 images took 13 GB, /tmp/prof/mem.py), so a
# chunk is 128 images at 64 px but 10 at 224 px. The chunking is fixed by the input's shape, so every run on
# one machine computes the same features; against the whole model's forward over training batches they agree
# within float32 noise (some CPUs' kernels round a batch differently: the cache_f32 tolerance).
PIXELS_PER_CHUNK = 128 * 64 * 64


def images_per_chunk(images, most: int = 128) -> int:
    h, w = np.shape(images)[1:3]
    return max(1, min(most, PIXELS_PER_CHUNK // (h * w)))


def evaluate(model, images, labels) -> tuple[np.ndarray, float]:
    """(logits, accuracy): the backend's inference-mode logits; the accuracy is counted here, once for all."""
    images = _check_images(images)
    logits = on(model).classifier.evaluate(model, images, images_per_chunk(images, most=64))
    return logits, float((logits.argmax(axis=1) == np.asarray(labels)).mean())


def seed_draws(seed: int, *, on: str) -> None:
    client(on).classifier.seed_draws(seed)


def seeded_passes(model, images, seed: int, passes: int) -> list[dict]:
    """`passes` training-mode head_layer_outputs right after seed_draws(seed), in one call to the worker: cases
    run side by side on a backend's worker, and another case's draws (a model built from a seed) falling
    between the seeding and the passes would change the dropout masks."""
    if passes < 1:
        raise ParityError(f"passes must be >= 1, got {passes}")
    return on(model).run(seeded_passes_here, model, _check_images(images), seed, passes)


def seeded_passes_here(model, images, seed: int, passes: int) -> list[dict]:
    """Runs inside the backend's worker (calls for its own backend run in place): nothing else runs between."""
    seed_draws(seed, on=backend_of(model))
    return [head_layer_outputs(model, images, training=True) for _ in range(passes)]
