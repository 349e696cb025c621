"""What several case modules share: the images a body sees, the models each backend keeps for a check run
(built once, from the same torch weights), and giving a model back the state it had before a train-mode pass."""

from __future__ import annotations

import threading
from contextlib import contextmanager

import numpy as np

from parity.components import classifier, data, models, resize
from parity.runtime import workers
from parity.runtime.backends import REFERENCE, native

TORCH, KERAS = native("torch"), native("keras")  # the backends each framework's own users run

N_CLASSES = 10


def body_input(ctx, body: str, size: int, thumbnails: int = 2) -> np.ndarray:
    """The two sklearn photos (centre squares) and some thumbnails, resized to `size` and normalised as the
    body's check weights expect, by the float64 references: the same float32 input for every backend."""

    def compute():
        photos = resize.reference_resize(ctx.resize_input("squares"), size, "tf_resize")
        thumbs = resize.reference_resize(ctx.thumbnails[:thumbnails], size, "tf_resize")
        norm = models.get_weights(models.CHECK_WEIGHTS[body]).norm
        return data.reference_normalize(np.concatenate([photos, thumbs]), norm).astype(np.float32)

    return ctx.memo(("body input", body, size, thumbnails), compute)


def body(ctx, name: str, backend: str):
    """The body with its check weights in `backend` (torch's ported into Keras), built once per run."""
    return ctx.memo(("body", name, backend),
                    lambda: models.build_body(models.CHECK_WEIGHTS[name], ctx.seed, on=backend))


def body_float64(ctx, name: str):
    """The torch body in float64, in the reference process (parity.runtime.backends.REFERENCE, so the references run
    beside the torch backend's own float32 side): the reference of every layer-wise case."""

    def copy():
        source = models.build_body(models.CHECK_WEIGHTS[name], ctx.seed, on=REFERENCE)
        return models.float64_copy(source)

    return ctx.memo(("body64", name), copy)


def model(ctx, body_name: str, head: str, backend: str, dtype: str = "float32", dropout: bool = False):
    """body + head in `backend`, by default with dropout off, from the same torch weights everywhere, built once
    per run (a case that trains it holds it with `restored`)."""
    return ctx.memo(("classifier", body_name, head, backend, dtype, dropout), lambda: classifier.build_model(
        body_name, head, N_CLASSES, models.CHECK_WEIGHTS[body_name], dropout=dropout, seed=ctx.seed,
        dtype=dtype, on=backend))


def model_float64(ctx, body_name: str, head: str, dropout: bool = False):
    """body + head in float64 in the reference process: the reference of the gradient and training cases."""
    return model(ctx, body_name, head, REFERENCE, "float64", dropout)


@contextmanager
def using(ctx, handle):
    """Hold a shared model for one case at a time (cases run side by side; a train-mode pass or a BN policy
    changes the model while it runs)."""
    with ctx.memo(("lock", handle), threading.Lock):
        yield


@contextmanager
def restored(ctx, handle, backend: str, passes_only: bool = False):
    """Hold a shared model and give it back the weights and BN statistics it had: a train-mode pass moves the
    running statistics (differently: torch keeps the unbiased batch variance, Keras the biased one). A case
    that only runs passes (forward, backward; no optimizer step) says `passes_only`: then only the BN
    statistics are copied and given back (copying whole models took ~5 of a check's CPU-seconds)."""
    with using(ctx, handle):
        saved = classifier.snapshot(handle, statistics_only=passes_only)
        try:
            yield
        finally:
            classifier.restore(handle, saved)
            workers.release(saved)
