"""Heads, initialisers and BN policies declared as data.

Every head has the shape pool -> flatten -> [BN -> Dropout -> Linear -> ReLU]* -> [BN -> Dropout -> Linear],
as fastai's `create_head` builds it; the variants differ only in the fields below. Layer names follow
fastai's nn.Sequential indices (head.2 is the first BN, head.4 the first Linear, ...), in both frameworks.
Heads always end in logits: the Keras thread head's softmax belongs to the loss component.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from parity.core.errors import ParityError, unknown
from parity.runtime.client import client


@dataclass(frozen=True)
class Head:
    name: str
    source: str
    pool: str  # 'max_avg' (fastai AdaptiveConcatPool2d), 'avg_max' (the thread's Keras code), 'avg'
    hidden: tuple[int, ...]  # widths of the hidden Linear layers
    dropout: tuple[float, ...]  # before each Linear
    bn: bool  # BatchNorm1d before each Linear
    linear_bias: bool
    init: str  # key of INITS, for Linear weights
    bn_eps: float = 1e-5
    bn_torch_momentum: float = 0.1
    bn_bias: float = 0.0  # fastai 2 starts BN bias at 1e-3
    final_activation: str = "none"  # what the original applies after the logits


HEADS = {h.name: h for h in [
    Head("fastai_v1", "fastai 1.0.61 create_head: concat pool (max, avg), ps=0.5 -> [0.25, 0.5], lin_ftrs=[512]",
         "max_avg", (512,), (0.25, 0.5), True, True, "kaiming_normal"),
    Head("fastai_v2", "fastai 2.8 create_head: LinBnDrop with bias-free Linear after BN, BN bias 1e-3",
         "max_avg", (512,), (0.25, 0.5), True, False, "kaiming_normal", bn_bias=1e-3),
    Head("keras_thread", "the thread's Keras head: concat (avg, max), BN, Dropout 0.25, Dense relu, softmax",
         "avg_max", (512,), (0.25, 0.25), True, True, "glorot_uniform", bn_eps=1e-3, bn_torch_momentum=0.01,
         final_activation="softmax"),
    # the ResNet-18/34 body gives 512 features: its first Linear is square (512 x 512), the one shape where a
    # port that forgets the Linear -> Dense transpose passes every shape assertion
    Head("fastai_v1_square", "fastai 1.0.61 create_head(concat_pool=False, lin_ftrs=[512]): average pool, "
         "ps=0.5 -> [0.25, 0.5]; on a 512-feature body its first Linear is 512 x 512", "avg", (512,), (0.25, 0.5),
         True, True, "kaiming_normal"),
    Head("linear", "global average pool and one Linear layer (torch's default init)", "avg", (), (0.0,), False,
         True, "torch_default"),
]}


# sd of a standard normal cut at +-2 sd: Keras' truncated initialisers divide by it to keep the variance
TRUNCATED_NORMAL_SD = 0.87962566103423978


@dataclass(frozen=True)
class Init:
    name: str
    summary: str


INITS = {i.name: i for i in [
    Init("kaiming_normal", "torch kaiming_normal_: N(0, 2/fan_in), untruncated; bias 0 (fastai heads)"),
    Init("glorot_uniform", "U(+-sqrt(6/(fan_in+fan_out))); bias 0 (Keras Dense default)"),
    Init("torch_default", "nn.Linear default: U(+-1/sqrt(fan_in)) for weight and bias"),
    Init("keras_he_normal", "keras HeNormal: TRUNCATED normal at 2 sd, rescaled to variance 2/fan_in; bias 0"),
]}

BN_POLICIES = {
    "train_bn": "fastai freeze() with train_bn=True: body BN affine trainable, batch statistics, running stats updated",
    "frozen": "Keras trainable=False: the whole body frozen, BN in inference mode, nothing updated",
    "stats_only": "torch requires_grad=False + train(): BN affine frozen, but batch statistics used and updated",
}


def get_head(name: str, init: str | None = None) -> Head:
    """A registered head; `init` replaces its Linear initialiser (e.g. fastai's head with Keras' glorot)."""
    if name not in HEADS:
        raise unknown("head", name, HEADS)
    head = HEADS[name]
    return head if init is None else replace(head, init=get_init(init).name)


def get_init(name: str) -> Init:
    if name not in INITS:
        raise unknown("initialiser", name, INITS)
    return INITS[name]


def check_policy(policy: str) -> str:
    if policy not in BN_POLICIES:
        raise unknown("BN policy", policy, BN_POLICIES)
    return policy


def linear_layers(head: Head, features: int, n_classes: int, dropout: bool = True):
    """Per Linear block: (index of its BN, of its Dropout, of the Linear, in, out, p, relu after).

    Indices are fastai's nn.Sequential positions; index 0 is the pool and 1 the flatten.
    """
    if n_classes < 1:
        raise ParityError(f"class count must be at least 1, got {n_classes}")
    widths = [features * (2 if head.pool != "avg" else 1), *head.hidden, n_classes]
    blocks, index = [], 2
    for k, (w_in, w_out) in enumerate(zip(widths, widths[1:])):
        p = head.dropout[k] if dropout else 0.0
        bn = index if head.bn else None
        index += 1 if head.bn else 0
        drop = index if p > 0 else None  # the slot is kept when dropout is off, so names never shift
        index += 1 if head.dropout[k] > 0 else 0
        relu = k < len(widths) - 2
        blocks.append((bn, drop, index, w_in, w_out, p, relu))
        index += 2 if relu else 1
    return blocks




def sample_init(init: str, fan_in: int, fan_out: int, seed: int = 0, *, on: str) -> np.ndarray:
    """A (fan_out, fan_in) weight drawn by backend `on`'s form of `init` (torch layout)."""

    get_init(init)
    return client(on).heads.sample_init(init, fan_in, fan_out, seed)
