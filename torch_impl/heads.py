"""Torch heads (fastai's create_head layout) and initialisers, built from parity.components.heads."""

from __future__ import annotations

import math
from collections import OrderedDict

import numpy as np
import torch
from torch import nn

from parity.components import heads as spec


class _ConcatPool(nn.Module):
    """fastai AdaptiveConcatPool2d for 'max_avg'; the thread's Keras order for 'avg_max'; plain avg for 'avg'."""

    def __init__(self, order: str):
        super().__init__()
        self.order = order

    def forward(self, x):  # (N, C, H, W) -> (N, k*C, 1, 1)
        pools = {"max": x.amax(dim=(2, 3), keepdim=True), "avg": x.mean(dim=(2, 3), keepdim=True)}
        return torch.cat([pools[p] for p in self.order.split("_")], dim=1)


def _init_linear(linear: nn.Linear, init: str, seed: int) -> None:
    fan_out, fan_in = linear.weight.shape
    with torch.no_grad():
        linear.weight.copy_(torch.from_numpy(sample_init(init, fan_in, fan_out, seed)))
        if linear.bias is not None:
            bound = 1 / math.sqrt(fan_in)
            gen = torch.Generator().manual_seed(seed + 1)
            linear.bias.copy_(torch.empty(fan_out).uniform_(-bound, bound, generator=gen)
                              if init == "torch_default" else torch.zeros(fan_out))


def sample_init(init: str, fan_in: int, fan_out: int, seed: int = 0) -> np.ndarray:
    """A (fan_out, fan_in) weight drawn by the torch-side form of `init` (torch layout)."""
    w = torch.empty(fan_out, fan_in)
    gen = torch.Generator().manual_seed(seed)
    if init == "kaiming_normal":
        nn.init.kaiming_normal_(w, generator=gen)
    elif init == "glorot_uniform":
        nn.init.xavier_uniform_(w, generator=gen)
    elif init == "torch_default":
        nn.init.kaiming_uniform_(w, a=math.sqrt(5), generator=gen)
    else:  # keras_he_normal: normal cut at 2 sd, sd first divided by the cut normal's sd as Keras does
        sd = math.sqrt(2 / fan_in) / spec.TRUNCATED_NORMAL_SD
        nn.init.trunc_normal_(w, std=sd, a=-2 * sd, b=2 * sd, generator=gen)
    return w.numpy()


def build_head(name: str, features: int, n_classes: int, dropout: bool = True, seed: int = 0,
               init: str | None = None) -> nn.Sequential:
    """(N, C, H, W) body features -> (N, n_classes) logits, with fastai's module indices as names."""
    head = spec.get_head(name, init)
    modules = {"0": _ConcatPool(head.pool), "1": nn.Flatten()}
    for bn, drop, lin, w_in, w_out, p, relu in spec.linear_layers(head, features, n_classes, dropout):
        if bn is not None:
            norm = nn.BatchNorm1d(w_in, eps=head.bn_eps, momentum=head.bn_torch_momentum)
            nn.init.constant_(norm.bias, head.bn_bias)
            modules[str(bn)] = norm
        if drop is not None:
            modules[str(drop)] = nn.Dropout(p)
        modules[str(lin)] = linear = nn.Linear(w_in, w_out, bias=head.linear_bias)
        _init_linear(linear, head.init, seed + lin)
        if relu:
            modules[str(lin + 1)] = nn.ReLU(inplace=True)
    return nn.Sequential(OrderedDict(modules))
