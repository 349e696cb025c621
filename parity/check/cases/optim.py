"""Update-step parity: every optimizer, 100 steps from identical parameters and gradients, torch against
Keras against a float64 reference at every step; and the divergence curves of the defaults that differ."""

from __future__ import annotations

import dataclasses
from functools import partial

import numpy as np

from parity.check.case import Case, Output, Sides
from parity.check.cases._shared import N_CLASSES, TORCH, body_input, model, model_float64, restored
from parity.components import classifier, optim as spec
from parity.components.models import PORTABLE_BODIES
from parity.runtime.backends import REFERENCE
from parity.train import training

STEPS = 100
# One tensor per fastai layer group and kind: weights decay, 1-D BN params and biases may not.
SHAPES = {"body.layer1.0.conv1.weight": (8, 4, 3, 3), "body.layer1.0.bn1.weight": (8,),
          "body.layer4.0.bn1.bias": (8,), "head.4.weight": (16, 32), "head.4.bias": (16,)}
GRAD_SCALES = {"body.layer1.0.conv1.weight": 1e-2, "body.layer1.0.bn1.weight": 1e-3,
               "body.layer4.0.bn1.bias": 1e-6, "head.4.weight": 1e-2, "head.4.bias": 1e-4}
SLICE_LR = (3e-3,)  # fastai 1's default lr=slice(3e-3) -> [3e-4, 3e-4, 3e-3]
DISTINCT_LR = (1e-4, 1e-2)  # slice(1e-4, 1e-2) -> [1e-4, 1e-3, 1e-2]: a swap of the two body groups shows


def problem(seed: int):
    """Parameters, STEPS gradients (scales from 1e-2 to 1e-6, where epsilon starts to matter), layer groups."""
    rng = np.random.default_rng(seed)
    params = {k: (rng.normal(size=s) * 0.1 + (1.0 if "bn1.weight" in k else 0.0)).astype(np.float32)
              for k, s in SHAPES.items()}
    grads = [{k: (rng.normal(size=s) * GRAD_SCALES[k]).astype(np.float32) for k, s in SHAPES.items()}
             for _ in range(STEPS)]
    return params, grads, {k: spec.layer_group(k) for k in SHAPES}


def reference_run(optimizer, params, grads, lrs, groups) -> list[dict]:
    p = {k: v.astype(np.float64) for k, v in params.items()}
    state, history = {}, []
    for step, step_grads in enumerate(grads, 1):
        for k in p:  # one tensor at a time: each has its layer group's learning rate
            spec.reference_step(spec.get_optimizer(optimizer), {k: p[k]}, step_grads, state,
                                lrs[step - 1][groups[k]], step)
        history.append({k: v.copy() for k, v in p.items()})
    return history


def _steps_as_layers(history: list[dict]) -> Output:
    """Every tensor after every step, as layers 'step s name' in order: the first step and tensor that part."""
    return Output(value=history[-1]["head.4.weight"],
                  layers=[(f"step {s + 1} {k}", history[s][k]) for s in range(STEPS) for k in SHAPES])


def _matched(name: str, backend: str, ctx, lr=SLICE_LR) -> Output:
    params, grads, groups = problem(ctx.seed)
    return _steps_as_layers(spec.run_steps(name, params, grads, [spec.group_lrs(lr, 3)] * STEPS, groups, on=backend))


def _reference(name: str, ctx, lr=SLICE_LR) -> Output:
    params, grads, groups = problem(ctx.seed)
    return _steps_as_layers(reference_run(name, params, grads, [spec.group_lrs(lr, 3)] * STEPS, groups))


# --- which layer group every tensor of a real model lands in, per backend ------------------------------------

GROUP_HEAD, GROUP_SIZE, GROUP_OPTIMIZER = "fastai_v1", 64, "torch_adam"


def _applied_lrs(body: str, backend: str, ctx) -> Output:
    """One train_bn step of the real training loop (groups from the backend's own tensor names, as a run makes
    them) with torch Adam, no weight decay, over slice(1e-4, 1e-2): Adam's first step moves an element by
    lr * g / (|g| + eps), so each tensor's largest move is the learning rate applied to it (0: not trained)."""
    handle = model(ctx, body, GROUP_HEAD, backend)
    x = body_input(ctx, body, GROUP_SIZE)
    with restored(ctx, handle, backend):
        before = classifier.model_state(handle)
        classifier.train_steps(handle, [(x, np.arange(len(x)) % N_CLASSES)], GROUP_OPTIMIZER,
                               [spec.group_lrs(DISTINCT_LR, 3)], "train_bn",
                               training.layer_groups(handle, backend))
        after = classifier.model_state(handle)
    return Output(layers=[(name, np.array([np.abs(after[name].astype(np.float64) - before[name]).max()]))
                          for name in before if name.endswith((".weight", ".bias"))])


def _fastai_rule(body: str, ctx) -> Output:
    """What fastai's split gives: the group LR of every tensor train_bn trains (the trainable names of the
    float64 reference model), 0 for the others."""
    handle = model_float64(ctx, body, GROUP_HEAD)
    lrs = spec.group_lrs(DISTINCT_LR, 3)
    with restored(ctx, handle, REFERENCE, passes_only=True):
        trained = set(classifier.apply_bn_policy(handle, "train_bn"))
        names = classifier.model_state(handle)
    return Output(layers=[(name, np.array([lrs[spec.layer_group(name)] if name in trained else 0.0]))
                          for name in names if name.endswith((".weight", ".bias"))])


def _curve(history_a, history_b) -> list[float]:
    """Per step, the largest |a - b| / max |b| over tensors."""
    return [max(float(np.abs(ha[k] - hb[k]).max() / np.abs(hb[k]).max()) for k in ha)
            for ha, hb in zip(history_a, history_b)]


def _divergence(opt_a, opt_b, lr_a, lr_b, ctx) -> Sides:
    """Two optimizer settings run on torch (matched to Keras above), same gradients; the gap over steps."""
    params, grads, groups = problem(ctx.seed)
    a = spec.run_steps(opt_a, params, grads, [spec.group_lrs(lr_a, 3)] * STEPS, groups, on=TORCH)
    b = spec.run_steps(opt_b, params, grads, [spec.group_lrs(lr_b, 3)] * STEPS, groups, on=TORCH)
    curve = _curve(a, b)
    flat = lambda h: np.concatenate([h[-1][k].ravel() / np.abs(h[-1][k]).max() for k in SHAPES])  # noqa: E731
    return Sides(flat(a), flat(b), labels=(str(getattr(opt_a, "name", opt_a)), str(getattr(opt_b, "name", opt_b))),
                 detail={"curve": curve, "curve_label": "max |a-b| / max |b| per step"})


_ADAM = spec.OPTIMIZERS["torch_adam"]
_V1 = spec.OPTIMIZERS["fastai_v1_adamw"]
DIVERGENCES = [
    ("eps.torch_vs_keras", "epsilon: torch 1e-8 vs keras epsilon-hat 1e-7", "torch_adam", "keras_adam", 3e-3, 3e-3,
     "Keras adds epsilon to sqrt(v) before bias correction; equal to torch only with eps_t = eps/sqrt(1-b2^t), "
     "which changes every step (3.2e-6 at t=1); matters for tensors with tiny gradients (BN biases)"),
    ("beta2.fastai", "beta2 0.999 (torch, keras) vs 0.99 (fastai)", "torch_adam",
     dataclasses.replace(_ADAM, name="adam_beta2_0.99", beta2=0.99), 3e-3, 3e-3,
     "fastai's AdamW uses betas (0.9, 0.99): a shorter second-moment memory"),
    ("wd.l2_vs_decoupled", "weight decay L2 (true_wd=False) vs decoupled (true_wd=True)", "fastai_v1_adamw_l2",
     "fastai_v1_adamw",
     3e-3, 3e-3, "the thread's cnn_learner(true_wd=False) adds wd*p to the gradient, which Adam then rescales"),
    ("bn_wd", "decay on BN and bias (bn_wd=True) vs not (fastai 2)", "fastai_v1_adamw",
     dataclasses.replace(_V1, name="fastai_v1_adamw_no_bn_wd", decay_norm_bias=False), 3e-3, 3e-3,
     "fastai 1 decays BN weights and biases too; fastai 2 and torch practice exclude them"),
    ("lr.slice_vs_flat", "lr slice(3e-3) (fit(3)) vs 3e-3 everywhere (fit(3, lr=0.003))", "fastai_v1_adamw_l2",
     "fastai_v1_adamw_l2",
     SLICE_LR, 3e-3, "the thread's 89% vs 73%: slice(3e-3) gives the body groups 3e-4"),
]

CASES = [
    *[Case("optim", f"{name} {STEPS} steps", "matched", partial(_matched, name), "optim_f32",
           f"{spec.OPTIMIZERS[name].source}; group LRs {spec.group_lrs(SLICE_LR, 3)}", across=True,
           reference=partial(_reference, name), key=f"{name}") for name in spec.OPTIMIZERS],
    *[Case("optim", f"{name} {STEPS} steps, lr slice(1e-4, 1e-2)", "matched", partial(_matched, name,
           lr=DISTINCT_LR), "optim_f32", f"{spec.OPTIMIZERS[name].source}; three different group LRs "
           f"{spec.group_lrs(DISTINCT_LR, 3)}, so no two groups can stand in for each other", across=True,
           reference=partial(_reference, name, lr=DISTINCT_LR), key=f"{name}.slice") for name in spec.OPTIMIZERS],
    *[Case("optim", f"layer groups of {body}: the LR each tensor is stepped with", "matched",
           partial(_applied_lrs, body), "applied_lr", "every tensor of the real model trained one train_bn step "
           "over slice(1e-4, 1e-2) with the backend's own grouping: each gets the LR of its fastai layer group "
           "(stem to layer2 | layer3, layer4 | head; Lite0 blocks 0-7 | the rest | head), or none",
           across=True, reference=partial(_fastai_rule, body), key=f"groups.{body}") for body in PORTABLE_BODIES],
    *[Case("optim", title, "divergence", partial(_divergence, a, b, lr_a, lr_b), "optim_f32", reason,
           figure="divergence_curves/optimizers", key=key)
      for key, title, a, b, lr_a, lr_b, reason in DIVERGENCES],
]
