"""Torch side of every parity.components.optim optimizer: torch.optim.Adam / AdamW where they express it, and an
epsilon-hat Adam for Keras' formula. Parameter groups follow fastai: (layer group, decays or not)."""

from __future__ import annotations

import math

import numpy as np
import torch

from parity.components import optim as spec


class _EpsHatAdam(torch.optim.Optimizer):
    """Keras' Adam: var -= lr * sqrt(1 - b2^t) / (1 - b1^t) * m / (sqrt(v) + eps); decoupled decay first.

    Keras computes the bias corrections from ops.cast(beta, dtype), which on TensorFlow turns the Python float
    into a float32 tensor first: b^t uses float32-rounded betas (1 - 0.999 is off by 1.3e-5). Invisible in
    float32 runs, it is the whole difference between the two in float64, so it is mirrored here.
    """

    def __init__(self, params, lr, betas, eps, weight_decay=0.0):
        super().__init__(params, dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay))

    @torch.no_grad()
    def step(self):
        for group in self.param_groups:
            b1, b2 = group["betas"]
            for p in group["params"]:
                state = self.state[p]
                if not state:
                    state.update(step=0, m=torch.zeros_like(p), v=torch.zeros_like(p))
                state["step"] += 1
                t = state["step"]
                p.mul_(1 - group["lr"] * group["weight_decay"])
                state["m"].add_((p.grad - state["m"]) * (1 - b1))
                state["v"].add_((p.grad * p.grad - state["v"]) * (1 - b2))
                rounded1, rounded2 = float(np.float32(b1)), float(np.float32(b2))
                alpha = group["lr"] * math.sqrt(1 - rounded2 ** t) / (1 - rounded1 ** t)
                p.sub_(state["m"] * alpha / (state["v"].sqrt() + group["eps"]))


def _param_groups(opt: spec.Optimizer, named, groups: dict, lrs: list[float]) -> list[dict]:
    buckets: dict = {}
    for name, p in named:
        buckets.setdefault((groups.get(name, 0), spec.decays(opt, p.shape)), []).append(p)
    return [{"params": ps, "lr": lrs[g], "weight_decay": opt.weight_decay if decay else 0.0, "group": g}
            for (g, decay), ps in sorted(buckets.items())]


def build_optimizer(name, named_params, groups: dict | None = None, lrs=(1e-3,)):
    """A torch optimizer for [(torch name, parameter)], one param group per (layer group, decays)."""
    opt = spec.get_optimizer(name)
    param_groups = _param_groups(opt, named_params, groups or {}, list(lrs))
    betas = (opt.beta1, opt.beta2)
    if opt.eps_style == "keras":
        return _EpsHatAdam(param_groups, lrs[0], betas, opt.eps)
    if opt.decay_mode == "decoupled":  # torch AdamW: p.mul_(1 - lr * wd) before the moments, like fastai
        return torch.optim.AdamW(param_groups, lrs[0], betas, opt.eps, foreach=False)
    return torch.optim.Adam(param_groups, lrs[0], betas, opt.eps, foreach=False)  # 'l2' groups carry wd


def set_lrs(optimizer, lrs, mom: float | None = None) -> None:
    """Per-step learning rates, one per layer group; `mom` (one-cycle momentum) replaces Adam's beta1."""
    for group in optimizer.param_groups:
        group["lr"] = lrs[group["group"]]
        if mom is not None:
            group["betas"] = (mom, group["betas"][1])


def run_steps(name, params: dict, grads: list, lrs: list, groups: dict | None = None) -> list[dict]:
    """Apply `name` for len(grads) steps to numpy params with the given gradients and per-step group LRs.

    Returns the parameters after every step, as numpy by name.
    """
    tensors = {k: torch.nn.Parameter(torch.from_numpy(np.array(v, np.float32))) for k, v in params.items()}
    optimizer = build_optimizer(name, list(tensors.items()), groups, lrs[0])
    history = []
    for step_grads, step_lrs in zip(grads, lrs):
        for k, p in tensors.items():
            p.grad = torch.from_numpy(np.asarray(step_grads[k], np.float32))
        set_lrs(optimizer, step_lrs)
        optimizer.step()
        history.append({k: p.detach().numpy().copy() for k, p in tensors.items()})
    return history
