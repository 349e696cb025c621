"""Body forward parity: the same weights in every backend (torch's, ported by parity.components.porting), the same input,
every conv/BN layer compared against a float64 torch reference, in inference and in training-mode BN; the
first layer over tolerance is named."""

from __future__ import annotations

from functools import partial

import numpy as np

from parity.components import data, models, resize
from parity.runtime.backends import REFERENCE
from parity.check.case import Case, Output, Sides
from parity.check.cases._shared import KERAS, TORCH, body, body_float64, body_input, restored

SIZES = (64, 224)


def _layers(name: str, size: int, training: bool, backend: str, ctx) -> Output:
    """Every conv/BN layer's output of one backend's body (its BN statistics restored afterwards)."""
    handle = body(ctx, name, backend)
    with restored(ctx, handle, backend, passes_only=True):
        outputs = models.layer_outputs(handle, body_input(ctx, name, size), training)
    return Output(layers=list(outputs.items()), detail={"input": list(body_input(ctx, name, size).shape)})


def _reference_layers(name: str, size: int, training: bool, ctx) -> Output:
    handle = body_float64(ctx, name)
    with restored(ctx, handle, REFERENCE, passes_only=True):
        outputs = models.layer_outputs(handle, body_input(ctx, name, size).astype(np.float64), training)
    return Output(layers=list(outputs.items()))


def _parameter_counts(state: dict) -> list[int]:
    """[trainable parameters, BN layers] from a torch-named state (weights and biases; running stats aside)."""
    params = sum(int(np.size(v)) for k, v in state.items() if k.endswith((".weight", ".bias")))
    return [params, sum(1 for k in state if k.endswith("running_mean"))]


def _v2_vs_v1(ctx) -> Sides:
    """Trainable parameter and BN-layer counts of the two 'ResNet50' bodies of the thread."""
    v1 = _parameter_counts(models.body_state(body(ctx, "resnet50", TORCH)))
    v2 = _parameter_counts(models.body_state(body(ctx, "resnet50v2_keras", KERAS)))
    return Sides(np.array(v1), np.array(v2), labels=("torchvision resnet50", "keras ResNet50V2"),
                 detail={"torchvision resnet50 [parameters, BN layers]": v1,
                         "keras ResNet50V2 [parameters, BN layers]": v2})


def imagenet_input(ctx) -> np.ndarray:
    """The sklearn photos as Lite0 expects them: 224 px (antialiased, as torchvision resizes), scaled to [-1, 1]."""
    return ctx.memo("imagenet input", lambda: data.reference_normalize(
        resize.reference_resize(ctx.photos, 224, "torchvision"), "tf").astype(np.float32))


def _top5(backend: str, ctx) -> Output:
    """Lite0's real ImageNet head on the sklearn photos: the five classes, in order."""
    logits = models.classify(models.imagenet_classifier("efficientnet_lite0", on=backend), imagenet_input(ctx))
    top5 = np.argsort(-logits, axis=1)[:, :5]
    names = [p.rsplit("/", 1)[-1] for p in data.sample_photo_paths()]
    return Output(value=top5, detail={"photos": names, f"top5 {backend}": top5.tolist(),
                                      "expected_top1": {"china.jpg": 442, "flower.jpg": 985}})


CASES = [
    Case("model", "efficientnet_lite0 imagenet top-5 (sklearn photos)", "matched", _top5, "exact",
         "same ported weights: the same five classes in the same order (china.jpg -> 442 bell cote, "
         "flower.jpg -> 985 daisy)", across=True, key="efficientnet_lite0.top5"),
    *[Case("model", f"{name} {size}px {'train-mode BN' if training else 'inference'}", "matched",
           partial(_layers, name, size, training), "features_train_f32" if training else "features_f32",
           f"{name} body with the weights {models.CHECK_WEIGHTS[name]} "
           f"({models.get_weights(models.CHECK_WEIGHTS[name]).summary}), "
           f"{'batch statistics' if training else 'running statistics'}", across=True,
           reference=partial(_reference_layers, name, size, training), figure=f"layer_errors/{name}",
           key=f"{name}.{size}.{'train' if training else 'infer'}")
      for name in models.PORTABLE_BODIES for size in SIZES for training in (False, True)],
    Case("model", "resnet50v2_keras vs torchvision resnet50: parameters", "divergence", _v2_vs_v1, "exact",
         "the thread's Keras body is ResNet50V2 (pre-activation, conv biases, BN eps 1.001e-5, stride on the "
         "last block of a stage), not the v1.5 resnet50 fastai uses: different weights, different network",
         key="resnet50v2_vs_resnet50.params"),
]
