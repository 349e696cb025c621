"""The torch side of parity.testing, in the user's own process: a model's layers in execution order with their
outputs (any rank: 4-D NCHW outputs come out NHWC, a Flatten's in NHWC order), its weights and BN buffers by
module name, gradients of a loss, and one optimizer step. keras_impl.testing has the same functions."""

from __future__ import annotations

import copy

import numpy as np
import torch
from torch import nn

# module class -> the kind it is aligned by (parity.testing.align); other leaf modules are not compared
KINDS = {"Conv2d": "conv", "Linear": "linear", "BatchNorm1d": "bn", "BatchNorm2d": "bn", "Dropout": "dropout",
         "Dropout2d": "dropout", "MaxPool2d": "maxpool", "AvgPool2d": "avgpool", "AdaptiveAvgPool2d": "gap",
         "Flatten": "flatten", "ReLU": "relu", "Softmax": "softmax"}
WEIGHTED = ("conv", "depthwise", "linear", "bn")


def _kind_of(module: nn.Module) -> str | None:
    """The kind a leaf module is aligned by (its class or a base class in KINDS); a Conv2d with one group per
    input channel is a depthwise conv."""
    for cls in type(module).__mro__:
        if cls.__name__ in KINDS:
            kind = KINDS[cls.__name__]
            if kind == "conv" and module.groups > 1 and module.groups == module.in_channels:
                return "depthwise"
            return kind
    return None


LOSSES = {"cross_entropy": lambda out, y: nn.functional.cross_entropy(out, y),
          "sum": lambda out, y: out.sum()}


def _nhwc(t: torch.Tensor) -> np.ndarray:
    t = t.detach()
    if t.ndim == 4:
        t = t.permute(0, 2, 3, 1)
    return t.clone(memory_format=torch.contiguous_format).cpu().numpy()


def _to_torch_input(x: np.ndarray, dtype=torch.float32) -> torch.Tensor:
    """NHWC (parity's boundary) -> NCHW; other ranks as they are."""
    t = torch.from_numpy(np.ascontiguousarray(x))
    return (t.permute(0, 3, 1, 2) if t.ndim == 4 else t).to(dtype)


def trace(model: nn.Module, x: np.ndarray, training: bool = False, forward=None) -> list[dict]:
    """Every leaf module of a known kind, in the order the forward pass ran it: name, kind, module, its input
    shape (torch layout) and its output at the boundary (NHWC; a Flatten's as Keras flattens NHWC). `forward`
    (model, x, training) runs the pass when the model needs more than model(NCHW tensor) (parity's bodies)."""
    points, hooks = [], []
    flattened = [None]  # (C, H, W) while the outputs are a Flatten's (CHW order) and no Linear has mixed them

    def record(name, module):
        def hook(mod, inputs, output):
            kind = _kind_of(mod)
            shape = tuple(inputs[0].shape) if inputs and isinstance(inputs[0], torch.Tensor) else ()
            if kind == "flatten" and len(shape) == 4:
                flattened[0] = shape[1:]
            elif kind == "linear":
                flattened[0] = None
            chw = flattened[0]
            if chw is not None and output.ndim == 2 and output.shape[1] == int(np.prod(chw)):
                # Keras flattens NHWC: compare in its order
                value = _nhwc(output.reshape(output.shape[0], *chw)).reshape(output.shape[0], -1)
            elif kind == "gap":
                value = _nhwc(output).reshape(output.shape[0], -1)
            else:
                value = _nhwc(output)
            points.append({"name": name, "kind": kind, "layer": mod, "input_shape": shape, "output": value})
        return hook

    for name, module in model.named_modules():
        # a known kind holding no known kind: Lite0's Conv2dStaticSamePadding keeps its padding as a child
        if _kind_of(module) and not any(_kind_of(m) for m in module.modules() if m is not module):
            hooks.append(module.register_forward_hook(record(name, module)))
    was = model.training
    model.train(training)
    try:
        if forward is not None:
            forward(model, x, training)
        else:
            dtype = next(model.parameters()).dtype
            with torch.no_grad():
                model(_to_torch_input(x, dtype))
    finally:
        model.train(was)
        for hook in hooks:
            hook.remove()
    return points


def weights_of(layer: nn.Module) -> dict[str, np.ndarray]:
    """A layer's tensors in torch layout: weight, bias, and a BN's running_mean / running_var."""
    names = ("weight", "bias", "running_mean", "running_var")
    return {n: getattr(layer, n).detach().cpu().numpy().copy() for n in names if getattr(layer, n, None) is not None}


def assign(layer: nn.Module, values: dict[str, np.ndarray]) -> None:
    """Set a layer's tensors from torch-named values in torch's layout (weights_of's names)."""
    with torch.no_grad():
        for name, value in values.items():
            tensor = getattr(layer, name)
            tensor.copy_(torch.from_numpy(np.asarray(value)).to(tensor.dtype))


def bn_settings(layer: nn.Module) -> dict:
    """eps and the momentum a Keras BN layer must be given to update its statistics alike (1 - torch's)."""
    return {"eps": layer.eps, "keras_momentum": None if layer.momentum is None else 1 - layer.momentum}


def float64_copy(model: nn.Module) -> nn.Module:
    """The float64 reference a float32 side's noise is measured against."""
    return copy.deepcopy(model).double()


def gradients(model: nn.Module, x: np.ndarray, y: np.ndarray, loss: str, training: bool) -> dict:
    """d loss / d each parameter, by parameter name (torch layout), and the loss."""
    was = model.training
    model.train(training)
    dtype = next(model.parameters()).dtype
    model.zero_grad(set_to_none=True)
    try:
        value = LOSSES[loss](model(_to_torch_input(x, dtype)), torch.from_numpy(np.asarray(y)).long())
        value.backward()
    finally:
        model.train(was)
    grads = {n: p.grad.detach().cpu().numpy().copy() for n, p in model.named_parameters() if p.grad is not None}
    return {"loss": float(value.detach()), "grads": grads}


def train_step(model: nn.Module, optimizer, x: np.ndarray, y: np.ndarray, loss: str) -> dict:
    """One step in training mode: zero the gradients, the loss, backward, optimizer.step(). Returns the loss and
    the gradients it applied, by parameter name."""
    model.train(True)
    optimizer.zero_grad(set_to_none=True)
    dtype = next(model.parameters()).dtype
    value = LOSSES[loss](model(_to_torch_input(x, dtype)), torch.from_numpy(np.asarray(y)).long())
    value.backward()
    grads = {n: p.grad.detach().cpu().numpy().copy() for n, p in model.named_parameters() if p.grad is not None}
    optimizer.step()
    return {"loss": float(value.detach()), "grads": grads}


def optimizer_state(optimizer, layer: nn.Module, tensor: str) -> dict[str, np.ndarray]:
    """Adam's first and second moments of one parameter (empty before the first step, or for another optimizer)."""
    state = optimizer.state.get(getattr(layer, tensor), {})
    return {k: state[k].detach().cpu().numpy().copy() for k in ("exp_avg", "exp_avg_sq") if k in state}


def adam_hyper(optimizer) -> dict | None:
    """An Adam's betas, eps and weight decay as torch.optim.Adam reads them (None for another optimizer)."""
    if type(optimizer).__name__ not in ("Adam", "AdamW"):
        return None
    g = optimizer.param_groups[0]
    return {"beta1": g["betas"][0], "beta2": g["betas"][1], "eps": g["eps"], "weight_decay": g["weight_decay"],
            "lr": g["lr"], "decoupled": type(optimizer).__name__ == "AdamW"}


def set_dropout(model: nn.Module, rate: float | None, saved: dict | None = None) -> dict:
    """Every Dropout's p set to `rate` (returns what it was), or restored from `saved`."""
    out = {}
    for name, module in model.named_modules():
        if isinstance(module, (nn.Dropout, nn.Dropout2d)):
            out[name] = module.p
            module.p = saved[name] if saved is not None else rate
    return out


def set_seed(seed: int) -> None:
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(True)
