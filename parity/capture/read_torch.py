"""Reading torch objects into knobs: the body by its tensor shapes, what of it trains and in which BN mode, the
head by loading its state into each of parity's heads, an initialiser by its weights' distribution; and a plain
PyTorch program stopped at its first `optimizer.step()` (torchvision model, torch.optim, an LR scheduler, a
DataLoader over an ImageFolder with torchvision transforms). torch is imported inside the functions: this module
is only called in a capture of a program that imported it."""

from __future__ import annotations

import math

import numpy as np

from parity.capture import bodies
from parity.capture.match import row
from parity.capture.record import Capture
from parity.components import heads, optim

COMPARED = 8  # evaluation images handed to the pipeline match


def read_body(cap: Capture, body, source: str) -> None:
    """The body knob from the body module's tensor shapes (or, unmirrored, why not and the closest body)."""
    shapes = [tuple(v.shape) for v in body.state_dict().values()]
    name, nearest, score = bodies.identify(shapes, "torch")
    if name is None:
        cap.unread["body"] = (f"{source}: {type(body).__name__} with {len(shapes)} tensors is no body parity "
                              f"mirrors; the closest is {nearest} ({100 * score:.0f}% of tensor shapes shared)")
        return
    cap.add("body", name, f"{source}: its {len(shapes)} tensor shapes are parity's {name}")


def bn_policy(body) -> tuple[str | None, str]:
    """(policy, what was seen) from which body tensors train and whether BN runs in training mode."""
    import torch

    norm = [m for m in body.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    bn_grads = [p.requires_grad for m in norm for p in m.parameters(recurse=False)]
    other = [p.requires_grad for m in body.modules() if m not in norm for p in m.parameters(recurse=False)]
    seen = (f"{sum(bn_grads)}/{len(bn_grads)} BN tensors and {sum(other)}/{len(other)} other body tensors "
            f"require grad")
    if all(bn_grads) and not any(other):
        return "train_bn", seen
    if not any(bn_grads + other):
        training = {m.training for m in norm}
        if training == {False}:
            return "frozen", seen + ", BN in eval mode"
        if training == {True}:
            return "stats_only", seen + ", BN in train mode"
    return None, seen


def read_bn_policy(cap: Capture, body, source: str) -> None:
    policy, seen = bn_policy(body)
    if policy is None:
        cap.add("bn_policy", "train_bn", f"{source}: {seen}", approximate=True)
        cap.note("body training", f"{seen}: parity's BN policies train all of the body's BN and none of the "
                 f"rest (train_bn), or none of it")
    else:
        cap.add("bn_policy", policy, f"{source}: {seen}")


def head_row(head, n_classes: int) -> str | None:
    """The parity head that loads `head`'s state strictly and gives its outputs, with its dropouts."""
    import torch
    from torch_impl import heads as torch_heads

    linears = [m for m in head.modules() if isinstance(m, torch.nn.Linear)]
    if not linears:
        return None
    first = linears[0].in_features
    theirs_p = [m.p for m in head.modules() if isinstance(m, torch.nn.Dropout)]
    for features in sorted({first, first // 2}):
        x = torch.randn(4, features, 2, 2)
        for name in heads.HEADS:
            ours = torch_heads.build_head(name, features, n_classes)
            try:
                ours.load_state_dict(head.state_dict(), strict=True)
            except RuntimeError:  # another layout
                continue
            ours_p = [m.p for m in ours.modules() if isinstance(m, torch.nn.Dropout)]
            with torch.no_grad():
                try:
                    same = torch.equal(ours.eval()(x), head.eval()(x))
                except RuntimeError:
                    continue
            if ours_p == theirs_p and same:
                return name
    return None


def init_by_values(weight: np.ndarray, bias: np.ndarray | None) -> str:
    """The initialiser whose distribution a fresh Linear weight (out, in) has: its bound or its spread."""
    fan_out, fan_in = weight.shape
    w = weight.astype(np.float64)
    bias_zero = bias is None or not np.any(bias)
    if np.abs(w).max() <= 1 / math.sqrt(fan_in) * (1 + 1e-6) and not bias_zero:
        return "torch_default"
    if np.abs(w).max() <= math.sqrt(6 / (fan_in + fan_out)) * (1 + 1e-6):
        return "glorot_uniform"
    truncated = np.abs(w).max() <= 2 * math.sqrt(2 / fan_in) / heads.TRUNCATED_NORMAL_SD * (1 + 1e-6)
    return "keras_he_normal" if truncated else "kaiming_normal"


def lr_value(lr):
    """fastai's lr argument as a knob: slice(x) -> (x,), slice(a, b) -> (a, b), a number as a float."""
    if isinstance(lr, slice):
        return (float(lr.stop),) if lr.start is None else (float(lr.start), float(lr.stop))
    values = np.atleast_1d(np.asarray(lr, dtype=np.float64))
    if values.size == 1 or np.all(values == values[0]):
        return float(values[0])
    return tuple(float(v) for v in values)


def image_batch(images, paths: list[str], where: str) -> dict:
    """The first evaluation images (NHWC float32) and their files, for the parent's pipeline match."""
    array = np.asarray(images, dtype=np.float32)[:COMPARED]
    return {"images": array, "paths": [str(p) for p in paths[:COMPARED]], "where": where}


# --- a plain PyTorch program, stopped at its first optimizer.step() -----------------------------------------

_TORCH_OPTIMIZERS = {"Adam": "adam", "AdamW": "adamw"}


def _optimizer(cap: Capture, opt) -> None:
    group = opt.defaults  # as built: a scheduler may already have moved the groups' lr and betas
    kind = _TORCH_OPTIMIZERS.get(type(opt).__name__)
    lrs = [g["lr"] for g in opt.param_groups]
    source = f"{type(opt).__module__}.{type(opt).__name__}"
    if kind is None:
        cap.add("optimizer", "torch_adam", f"{source}: parity mirrors Adam variants only", approximate=True)
        cap.note("optimizer", f"{source}: no parity optimizer row (Adam and AdamW are mirrored)")
    else:
        fields = {"beta1": group["betas"][0], "beta2": group["betas"][1], "eps": group["eps"], "eps_style": "torch",
                  "weight_decay": group["weight_decay"],
                  "decay_mode": "decoupled" if kind == "adamw" else ("l2" if group["weight_decay"] else "none")}
        if fields["weight_decay"] == 0:
            fields["decay_mode"] = "none" if kind == "adam" else "decoupled"
        name, differs = row(optim.OPTIMIZERS, fields, "optimizer")
        detail = ", ".join(f"{k}={v!r}" for k, v in fields.items())
        cap.add("optimizer", name, f"{source}({detail})", approximate=bool(differs))
        if differs:
            cap.note("optimizer", f"{source}: {'; '.join(differs)}")
        if group.get("amsgrad"):
            cap.note("amsgrad", f"{source}(amsgrad=True): parity's Adam rows have no amsgrad")
    if len(opt.param_groups) > 1:
        cap.note("parameter groups", f"{len(opt.param_groups)} groups with LRs {lrs}: parity splits LRs by fastai's "
                 f"layer groups only")
    return lrs


def _scheduler(cap: Capture, schedulers: list, opt, lrs: list) -> None:
    mine = [s for s in schedulers if getattr(s, "optimizer", None) is opt]
    if not mine:
        cap.add("schedule", "constant", "no torch.optim.lr_scheduler on the optimizer")
        cap.add("lr", float(lrs[0]), f"{type(opt).__name__}(lr={lrs[0]!r})")
        return
    s = mine[0]
    name = type(s).__name__
    if name == "OneCycleLR":
        lr_max = float(s.optimizer.param_groups[0].get("max_lr", lrs[0]))
        phases = s._schedule_phases
        pct = (phases[0]["end_step"] + 1) / s.total_steps  # torch: end_step = pct_start * total_steps - 1
        initial = s.optimizer.param_groups[0]["initial_lr"]
        final = s.optimizer.param_groups[0]["min_lr"]
        cap.add("lr", lr_max, f"OneCycleLR(max_lr={lr_max!r})")
        cap.add("schedule", "fastai_v2_one_cycle", f"OneCycleLR(pct_start={pct:.3g}, div_factor="
                f"{lr_max / initial:g}, final_div_factor={initial / final:g}, total_steps={s.total_steps}): "
                f"parity's nearest one-cycle", approximate=True)
        anneal = getattr(s, "_anneal_func_type", None) or getattr(getattr(s, "anneal_func", None), "__name__", "?")
        moms = (f", momentum {s.optimizer.param_groups[0].get('max_momentum')} -> "
                f"{s.optimizer.param_groups[0].get('base_momentum')}" if s.cycle_momentum else "")
        cap.note("schedule", f"torch OneCycleLR (pct_start {pct:.3g}, div {lr_max / initial:g}, final div "
                 f"{lr_max / final:g}, {s.total_steps} steps, anneal {anneal}{moms}): parity's one-cycle "
                 f"schedules are fastai's (pct_start 0.25/0.3, div 25, final div 1e5/25e4)")
        epochs = getattr(s, "_parity_epochs", None)
        if epochs:
            cap.add("epochs", epochs, f"OneCycleLR(epochs={epochs})")
    else:
        cap.add("lr", float(lrs[0]), f"{type(opt).__name__}(lr={lrs[0]!r})")
        cap.add("schedule", "constant", f"{name}: no parity schedule", approximate=True)
        cap.note("schedule", f"torch {name}: no parity schedule mirrors it")


def read_plain(cap: Capture, stop, session) -> None:
    """A plain torch loop: the model is the root module called last whose parameters the optimizer steps."""
    import torch

    opt = stop.obj
    stepped = {id(p) for g in opt.param_groups for p in g["params"]}
    models = [m for m, _ in session.called if any(id(p) in stepped for p in m.parameters())]
    losses = [m for m, _ in session.called if isinstance(m, torch.nn.modules.loss._Loss)]
    cap.library, cap.stopped_at = "torch", f"{stop.call}() at {stop.where}"
    cap.add("framework", "torch", "the program trains with torch.optim")
    lrs = _optimizer(cap, opt)
    _scheduler(cap, session.schedulers, opt, lrs)
    if not models:
        cap.unread["body"] = "no module whose parameters the optimizer steps was called before its first step"
        return
    model = models[-1]
    children = list(model.named_children())
    head_name, head = children[-1]
    body = torch.nn.Sequential(*[m for _, m in children[:-1] if not isinstance(m, (torch.nn.AdaptiveAvgPool2d,))])
    source = f"the model's modules before .{head_name}"
    read_body(cap, body, f"{type(model).__name__} ({source})")
    read_bn_policy(cap, body, f"{type(model).__name__} ({source})")
    _plain_head(cap, model, head_name, head)
    if losses:
        loss = losses[-1]
        ok = isinstance(loss, torch.nn.CrossEntropyLoss)
        cap.add("loss", "ce_logits", f"{type(loss).__name__}()", approximate=not ok)
        if ok and loss.label_smoothing:
            cap.note("label smoothing", f"CrossEntropyLoss(label_smoothing={loss.label_smoothing}): parity's losses "
                     f"have none")
        if ok and loss.weight is not None:
            cap.note("class weights", "CrossEntropyLoss(weight=...): parity's losses weigh classes equally")
    else:
        cap.unread["loss"] = ("no loss module was called before the first step (a functional loss such as "
                              "F.cross_entropy is not an object to read)")
    _plain_data(cap, session)


def _plain_head(cap: Capture, model, head_name: str, head) -> None:
    import torch

    if isinstance(head, torch.nn.Linear):
        cap.add("head", "linear", f"{type(model).__name__}.{head_name} = Linear({head.in_features}, "
                f"{head.out_features}) after the body's average pool")
        bias = head.bias.detach().numpy() if head.bias is not None else None
        cap.add("init", init_by_values(head.weight.detach().numpy(), bias),
                f"{type(model).__name__}.{head_name}: the weights' distribution before the first step")
        cap.add("n_classes", head.out_features, f"{type(model).__name__}.{head_name}.out_features")
        return
    name = None
    linears = [m for m in head.modules() if isinstance(m, torch.nn.Linear)]
    if linears:
        name = head_row(head, linears[-1].out_features)
        cap.add("n_classes", linears[-1].out_features, f"{type(model).__name__}.{head_name}: last Linear")
    if name:
        cap.add("head", name, f"{type(model).__name__}.{head_name}: loads into parity's {name} head and gives "
                f"its outputs")
    else:
        cap.unread["head"] = f"{type(model).__name__}.{head_name} ({type(head).__name__}) is no parity head"


def _plain_data(cap: Capture, session) -> None:
    train = next((args for loader, args in session.loaders if args.get("shuffle")), None)
    evals = [(loader, args) for loader, args in session.loaders if not args.get("shuffle")]
    if train is None and session.loaders:
        train = session.loaders[0][1]
    if train is None:
        cap.unread["batch_size"] = "no torch DataLoader was created"
        return
    cap.add("batch_size", int(train.get("batch_size", 1)), f"DataLoader(batch_size={train.get('batch_size', 1)})")
    cap.add("drop_last", bool(train.get("drop_last", False)), f"DataLoader(drop_last={train.get('drop_last', False)})")
    dataset = train["dataset"]
    _transforms(cap, getattr(dataset, "transform", None), "the training DataLoader's dataset.transform")
    loader = evals[0][0] if evals else session.loaders[0][0]
    data = loader.dataset
    if hasattr(data, "samples") and len(data):
        import torch

        items = [data[i][0] for i in range(min(COMPARED, len(data)))]
        images = torch.stack(items).permute(0, 2, 3, 1).numpy()
        cap.batch = image_batch(images, [s[0] for s in data.samples], f"{type(data).__name__}[0:{len(items)}]")


_TORCHVISION_RESIZE = {"Resize", "CenterCrop", "ToTensor", "Normalize", "PILToTensor", "ConvertImageDtype"}


def _transforms(cap: Capture, transform, where: str) -> None:
    steps = getattr(transform, "transforms", [transform] if transform is not None else [])
    if not any(type(step).__name__ == "Resize" for step in steps):
        cap.add("size", None, f"{where}: no Resize, the images keep their size")
    for step in steps:
        name = type(step).__name__
        if name not in _TORCHVISION_RESIZE:
            cap.note(f"augmentation: {name}", f"{where}: torchvision {name}; parity's data pipelines have no "
                     f"augmentation")
        if name == "Resize":
            size = step.size if isinstance(step.size, int) else step.size[0]
            square = isinstance(step.size, int) or step.size[0] == step.size[-1]
            cap.add("size", int(size), f"{where}: Resize({step.size})", approximate=not square)


def one_cycle_epochs(scheduler_cls):
    """OneCycleLR keeps total_steps only: its `epochs` argument is recorded when it is built."""
    real = scheduler_cls.__init__

    def init(self, *args, **kwargs):
        real(self, *args, **kwargs)
        self._parity_epochs = kwargs.get("epochs") if "total_steps" not in kwargs else None

    scheduler_cls.__init__ = init
