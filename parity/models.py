"""Bodies declared as data: structure, BN constants and each body's preprocessing contract.

ResNets follow torchvision's v1.5 layout (stride on the 3x3 of a bottleneck, no conv bias, BN eps 1e-5);
EfficientNet-Lite0 follows `efficientnet-lite-pytorch` (TF-style static 'same' padding computed for the
224 px construction size, ReLU6, no squeeze-excite, BN eps 1e-3).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from parity.errors import unknown


@dataclass(frozen=True)
class Body:
    name: str
    family: str  # 'resnet' or 'efficientnet_lite'
    norm: str  # preprocessing contract: parity.data normalisation mode
    input_size: int  # size the weights were trained at
    features: int  # channels of the body output
    block: str = ""  # resnet: 'basic' or 'bottleneck'
    layers: tuple[int, ...] = ()  # resnet: blocks per stage
    bn_eps: float = 1e-5
    torch_bn_momentum: float = 0.1  # torch convention; Keras momentum = 1 - this


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
    Body("resnet18", "resnet", "torch", 224, 512, "basic", (2, 2, 2, 2)),
    Body("resnet34", "resnet", "torch", 224, 512, "basic", (3, 4, 6, 3)),
    Body("resnet50", "resnet", "torch", 224, 2048, "bottleneck", (3, 4, 6, 3)),
    Body("efficientnet_lite0", "efficientnet_lite", "tf", 224, 1280, bn_eps=1e-3, torch_bn_momentum=0.01),
    # the thread's Keras body: keras.applications only (pre-activation v2, no torch twin to port from)
    Body("resnet50v2_keras", "keras_applications", "tf", 224, 2048, bn_eps=1.001e-5, torch_bn_momentum=0.01),
]}
PORTABLE_BODIES = [name for name, b in BODIES.items() if b.family != "keras_applications"]

# efficientnet-lite0: width 1.0, depth 1.0; stem 32 and head 1280 channels are fixed ('fix_head_stem').
LITE0_STAGES = (
    MBConvStage(1, 3, 1, 1, 32, 16), MBConvStage(2, 3, 2, 6, 16, 24), MBConvStage(2, 5, 2, 6, 24, 40),
    MBConvStage(3, 3, 2, 6, 40, 80), MBConvStage(3, 5, 1, 6, 80, 112), MBConvStage(4, 5, 2, 6, 112, 192),
    MBConvStage(1, 3, 1, 6, 192, 320),
)
LITE0_STEM, LITE0_HEAD = 32, 1280


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
