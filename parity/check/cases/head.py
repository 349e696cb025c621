"""Head parity layer by layer: pool, BN, dropout slots, Linear and ReLU outputs of the same head in every
backend (torch's weights everywhere) on the same body features, against a float64 reference, so a fault in a
parameter-free layer (the pool's order) is named where it happens; the dropout rates and scaling of the heads
that use dropout, compared statistically; and the thread's Keras head typed as its code reads against the
keras_thread spec head."""

from __future__ import annotations

from functools import partial

import numpy as np

from parity.components import classifier, heads, models
from parity.check import oracles
from parity.runtime import workers
from parity.runtime.backends import REFERENCE, native
from parity.runtime.client import client
from parity.check.case import Case, Output, Sides
from parity.check.cases._shared import N_CLASSES, TORCH, body_input, model, model_float64, restored

BODY, SIZE = "resnet18", 64
LAYERWISE = ("fastai_v1", "fastai_v2", "keras_thread", "fastai_v1_square")
IMAGES = 8  # thumbnails beside the two photos: batch statistics over 10, as in the training cases
DROPOUT_PASSES = 16  # training-mode passes over 10 images: >= 80k draws per dropout slot (see dropout_rate)


def _layers(head: str, training: bool, backend: str, ctx) -> Output:
    handle = model(ctx, BODY, head, backend)
    with restored(ctx, handle, backend, passes_only=True):
        outputs = classifier.head_layer_outputs(handle, body_input(ctx, BODY, SIZE, IMAGES), training)
    return Output(layers=list(outputs.items()))


def _reference_layers(head: str, training: bool, ctx) -> Output:
    handle = model_float64(ctx, BODY, head)
    with restored(ctx, handle, REFERENCE, passes_only=True):
        outputs = classifier.head_layer_outputs(handle, body_input(ctx, BODY, SIZE, IMAGES).astype(np.float64),
                                                training)
    return Output(layers=list(outputs.items()))


def _dropout_slots(head: str) -> list[tuple[str, str, float]]:
    """(name of the layer feeding the dropout, name of the dropout, p) of every dropout slot of `head`."""
    spec = heads.get_head(head)
    features = models.get_body(BODY).features
    return [(f"head.{drop - 1}", f"head.{drop}", p) for _, drop, _, *_rest, p, _ in
            heads.linear_layers(spec, features, N_CLASSES) if drop is not None]


def _dropout(head: str, backend: str, ctx) -> Output:
    """Per dropout slot, over DROPOUT_PASSES training-mode passes: the fraction of non-zero inputs zeroed, and
    the factor the kept ones are scaled by (inverted dropout: 1 / (1 - p))."""
    handle = classifier.build_model(BODY, head, N_CLASSES, models.CHECK_WEIGHTS[BODY], dropout=True,
                                    seed=ctx.seed, on=backend)
    net = head_net = None
    try:
        # the body runs in inference mode, the same on every pass: once, then the passes run the head alone
        net = classifier.body_of(handle)
        features = models.forward_features(net, body_input(ctx, BODY, SIZE, IMAGES))
        head_net = classifier.head_only(handle)
        passes = classifier.seeded_passes(head_net, features, ctx.seed, DROPOUT_PASSES)
    finally:
        workers.release((handle, net, head_net))
    layers = []
    for before, after, _ in _dropout_slots(head):
        ins = np.concatenate([p[before].ravel() for p in passes])
        outs = np.concatenate([p[after].ravel() for p in passes])
        live = ins != 0
        kept = live & (outs != 0)
        layers += [(f"{after} dropped fraction", np.array([1 - kept.sum() / live.sum()])),
                   (f"{after} kept scale", np.array([np.median(outs[kept] / ins[kept])]))]
    return Output(layers=layers, detail={"draws per slot": int(live.sum())})


def _dropout_reference(head: str, ctx) -> Output:
    """What the spec says: p dropped, the rest scaled by 1 / (1 - p)."""
    return Output(layers=[item for _, after, p in _dropout_slots(head) for item in
                          ((f"{after} dropped fraction", np.array([p])), (f"{after} kept scale", np.array([1 / (1 - p)])))])


def _literal_thread_head(ctx) -> Sides:
    features = np.random.default_rng(ctx.seed).gamma(1.0, 1.0, (8, 2, 2, models.get_body(BODY).features))
    found = client(native("keras")).run(oracles.keras_thread_head_literal, features.astype(np.float32), N_CLASSES,
                                       ctx.seed)
    ours, literal = found.pop("probabilities")
    return Sides(ours, literal, labels=("parity keras_thread head (softmax of logits)", "the thread's Keras code"),
                 layers=[("probabilities", ours, literal, None)] + [(k, a, b, None) for k, (a, b) in found.items()])


def _state_to_port(head: str, ctx) -> dict:
    """The torch model's state with the head's BN running statistics drawn at random (fresh ones are all 0 and
    1, which a wrong conversion such as var -> sqrt(var) leaves unchanged)."""
    def draw():
        rng = np.random.default_rng(ctx.seed)
        state = classifier.model_state(model(ctx, BODY, head, TORCH))
        for name in [n for n in state if n.startswith("head.") and n.endswith(("running_mean", "running_var"))]:
            value = rng.gamma(2.0, 0.5, state[name].shape) if name.endswith("var") else rng.normal(size=state[name].shape)
            state[name] = value.astype(np.float32)
        return state

    return ctx.memo(("state to port", head), draw)


def _head_names(state: dict) -> list[str]:
    return [n for n in state if n.startswith("head.") and not n.endswith("num_batches_tracked")]


def _ported(head: str, backend: str, ctx) -> Output:
    """The head's tensors as the backend holds them after the state is ported in, before any pass, read back
    through the table's other direction (torch names, torch layout), tensor by tensor."""
    state = _state_to_port(head, ctx)
    handle = model(ctx, BODY, head, backend)
    with restored(ctx, handle, backend):
        classifier.load_model_state(handle, state)
        back = classifier.model_state(handle)
    return Output(layers=[(name, back[name]) for name in _head_names(state)])


def _to_port(head: str, ctx) -> Output:
    state = _state_to_port(head, ctx)
    return Output(layers=[(name, state[name].astype(np.float64)) for name in _head_names(state)])


def _title(head: str, training: bool) -> str:
    return f"{head} on {BODY} layer by layer, {'train-mode BN' if training else 'inference'}"


CASES = [
    *[Case("head", _title(head, training), "matched", partial(_layers, head, training),
           "head_train_f32" if training else "head_f32",
           f"{heads.get_head(head).source}; the same torch weights in every backend, dropout off; each layer's "
           f"output on the same {BODY} features ({'batch statistics' if training else 'running statistics'})",
           across=True, reference=partial(_reference_layers, head, training),
           key=f"{head}.{'train' if training else 'infer'}")
      for head in LAYERWISE for training in (False, True)],
    *[Case("head", f"{head} dropout rates and scaling", "matched", partial(_dropout, head), "dropout_rate",
           "each dropout slot zeroes p of its inputs and scales the rest by 1 / (1 - p) (torch nn.Dropout, Keras "
           "Dropout(rate)); the masks are each framework's own draws, so the fractions are compared "
           "statistically", across=True, reference=partial(_dropout_reference, head), key=f"{head}.dropout")
      for head in ("fastai_v1", "keras_thread")],
    *[Case("head", f"{head} on {BODY}: every head tensor after porting, before any pass", "matched",
           partial(_ported, head), "exact", "the torch state (its head BN statistics drawn at random) ported into "
           "every backend and read back: each weight, bias, running mean and running variance is the value "
           "ported, so a wrong conversion is named at its tensor, not at the logits", across=True,
           reference=partial(_to_port, head), key=f"{head}.ported") for head in LAYERWISE],
    Case("head", "keras_thread = the thread's Keras head as its code reads", "matched", _literal_thread_head,
         "spec_defaults", "the spec head claims to be the thread's code: the same pool order, layer kinds, Keras "
         "default settings and, with its weights copied over, the same probabilities", key="keras_thread.literal"),
]
