"""Torch classifier = body + head (fastai's nn.Sequential(body, head)), BN policies, gradients, training loop."""

from __future__ import annotations

import copy
from collections import OrderedDict

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from parity.components import models as body_spec
from parity.components.tracing import step_tracer
from torch_impl._device import DEVICE, on_device
from torch_impl._state import load_state, state_of
from torch_impl.heads import build_head
from torch_impl.loss import per_sample_loss
from torch_impl.models import build_body
from torch_impl.optim import build_optimizer, set_lrs


def build_model(body: str, head: str, n_classes: int, weights: str | None = None, dropout: bool = True,
                seed: int = 0, dtype: str = "float32", init: str | None = None) -> nn.Sequential:
    """Parameters are named 'body.<torchvision name>' and 'head.<fastai index>'; dtype float32 or float64;
    `init` replaces the head's Linear initialiser."""
    net = build_body(body, weights, seed)
    top = build_head(head, body_spec.get_body(body).features, n_classes, dropout, seed, init)
    return nn.Sequential(OrderedDict(body=net, head=top)).to(getattr(torch, dtype)).to(DEVICE["current"])


def build_head_model(body: str, head: str, n_classes: int, dropout: bool = True, seed: int = 0,
                     dtype: str = "float32", init: str | None = None) -> nn.Sequential:
    """build_model's head behind an identity body, the body never built: `head_only(build_model(...))` for
    runs on body features cached before (the head's initialisers are seeded by themselves)."""
    top = build_head(head, body_spec.get_body(body).features, n_classes, dropout, seed, init)
    return _behind_identity(top).to(getattr(torch, dtype)).to(DEVICE["current"])


def model_state(model: nn.Module) -> dict[str, np.ndarray]:
    """Parameters and buffers as numpy, by torch name."""
    return state_of(model)


def load_model_state(model: nn.Module, state: dict[str, np.ndarray]) -> int:
    """Load a torch-named numpy state (e.g. exported from Keras); missing or extra keys are errors."""
    return load_state(model, state)


def snapshot(model: nn.Module, statistics_only: bool = False) -> dict:
    """Weights and BN statistics, to give back with restore() after a train-mode pass moved them; with
    `statistics_only`, the BN statistics alone (the buffers: all a forward or backward pass can move)."""
    if not statistics_only:
        return copy.deepcopy(model.state_dict())
    return {name: value.detach().clone() for name, value in model.named_buffers()}


def restore(model: nn.Module, snapshot: dict) -> None:
    state = model.state_dict()
    with torch.no_grad():
        for name, value in snapshot.items():
            state[name].copy_(value)


def _is_bn(module: nn.Module) -> bool:
    return isinstance(module, nn.modules.batchnorm._BatchNorm)


def apply_bn_policy(model: nn.Sequential, policy: str) -> list[str]:
    """Freeze the body per `policy` (the head stays trainable); returns the trainable parameter names."""
    for module in model.body.modules():
        for param in module.parameters(recurse=False):
            param.requires_grad_(policy == "train_bn" and _is_bn(module))
    for param in model.head.parameters():
        param.requires_grad_(True)
    return sorted(n for n, p in model.named_parameters() if p.requires_grad)


def _train_mode(model: nn.Sequential, policy: str) -> None:
    model.train()
    if policy == "frozen":  # what Keras does for trainable=False: BN on running statistics
        model.body.eval()


def _nchw(images, dtype) -> torch.Tensor:
    x = torch.from_numpy(np.ascontiguousarray(images, np.float32)).permute(0, 3, 1, 2)  # NHWC -> NCHW
    return on_device(x.to(dtype))


def _labels(labels) -> torch.Tensor:
    return on_device(torch.from_numpy(np.asarray(labels, np.int64)))


def gradients(model: nn.Sequential, images, labels, policy: str) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """One training-mode forward and backward of mean cross-entropy on logits.

    Returns the logits and the gradient of every parameter `policy` trains, by torch name, torch layout.
    """
    names = apply_bn_policy(model, policy)
    _train_mode(model, policy)
    model.zero_grad(set_to_none=True)
    logits = model(_nchw(images, next(model.parameters()).dtype))
    F.cross_entropy(logits, _labels(labels)).backward()
    params = dict(model.named_parameters())
    grads = {n: params[n].grad.detach().cpu().numpy().copy() for n in names}
    model.eval()
    return logits.detach().cpu().numpy(), grads


def train_steps(model: nn.Sequential, batches, optimizer: str, lrs, policy: str, groups: dict | None = None,
                loss: str = "ce_logits", moms=None):
    """fastai's training loop, one batch at a time: BN policy, train mode, mean loss, step.

    `batches` are (x NHWC, labels) numpy pairs; `lrs` one list of layer-group LRs per batch; `moms` an
    optional beta1 per batch (one-cycle momentum). Returns the losses; stops after the first non-finite one.
    """
    return _steps(model, batches, optimizer, lrs, policy, groups, loss, moms)


def traced_steps(model: nn.Sequential, batches, optimizer: str, lrs, policy: str, groups: dict | None = None,
                 loss: str = "ce_logits", moms=None, prefix: str = "head.") -> dict[str, np.ndarray]:
    """train_steps, and after every step the state whose names start with `prefix`: {'losses': ...,
    'step <k> <name>': value}, k from 1."""
    trace, after = step_tracer(state_of, model, prefix)
    return {"losses": _steps(model, batches, optimizer, lrs, policy, groups, loss, moms, after), **trace}


def _steps(model, batches, optimizer, lrs, policy, groups, loss, moms, after=None) -> np.ndarray:
    names = set(apply_bn_policy(model, policy))
    optim = build_optimizer(optimizer, [(n, p) for n, p in model.named_parameters() if n in names], groups,
                            lrs[0])
    losses, dtype = [], next(model.parameters()).dtype
    for step, ((x, labels), step_lrs) in enumerate(zip(batches, lrs)):
        _train_mode(model, policy)
        optim.zero_grad(set_to_none=True)
        value = per_sample_loss(loss, model(_nchw(x, dtype)), _labels(labels)).mean()
        losses.append(value.item())
        if not np.isfinite(losses[-1]):
            break
        value.backward()
        set_lrs(optim, step_lrs, None if moms is None else moms[step])
        optim.step()
        if after is not None:
            after(step)
    model.eval()
    return np.array(losses)


def head_only(model: nn.Sequential) -> nn.Sequential:
    """The same head behind an identity body: trains on cached body features with the same names, groups,
    BN policy and random draws as the whole model (the head's modules are shared, not copied)."""
    return _behind_identity(model.head)


def _behind_identity(head: nn.Module) -> nn.Sequential:
    return nn.Sequential(OrderedDict(body=nn.Identity(), head=head))


def body_of(model: nn.Sequential) -> nn.Module:
    return model.body


def evaluate(model: nn.Sequential, images, batch_size: int = 64) -> np.ndarray:
    """Eval mode (BN on running statistics, no dropout): the logits of every image."""
    model.eval()
    with torch.no_grad():
        dtype = next(model.parameters()).dtype
        return np.concatenate([model(_nchw(images[i:i + batch_size], dtype)).cpu().numpy()
                               for i in range(0, len(images), batch_size)])


def head_layer_outputs(model: nn.Sequential, images, training: bool = False) -> dict[str, np.ndarray]:
    """Every head layer's output, flattened per image, by torch name ('head.0' the pool, 'head.2' the first BN,
    ...; fastai's Flatten is skipped, Keras has none): the body in inference mode, the head in `training`
    (batch statistics and dropout, when it was built with dropout). BN statistics a train-mode pass moves are
    the caller's to restore."""
    model.eval()
    model.head.train(training)
    out = {}
    with torch.no_grad():
        x = model.body(_nchw(images, next(model.parameters()).dtype))
        for name, module in model.head.named_children():
            x = module(x)
            if not isinstance(module, nn.Flatten):
                out[f"head.{name}"] = x.reshape(len(x), -1).cpu().numpy().copy()  # before an in-place ReLU
    model.eval()
    return out


def seed_draws(seed: int) -> None:
    """Seed the random draws a training run makes (dropout masks): torch's global generator."""
    torch.manual_seed(seed)


def device_of(model: nn.Module) -> str:
    """Where the model computes, read from its parameters: 'cpu', 'cuda', ..."""
    return next(model.parameters()).device.type
