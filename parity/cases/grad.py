"""Gradient parity: body + head with the same weights in both frameworks, dropout off, one training-mode
forward/backward of cross-entropy; the gradient of every parameter the BN policy trains is compared with a
float64 torch reference. Also the size of the policies' own differences, recorded as divergences.
"""

from __future__ import annotations

import copy
from functools import partial

import numpy as np

from parity import heads, models
from parity.cases.model import BODY_WEIGHTS, body_input, ported_pair, restored
from parity.frameworks import mirror
from parity.registry import Case, Exclusion, Sides

N_CLASSES, LABELS, SIZE = 10, np.array([1, 3, 5, 7]), 64

# (body, head, BN policy): the thread's two recipes on the offline bodies, and the requires_grad trap.
GRAD_CASES = [
    ("resnet18", "fastai_v1", "train_bn"), ("resnet18", "keras_thread", "frozen"),
    ("resnet18", "fastai_v2", "stats_only"), ("efficientnet_lite0", "fastai_v1", "train_bn"),
    ("efficientnet_lite0", "keras_thread", "frozen"), ("resnet50", "keras_thread", "frozen"),
]
# Gradients float32 cannot judge, measured: under train_bn a body's BN affine gradients are sums over batch x
# height x width that nearly cancel (resnet18: either side up to 11% from float64, which side depends on thread
# count and input); Lite0's batch statistics over 4 images at 2x2 feature maps carry that error into the head
# (head.4.bias up to 18% from float64). The float64 twins judge every one of them.
FLOAT32_UNJUDGEABLE = {("resnet18", "train_bn"): (r"^body\.", "body BN gradients: near-cancelling sums, up to 11% "
                                                  "from float64 in float32"),
                       ("efficientnet_lite0", "train_bn"): (r"^(body|head)\.", "every gradient: batch statistics "
                                                            "over 4 images at 2x2 maps put the body's float32 "
                                                            "cancellation error into the head too (up to 18% from "
                                                            "float64); the logits stay judged")}
# Lite0's projection BN biases get exactly zero gradient in train mode: each adds a per-channel constant that
# the next batch-statistics BN subtracts again; both frameworks return float64 rounding (below 1e-12).
ZERO_BY_CONSTRUCTION = Exclusion(r"^body\._blocks\.\d+\._bn2\.bias$", "mathematically zero under train-mode BN: "
                                 "the next block's batch statistics subtract any per-channel constant this bias adds, "
                                 "so both frameworks return float64 rounding (below 1e-12 absolute), which has no "
                                 "scale to be relative to")


def _pair(ctx, body: str, head: str):
    """(torch model, keras model with the torch weights) for body + head, dropout off, built once."""
    def build():
        import torch

        torch_side, keras_side = mirror("classifier")
        torch.manual_seed(ctx.seed)
        torch_model = torch_side.build_model(body, head, N_CLASSES, BODY_WEIGHTS[body], dropout=False, seed=ctx.seed)
        keras_model = keras_side.build_model(body, head, N_CLASSES, dropout=False, seed=ctx.seed)
        keras_side.load_model_state(keras_model, torch_side.model_state(torch_model))
        return torch_model, keras_model

    return ctx.memo(("classifier", body, head), build)


def _gradients(body: str, head: str, policy: str, ctx) -> Sides:
    torch_side, keras_side = mirror("classifier")
    torch_model, keras_model = _pair(ctx, body, head)
    x = body_input(ctx, body, SIZE)
    reference_model = copy.deepcopy(torch_model).double()
    with restored(torch_model, keras_model):
        la, ga = torch_side.gradients(torch_model, x, LABELS, policy)
        lb, gb = keras_side.gradients(keras_model, x, LABELS, policy)
    lr, gr = torch_side.gradients(reference_model, x.astype(np.float64), LABELS, policy)
    if sorted(ga) != sorted(gb):
        raise AssertionError(f"{policy}: trained parameters differ: {sorted(set(ga) ^ set(gb))[:4]}")
    layers = [("logits", la, lb, lr)] + [(name, ga[name], gb[name], gr[name]) for name in ga]
    return Sides(la, lb, lr, layers=layers, detail={"trained_tensors": len(ga), "batch": list(x.shape)})


def _gradients_float64(body: str, head: str, policy: str, ctx) -> Sides:
    """The same gradients with both frameworks in float64: where float32 cannot judge a tensor, this can."""
    import torch

    torch_side, keras_side = mirror("classifier")
    torch.manual_seed(ctx.seed)
    torch_model = torch_side.build_model(body, head, N_CLASSES, BODY_WEIGHTS[body], dropout=False, seed=ctx.seed,
                                         dtype="float64")
    keras_model = keras_side.build_model(body, head, N_CLASSES, dropout=False, seed=ctx.seed, dtype="float64")
    keras_side.load_model_state(keras_model, torch_side.model_state(torch_model))
    x = body_input(ctx, body, SIZE)
    la, ga = torch_side.gradients(torch_model, x, LABELS, policy)
    lb, gb = keras_side.gradients(keras_model, x, LABELS, policy)
    layers = [("logits", la, lb, None)] + [(name, ga[name], gb[name], None) for name in ga]
    return Sides(la, lb, layers=layers, detail={"dtype": "float64", "trained_tensors": len(ga)})


def _float64_exclusions(body: str, policy: str) -> tuple[Exclusion, ...]:
    return (ZERO_BY_CONSTRUCTION,) if (body, policy) == ("efficientnet_lite0", "train_bn") else ()


def _title(body: str, head: str, policy: str) -> str:
    return f"{body} + {head} head, {policy}"


def _float32_exclusions(body: str, head: str, policy: str) -> tuple[Exclusion, ...]:
    """What float32 cannot judge in this case (FLOAT32_UNJUDGEABLE); the float64 twin judges it instead."""
    if (body, policy) not in FLOAT32_UNJUDGEABLE:
        return ()
    match, reason = FLOAT32_UNJUDGEABLE[(body, policy)]
    return (Exclusion(match, reason, judged_by=f"grad/{_title(body, head, policy)}, float64 in both"),)


def _trained_counts(body: str, ctx) -> Sides:
    """How many tensors each recipe trains: fastai (head + every body BN) against Keras (head only)."""
    torch_side, _ = mirror("classifier")
    model = _pair(ctx, body, "fastai_v1")[0]
    counts = [len(torch_side.apply_bn_policy(model, policy)) for policy in ("train_bn", "frozen")]
    return Sides(np.array(counts[:1]), np.array(counts[1:]), labels=("fastai train_bn", "keras frozen"))


def _running_var(body: str, ctx) -> Sides:
    """BN running variance after one train-mode forward from the same ported weights, torch vs Keras."""
    torch_models, keras_models = mirror("models")
    torch_model, keras_model, _ = ported_pair(ctx, body)
    x = body_input(ctx, body, SIZE)
    with restored(torch_model, keras_model):
        torch_models.forward_features(torch_model, x, training=True)
        keras_models.forward_features(keras_model, x, training=True)
        a = torch_models.body_state(torch_model)
        b = keras_models.body_state(keras_model)
    keys = [k for k in a if k.endswith("running_var")]
    return Sides(np.concatenate([a[k].ravel() for k in keys]), np.concatenate([b[k].ravel() for k in keys]),
                 detail={"bn_layers": len(keys)})


def _stats_after_step(body: str, policy: str, ctx) -> Sides:
    """How far one training-mode step moves the body's BN running statistics, in each framework."""
    torch_side, keras_side = mirror("classifier")
    torch_model, keras_model = _pair(ctx, body, "fastai_v1")
    x = body_input(ctx, body, SIZE)
    moved = []
    with restored(torch_model, keras_model):
        for side, model in ((torch_side, torch_model), (keras_side, keras_model)):
            before = side.model_state(model)
            side.gradients(model, x, LABELS, policy)
            after = side.model_state(model)
            moved.append(max(np.abs(after[k] - before[k]).max() for k in before if k.startswith("body.")
                             and k.endswith(("running_mean", "running_var"))))
    return Sides(np.array(moved[:1]), np.array(moved[1:]), detail={"policy": policy})


CASES = [
    Case("grad", "BN policy frozen leaves body running stats (resnet18)", "matched",
         partial(_stats_after_step, "resnet18", "frozen"), "exact",
         "torch body.eval() and Keras trainable=False both use and keep the running statistics"),
    *[Case("grad", _title(body, head, policy), "matched", partial(_gradients, body, head, policy),
           "logits_batch_stats_f32" if (body, policy) == ("efficientnet_lite0", "train_bn") else "grad_f32",
           f"{heads.BN_POLICIES[policy]}; dropout off; mean cross-entropy on logits; batch of 4 at {SIZE} px",
           exclude=_float32_exclusions(body, head, policy))
      for body, head, policy in GRAD_CASES],
    *[Case("grad", f"{_title(body, head, policy)}, float64 in both", "matched",
           partial(_gradients_float64, body, head, policy), "grad_f64",
           "every trained tensor, body BN included, with both frameworks in float64: a formula difference cannot "
           "hide in float32's cancellation error", exclude=_float64_exclusions(body, policy))
      for body, head, policy in GRAD_CASES if (body, policy) in FLOAT32_UNJUDGEABLE],
    *[Case("grad", f"trained tensors, fastai vs keras recipe ({body})", "divergence", partial(_trained_counts, body),
           "exact", "fastai's freeze() keeps every body BN trainable (train_bn=True); the thread's Keras code "
           "sets trainable=False on the whole body") for body in ("resnet50", "efficientnet_lite0")],
    *[Case("grad", f"BN running_var after one train-mode step ({body})", "divergence", partial(_running_var, body),
           "running_stats_f32", "torch updates running_var with the unbiased batch variance (n/(n-1)), Keras "
           "with the biased one; momenta are matched (Keras 1 - torch)") for body in models.PORTABLE_BODIES],
]
