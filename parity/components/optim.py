"""Optimizers as data, fastai's layer groups and LR slices, and a float64 numpy reference of one step.

Every Adam variant a user of either framework meets is one row of OPTIMIZERS; they differ in betas,
epsilon and where it is added, and in weight decay (coupled L2 or decoupled, on which parameters).
Parameters cross this boundary as {torch name: numpy array}; "norm or bias" means a 1-D tensor (BN
weight/bias and every bias), the split fastai uses for bn_wd / wd_bn_bias.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from parity.core.errors import ParityError, unknown
from parity.runtime.client import client


@dataclass(frozen=True)
class Optimizer:
    name: str
    source: str
    beta1: float
    beta2: float
    eps: float
    eps_style: str  # 'torch': eps added to sqrt(v / bc2); 'keras': "epsilon hat", added to sqrt(v)
    weight_decay: float = 0.0
    decay_mode: str = "none"  # 'l2' (wd * p added to the gradient) or 'decoupled' (p *= 1 - lr * wd first)
    decay_norm_bias: bool = True  # False: 1-D tensors (BN params, biases) get no weight decay


OPTIMIZERS = {o.name: o for o in [
    Optimizer("torch_adam", "torch.optim.Adam defaults", 0.9, 0.999, 1e-8, "torch"),
    Optimizer("keras_adam", "keras.optimizers.Adam defaults (the thread's Adam(lr=0.003))", 0.9, 0.999, 1e-7,
              "keras"),
    Optimizer("fastai_v1_adamw_l2", "fastai 1 cnn_learner(true_wd=False): Adam betas (0.9, 0.99), L2 wd 1e-2 "
              "through torch Adam's weight_decay, bn_wd=True", 0.9, 0.99, 1e-8, "torch", 1e-2, "l2"),
    Optimizer("fastai_v1_adamw", "fastai 1 default (true_wd=True): p *= 1 - lr*wd before the Adam step, "
              "bn_wd=True", 0.9, 0.99, 1e-8, "torch", 1e-2, "decoupled"),
    Optimizer("fastai_v2_adam", "fastai 2 Adam: sqr_mom 0.99, eps 1e-5, decoupled wd 1e-2, none on norm/bias",
              0.9, 0.99, 1e-5, "torch", 1e-2, "decoupled", decay_norm_bias=False),
    Optimizer("torch_adamw", "torch.optim.AdamW defaults", 0.9, 0.999, 1e-8, "torch", 1e-2, "decoupled"),
    Optimizer("keras_adamw", "keras.optimizers.AdamW defaults (decoupled 0.004 on every variable)", 0.9, 0.999,
              1e-7, "keras", 4e-3, "decoupled"),
]}


def get_optimizer(name) -> Optimizer:
    """A registered optimizer by name; an Optimizer passes through (variants built with dataclasses.replace)."""
    if isinstance(name, Optimizer):
        return name
    if name not in OPTIMIZERS:
        raise unknown("optimizer", name, OPTIMIZERS)
    return OPTIMIZERS[name]


def is_norm_or_bias(shape) -> bool:
    return len(shape) == 1


def decays(spec: Optimizer, shape) -> bool:
    return spec.decay_mode != "none" and (spec.decay_norm_bias or not is_norm_or_bias(shape))


def check_finite(what: str, arrays: dict) -> None:
    """NaN or inf in parameters or gradients is reported by name, never silently compared."""
    for name, value in arrays.items():
        if not np.isfinite(value).all():
            raise ParityError(f"{what} {name!r} holds {int(np.size(value) - np.isfinite(value).sum())} "
                              f"non-finite values (NaN or inf)")


# --- layer groups and discriminative learning rates ------------------------------------------------------

LATE_BODY = ("body.layer3.", "body.layer4.", "body._conv_head.", "body._bn1.")


def layer_group(name: str, n_groups: int = 3) -> int:
    """fastai's split of body + head: 3 groups = [stem .. layer2 | Lite0 blocks 0-7], [layer3, layer4 | the
    rest of the body], [head]; 2 groups = body, head; 1 group = everything."""
    if n_groups not in (1, 2, 3):
        raise ParityError(f"layer groups must be 1, 2 or 3, got {n_groups}")
    if n_groups == 1:
        return 0
    if name.startswith("head."):
        return n_groups - 1
    if n_groups == 2:
        return 0
    late_block = name.startswith("body._blocks.") and int(name.split(".")[2]) >= 8
    return 1 if name.startswith(LATE_BODY) or late_block else 0


def group_lrs(lr, n_groups: int) -> list[float]:
    """fastai's lr argument: a float (same everywhere), slice(stop) = (stop,) -> [stop/10]*(n-1) + [stop],
    slice(start, stop) = (start, stop) -> geometric steps, or one value per group."""
    if isinstance(lr, (int, float)):
        return [float(lr)] * n_groups
    values = [float(v) for v in lr]
    if isinstance(lr, tuple) and len(values) == 1:
        return [values[0] / 10] * (n_groups - 1) + [values[0]]
    if isinstance(lr, tuple) and len(values) == 2:
        if n_groups == 1:
            return [values[1]]
        step = (values[1] / values[0]) ** (1 / (n_groups - 1))
        return [values[0] * step ** i for i in range(n_groups)]
    if len(values) != n_groups:
        raise ParityError(f"LR list has {len(values)} values for {n_groups} layer groups: {values}")
    return values


# --- float64 reference ----------------------------------------------------------------------------------

def reference_step(spec: Optimizer, params: dict, grads: dict, state: dict, lr: float, step: int) -> None:
    """One step of `spec` in float64, in place on params and state (m, v per name); step counts from 1."""
    bc1, bc2 = 1 - spec.beta1 ** step, 1 - spec.beta2 ** step
    for name, p in params.items():
        g = grads[name].astype(np.float64)
        if decays(spec, p.shape) and spec.decay_mode == "l2":
            g = g + spec.weight_decay * p
        if decays(spec, p.shape) and spec.decay_mode == "decoupled":
            p *= 1 - lr * spec.weight_decay
        m, v = state.setdefault(name, (np.zeros_like(p), np.zeros_like(p)))
        m = spec.beta1 * m + (1 - spec.beta1) * g
        v = spec.beta2 * v + (1 - spec.beta2) * g * g
        state[name] = (m, v)
        p -= EPS_STYLES[spec.eps_style](m, v, lr, bc1, bc2, spec.eps)


EPS_STYLES = {  # the Adam update by where eps enters: the float64 reference of each framework's form
    "torch": lambda m, v, lr, bc1, bc2, eps: (lr / bc1) * m / (np.sqrt(v) / math.sqrt(bc2) + eps),
    "keras": lambda m, v, lr, bc1, bc2, eps: lr * math.sqrt(bc2) / bc1 * m / (np.sqrt(v) + eps),  # epsilon hat
}


def run_steps(name, params: dict, grads: list, lrs: list, groups: dict | None = None, *, on: str) -> list[dict]:
    """`name` applied by backend `on` for len(grads) steps to numpy params with the given gradients and per-step
    group LRs; the parameters after every step, by name."""

    get_optimizer(name)
    check_finite("parameter", params)
    for step_grads in grads:
        check_finite("gradient", step_grads)
    return client(on).optim.run_steps(name, params, grads, lrs, groups)
