"""Training-step parity: a few real steps of body + head in both frameworks from the same weights, on the
same batches from the shared order, with a float64 torch run as reference; parameters, BN running means and
the losses are compared afterwards. Running variances are a recorded divergence (unbiased vs biased)."""

from __future__ import annotations

from functools import partial

import numpy as np

from parity.components import classifier, data, optim, schedules
from parity.runtime.backends import REFERENCE
from parity.runtime.client import client
from parity.train import recipes, training
from parity.check.case import Case, Exclusion, Output, lr_key
from parity.check.cases._shared import N_CLASSES, TORCH, body_input, model, model_float64, restored

BATCH, SIZE, STEPS = 10, 64, 3  # one shuffled batch of all 10 images per step: BN statistics over 10
# (body, head, BN policy, optimizer, lr): fastai's optimizer and slice LRs, and the thread's Keras recipe.
# fastai's train_bn runs only with both frameworks in float64 (its float32 body-BN steps differ by up to 200%);
# its running_var divergence is recorded below.
RECIPES = [
    ("resnet18", "fastai_v1", "frozen", "fastai_v1_adamw_l2", (3e-3,)),
    ("efficientnet_lite0", "keras_thread", "frozen", "keras_adam", 3e-3),
]
TRAIN_BN = ("resnet18", "fastai_v1", "train_bn", "fastai_v1_adamw_l2", (3e-3,))
# slice(3e-3) gives both body groups 3e-4, so a swap between them is invisible: the same run over slice(1e-4,
# 1e-2), whose three group LRs differ (1e-4, 1e-3, 1e-2)
TRAIN_BN_DISTINCT = (*TRAIN_BN[:4], (1e-4, 1e-2))


def _schedule(ctx, body_name: str, lr, names):
    """(inputs, labels, batches from the shared order, layer groups by torch name, per-step group LRs)."""
    x = body_input(ctx, body_name, SIZE, thumbnails=8)
    labels = np.arange(len(x)) % N_CLASSES
    batches = [(x[i], labels[i]) for epoch in range(STEPS)
               for i in data.batch_order(len(x), BATCH, ctx.seed + epoch, drop_last=True)]
    groups = {name: optim.layer_group(name) for name in names}
    return x, labels, batches, groups, [optim.group_lrs(lr, 3)] * len(batches)


def _as_run(batches, dtype, reorder: bool) -> list:
    """Batches in `dtype`; with `reorder` each batch's samples reversed (the same sums in another order)."""
    return [(bx[::-1].astype(dtype), by[::-1].copy()) if reorder else (bx.astype(dtype), by) for bx, by in batches]


def _train(handle, backend: str, recipe, ctx, dtype=np.float32, reorder: bool = False) -> dict:
    """Train `handle` 3 steps in `backend`; its losses, state and eval logits afterwards, as named layers.
    `reorder`: each batch's samples in reverse order (the same sums in another order: a rounding-order twin)."""
    body_name, _, policy, optimizer, lr = recipe
    x, labels, batches, groups, lrs = _schedule(ctx, body_name, lr, classifier.model_state(handle))
    batches = _as_run(batches, dtype, reorder)
    losses = classifier.train_steps(handle, batches, optimizer, lrs, policy, groups)
    state = classifier.model_state(handle)
    state["eval logits"] = classifier.evaluate(handle, x.astype(dtype), labels)[0]
    return {"losses": losses, **{k: v for k, v in state.items() if not k.endswith("num_batches_tracked")}}


def _layers(trained: dict, keep) -> Output:
    return Output(value=trained["losses"], layers=[(k, v) for k, v in trained.items() if keep(k)],
                  detail={"steps": len(trained["losses"])})


def _trained(recipe, backend: str, ctx) -> dict:
    """One backend's float32 model after the 3 steps (trained once per run; its state given back after)."""
    def compute():
        handle = model(ctx, recipe[0], recipe[1], backend)
        with restored(ctx, handle, backend):
            return _train(handle, backend, recipe, ctx)

    return ctx.memo(("trained", recipe, backend), compute)


def _not_running_var(key: str) -> bool:
    return not key.endswith("running_var") and key != "eval logits"


def _matched(recipe, backend: str, ctx) -> Output:
    return _layers(_trained(recipe, backend, ctx), _not_running_var)


def _reference(recipe, ctx) -> Output:
    handle = model_float64(ctx, recipe[0], recipe[1])
    with restored(ctx, handle, REFERENCE):
        return _layers(_train(handle, REFERENCE, recipe, ctx, np.float64), _not_running_var)


def _float64_twins(recipe, backend: str, ctx, reorder: bool = False) -> Output:
    """The same training with every backend in float64: what float32 noise hides, the formulas show. With
    `reorder`, torch's rounding-order twin: what float64 rounding alone moves after 3 steps."""
    handle = model(ctx, *recipe[:2], backend, "float64")
    with restored(ctx, handle, backend):
        return _layers(_train(handle, backend, recipe, ctx, np.float64, reorder), _not_running_var)


def _running_var(recipe, backend: str, ctx) -> np.ndarray:
    trained = _trained(recipe, backend, ctx)
    return np.concatenate([v.ravel() for k, v in trained.items() if k.endswith("running_var")])


def _eval_logits(recipe, backend: str, ctx) -> np.ndarray:
    """Eval-mode logits after the same training: they part through the head BN's running_var."""
    return _trained(recipe, backend, ctx)["eval logits"]


def _evaluated(recipe, dtype, backend: str, ctx) -> Output:
    """The torch-trained weights and BN statistics loaded into `backend`'s model, then its own `evaluate`:
    logits and accuracy of the same network, so only evaluation itself can differ."""
    trained = _trained(recipe, TORCH, ctx)
    state = {k: v for k, v in trained.items() if k not in ("losses", "eval logits")}
    handle = model(ctx, recipe[0], recipe[1], backend) if dtype == np.float32 else model_float64(ctx, *recipe[:2])
    x = body_input(ctx, recipe[0], SIZE, thumbnails=8).astype(dtype)
    labels = np.arange(len(x)) % N_CLASSES
    with restored(ctx, handle, backend):
        classifier.load_model_state(handle, {k: v.astype(dtype) for k, v in state.items()})
        logits, accuracy = classifier.evaluate(handle, x, labels)
    return Output(value=logits, layers=[("logits", logits), ("accuracy", np.array([accuracy]))])


def _evaluated_with_dropout(recipe, dtype, backend: str, ctx) -> Output:
    """The model built with its head's real dropout layers, then the backend's evaluate: inference mode must
    switch them off (the matched evaluate case above builds heads without them)."""
    handle = model(ctx, *recipe[:2], backend, "float32", dropout=True) if dtype == np.float32 else \
        model_float64(ctx, *recipe[:2], dropout=True)
    x = body_input(ctx, recipe[0], SIZE, thumbnails=8).astype(dtype)
    logits, accuracy = classifier.evaluate(handle, x, np.arange(len(x)) % N_CLASSES)
    return Output(value=logits, layers=[("logits", logits), ("accuracy", np.array([accuracy]))])


# The step plan a run follows, computed in each backend's worker as run_here computes it: the same orders and
# step counts everywhere, a Keras recipe with drop_last included (model.fit itself has no drop_last).
PLAN_RECIPES, PLAN_IMAGES = ("fastai_v1_fit", "keras_thread_64"), 150  # batch 64: 2 steps an epoch, 22 dropped


def _plan(name: str, backend: str, ctx) -> Output:
    recipe = recipes.with_knobs(recipes.get_recipe(name), framework=backend, drop_last=True)
    plan = client(backend).run(training.plan_here, recipe, PLAN_IMAGES, ctx.seed)
    return Output(layers=list(plan.items()))


def _key(recipe) -> str:
    body, head, policy, _, lr = recipe
    return f"{body}.{head}.{policy}.{lr_key(lr)}"


def _title(recipe) -> str:
    body, head, policy, optimizer, lr = recipe
    return f"{body} + {head}, {policy}, {optimizer} lr={lr}"


def _float32_parameters(recipe) -> tuple[Exclusion, ...]:
    """Adam's first steps move each element by about lr * sign(gradient): where a gradient is float32 noise (a
    dead ReLU unit of the head, a near-cancelling sum) its sign, and so a whole lr-sized step, is noise. The
    running means of the head's later BN layers are computed through those parameters and inherit it."""
    twin = f"train.steps.{_key(recipe)}.f64"
    return (Exclusion(r"\.(weight|bias)$", "learned parameters after Adam steps: an element whose gradient is "
                      "float32 noise moves a full lr-sized step in a random direction (measured up to 2.7% of "
                      "max |w| in head.4.weight, resnet18); the losses and the running statistics ahead of "
                      "them stay judged", judged_by=twin),
            Exclusion(r"^head\.([3-9]|\d{2,})\.running_mean$", "running means of head BN layers behind a "
                      "learned Linear: computed through its sign-flipped elements (measured 1.02e-3 of max, "
                      "head.6.running_mean, resnet18 frozen, seed 15)", judged_by=twin))


# A float64 tensor may differ between frameworks by this many times the rounding noise torch's rounding-order
# twin measures on it: a tensor the float64 sums leave ill-conditioned at a seed (a BN bias of layer4 whose
# Adam step sits near epsilon: 1.2e-5 of max between torch and Keras at seed 3, 1.2e-5 between torch on 1
# and 2 threads, 6.3e-6 to the reversed-batch twin) is judged against its own noise. Over seeds 1-20 the
# cross-framework difference of the tensors this decided was at most 4.8 times that floor (seed 5; 3.6 at
# seed 4, 2.5 for the epoch loop at seed 12, 1.9 at seed 3).
FLOAT64_FLOOR_FACTOR = 10.0


# An epoch-structured run, traced step by step: shared per-epoch orders with drop_last, a one-cycle schedule
# (LR and momentum change every step) over slice LRs (three group LRs), so a loop that skips a batch, keeps
# the last partial one or never applies the per-step LRs is named at the step where it starts.
LOOP = ("resnet18", "fastai_v1", "frozen", "fastai_v1_adamw_l2", (1e-3, 3e-3))
LOOP_IMAGES, LOOP_BATCH, LOOP_EPOCHS, LOOP_SCHEDULE = 10, 4, 3, "fastai_v1_one_cycle"
# The same loop long enough (40 steps) for Keras on TensorFlow to trace its step (keras_impl.classifier.
# _TRACE_FROM_STEPS), with a momentum that changes every step: a bug of the traced path alone (a momentum read
# once at trace time) is named at its step.
TRACED_EPOCHS = 20


def _loop_plan(ctx, names, epochs: int = LOOP_EPOCHS) -> tuple:
    """(batches, per-step group LRs, per-step momentum, groups): the float64 schedule, shared orders."""
    x = body_input(ctx, LOOP[0], SIZE, thumbnails=LOOP_IMAGES - 2)
    labels = np.arange(len(x)) % N_CLASSES
    orders = [data.batch_order(len(x), LOOP_BATCH, ctx.seed * 1000 + epoch, drop_last=True)
              for epoch in range(epochs)]
    batches = [(x[i], labels[i]) for order in orders for i in order]
    shape, moms = schedules.schedule_values(LOOP_SCHEDULE, len(batches), 1.0)
    base = optim.group_lrs(LOOP[4], 3)
    return (batches, [[g * float(f) for g in base] for f in shape], [float(m) for m in moms],
            {name: optim.layer_group(name) for name in names})


def _loop(backend: str, ctx, reorder: bool = False, epochs: int = LOOP_EPOCHS) -> Output:
    """The traced run in `backend` with float64 everywhere: 'step k loss' (computed before update k) and every
    head tensor after update k, in step order (running variances aside: a recorded divergence)."""
    body_name, head, policy, optimizer, _ = LOOP
    handle = model(ctx, body_name, head, backend, "float64")
    with restored(ctx, handle, backend):
        batches, lrs, moms, groups = _loop_plan(ctx, classifier.model_state(handle), epochs)
        batches = _as_run(batches, np.float64, reorder)
        trace = classifier.traced_steps(handle, batches, optimizer, lrs, policy, groups, "ce_logits", moms)
    losses = trace.pop("losses")
    tensors = {name[len("step 1 "):]: value for name, value in trace.items() if name.startswith("step 1 ")
               and not name.endswith(("running_var", "num_batches_tracked"))}
    layers = []
    for k in range(1, len(batches) + 1):  # every planned step; one a loop never ran is NaN, so never equal
        layers.append((f"step {k} loss", losses[k - 1:k] if k <= len(losses) else np.array([np.nan])))
        layers += [(f"step {k} {name}", trace.get(f"step {k} {name}", np.full_like(first, np.nan)))
                   for name, first in tensors.items()]
    padded = np.concatenate([losses, np.full(len(batches) - len(losses), np.nan)])
    return Output(value=padded, layers=layers, detail={"steps run": len(losses), "steps planned": len(batches)})


CASES = [
    *[Case("train", f"3 steps {_title(r)}", "matched", partial(_matched, r), "train_f32",
           "same weights, batches and group LRs; dropout off", exclude=_float32_parameters(r), across=True,
           reference=partial(_reference, r), key=f"steps.{_key(r)}") for r in RECIPES],
    *[Case("train", f"3 steps {_title(r)}, float64 in both", "matched", partial(_float64_twins, r), "train_f64",
           "every parameter after 3 steps with both frameworks in float64, where float32's sign flips in near-zero "
           "gradients cannot hide a formula difference; the reference is torch's rounding-order twin (each batch "
           "reversed), which measures each tensor's own float64 noise", across=True,
           requires=(("dtype", "float64"),), reference=partial(_float64_twins, r, REFERENCE, reorder=True),
           floor_factor=FLOAT64_FLOOR_FACTOR, key=f"steps.{_key(r)}.f64")
      for r in [*RECIPES, TRAIN_BN, TRAIN_BN_DISTINCT]],
    Case("train", f"epoch loop {LOOP_EPOCHS} epochs x {LOOP_IMAGES // LOOP_BATCH} steps ({LOOP_IMAGES} images, "
         f"batch {LOOP_BATCH}, drop_last), {LOOP_SCHEDULE} {_title(LOOP)}, float64 in both, step by step",
         "matched", _loop, "train_f64", "both training loops fed the same per-epoch orders, per-step LRs and "
         "momenta: every step's loss and every head tensor after it agree, so a skipped batch or a learning rate "
         "never applied is named at its step; the reference is torch's rounding-order twin (each batch "
         "reversed)", across=True, requires=(("dtype", "float64"),),
         reference=partial(_loop, REFERENCE, reorder=True), floor_factor=FLOAT64_FLOOR_FACTOR, key="loop"),
    Case("train", f"epoch loop {TRACED_EPOCHS} epochs x {LOOP_IMAGES // LOOP_BATCH} steps ({LOOP_IMAGES} images, "
         f"batch {LOOP_BATCH}, drop_last), {LOOP_SCHEDULE} {_title(LOOP)}, float64 in both, step by step, "
         f"long enough to trace", "matched", partial(_loop, epochs=TRACED_EPOCHS), "train_f64",
         "the epoch loop run for 40 steps, where Keras on TensorFlow switches to its traced step: every step's "
         "loss and head tensors agree while the momentum changes every step; the reference is torch's "
         "rounding-order twin (each batch reversed)", across=True, requires=(("dtype", "float64"),),
         reference=partial(_loop, REFERENCE, reorder=True, epochs=TRACED_EPOCHS),
         floor_factor=FLOAT64_FLOOR_FACTOR, key="loop.traced"),
    *[Case("train", f"step plan of {name} with drop_last ({PLAN_IMAGES} images)", "matched", partial(_plan, name),
           "exact", "every backend's worker plans a run's steps as run_here does there: the same step count and, "
           "epoch by epoch, the same images in the same batch order with the last partial batch dropped",
           across=True, key=f"plan.{name}") for name in PLAN_RECIPES],
    Case("train", f"BN running_var after 3 steps ({_title(TRAIN_BN)})", "divergence",
         partial(_running_var, TRAIN_BN), "train_f32",
         "torch updates running_var with the unbiased batch variance (x n/(n-1) = 1.5 at batch 3), Keras with "
         "the biased one: the models train alike but evaluate differently", across=True,
         key=f"bn_running_var.{_key(TRAIN_BN)}"),
    *[Case("train", f"evaluate the same trained weights ({_title(r)})", "matched",
           partial(_evaluated, r, np.float32), "features_f32",
           "torch's weights after 3 steps (BN statistics included) loaded into every backend, then each backend's "
           "evaluate: inference mode, the same logits and accuracy", across=True,
           reference=partial(_evaluated, r, np.float64, REFERENCE), key=f"evaluate.{_key(r)}") for r in RECIPES],
    *[Case("train", f"evaluate with the head's dropout layers in place ({_title(r)})", "matched",
           partial(_evaluated_with_dropout, r, np.float32), "features_f32",
           "a model built with its head's real dropout layers: each backend's evaluate runs inference, where "
           "dropout is the identity, so the logits are those of the float64 reference built the same way",
           across=True, reference=partial(_evaluated_with_dropout, r, np.float64, REFERENCE),
           key=f"evaluate.dropout.{_key(r)}") for r in RECIPES],
    Case("train", f"eval logits after 3 steps ({_title(RECIPES[1])})", "divergence", partial(_eval_logits, RECIPES[1]),
         "train_f32", "trained the same (matched above), the thread's head evaluates differently: its BatchNorm1d "
         "running_var was updated with n/(n-1) = 10/9 in torch and 1 in Keras", across=True,
         key=f"eval_logits.{_key(RECIPES[1])}"),
]
