"""Reading a fastai Learner stopped at its first training call (fastai 1.0.61 `fit`/`fit_one_cycle`; fastai 2
`fit`/`fit_one_cycle`/`fine_tune`/...) into knobs: the body and head of `learn.model`, the BN policy, the optimizer
row from `opt_func`/`wd`/`true_wd`/`bn_wd` (`wd_bn_bias` in fastai 2), the LR and schedule from the call, the
loss, the data's batch size, drop_last, classes, size and augmentation, and the callbacks parity has no knob for."""

from __future__ import annotations

import inspect

import numpy as np

from parity.capture.match import row
from parity.capture.read_torch import (head_row, image_batch, lr_value, read_bn_policy, read_body)
from parity.capture.record import Capture
from parity.components import optim

V1_DEFAULT_CALLBACKS = {"Recorder"}
V2_DEFAULT_CALLBACKS = {"TrainEvalCallback", "Recorder", "CastToTensor", "ProgressCallback", "ParamScheduler"}
V2_PLAIN_BATCH = {"IntToFloatTensor", "Normalize"}
V2_PLAIN_ITEM = {"Resize", "ToTensor"}
_INITS = {"kaiming_normal_": "kaiming_normal", "xavier_uniform_": "glorot_uniform"}


def shown(value) -> str:
    """An argument as the program would write it: slice(3e-3), not slice(None, 0.003, None)."""
    if isinstance(value, slice):
        ends = [value.stop] if value.start is None else [value.start, value.stop]
        return f"slice({', '.join(f'{v:g}' for v in ends)})"
    return repr(value)


def read(cap: Capture, stop, session) -> None:
    learn = stop.obj
    v1 = stop.library == "fastai1"
    cap.library = stop.library
    named = ", ".join(f"{k}={shown(v)}" for k, v in stop.kwargs.items())
    given = ", ".join([*map(shown, stop.args), *([named] if named else [])])
    cap.stopped_at = f"learn.{stop.call}({given}) at {stop.where}"
    cap.add("framework", "torch", f"fastai {'1' if v1 else '2'} trains with torch")
    made = next((args for name, args in reversed(session.learner_calls)), {})
    maker = next((name for name, _ in reversed(session.learner_calls)), "Learner")
    body, head = learn.model[0], learn.model[1]
    read_body(cap, body, "learn.model[0]")
    read_bn_policy(cap, body, f"learn.model[0] after {maker}" + ("" if v1 else f" (train_bn={learn.train_bn})"))
    n_classes = learn.data.c if v1 else learn.dls.c
    cap.add("n_classes", int(n_classes), "learn.data.c" if v1 else "learn.dls.c")
    name = head_row(head, int(n_classes))
    if name:
        cap.add("head", name, f"learn.model[1]: loads into parity's {name} head and gives its outputs ({maker})")
    else:
        cap.unread["head"] = f"learn.model[1] ({type(head).__name__}) loads into no parity head"
    init = made.get("init")
    init_name = _INITS.get(getattr(init, "__name__", ""), None)
    if init_name:
        cap.add("init", init_name, f"{maker}(init=nn.init.{init.__name__})")
    elif made:
        cap.add("init", "kaiming_normal", f"{maker}(init={init!r})", approximate=True)
        cap.note("head init", f"{maker}(init={init!r}): no parity initialiser")
    _optimizer(cap, learn, v1, stop)
    _call(cap, learn, v1, stop)
    _loss(cap, learn)
    (_data_v1 if v1 else _data_v2)(cap, learn)
    _callbacks(cap, learn, v1)


def _optimizer(cap: Capture, learn, v1: bool, stop) -> None:
    func = learn.opt_func
    real = getattr(func, "func", func)
    keywords = getattr(func, "keywords", {})
    params = inspect.signature(real).parameters
    default = {k: p.default for k, p in params.items() if p.default is not inspect.Parameter.empty}
    given = {**default, **keywords}
    wd = stop.arguments.get("wd") if stop.arguments.get("wd") is not None else learn.wd
    if v1:
        betas = given.get("betas", (0.9, 0.999))
        fields = {"beta1": betas[0], "beta2": betas[1], "eps": given.get("eps", 1e-8), "eps_style": "torch",
                  "weight_decay": wd, "decay_mode": "decoupled" if learn.true_wd else "l2",
                  "decay_norm_bias": learn.bn_wd}
        source = (f"learn.opt_func -> {real.__module__}.{real.__name__}, betas={betas}, wd={wd}, "
                  f"true_wd={learn.true_wd}, bn_wd={learn.bn_wd}")
        adam = real.__name__ == "Adam"
        if given.get("amsgrad"):
            cap.note("amsgrad", f"learn.opt_func -> {real.__name__}(amsgrad=True): parity's Adam rows have no amsgrad")
    else:
        wd = given.get("wd", 0.0) if wd is None else wd
        fields = {"beta1": given.get("mom"), "beta2": given.get("sqr_mom"), "eps": given.get("eps"),
                  "eps_style": "torch", "weight_decay": wd,
                  "decay_mode": "decoupled" if given.get("decouple_wd", True) else "l2",
                  "decay_norm_bias": learn.wd_bn_bias}
        source = (f"learn.opt_func -> fastai {real.__name__}(mom={fields['beta1']}, sqr_mom={fields['beta2']}, "
                  f"eps={fields['eps']}, wd={wd}, decouple_wd={given.get('decouple_wd', True)}), "
                  f"wd_bn_bias={learn.wd_bn_bias}")
        adam = real.__name__ == "Adam"
    name, differs = row(optim.OPTIMIZERS, fields, "optimizer")
    cap.add("optimizer", name, source, approximate=bool(differs) or not adam)
    if not adam:
        cap.note("optimizer", f"{real.__name__}: parity mirrors Adam variants only")
    elif differs:
        cap.note("optimizer", "; ".join(differs))


def _groups(learn, v1: bool) -> int:
    return len(learn.layer_groups) if v1 else len(learn.splitter(learn.model))


def _call(cap: Capture, learn, v1: bool, stop) -> None:
    """lr, schedule and epochs from the training call, its defaults applied."""
    a, call = stop.arguments, stop.call
    epochs_key = {"fit": "epochs" if v1 else "n_epoch", "fit_one_cycle": "cyc_len" if v1 else "n_epoch",
                  "fine_tune": "epochs"}.get(call, "n_epoch")
    lr_key = {"fit": "lr", "fit_one_cycle": "max_lr" if v1 else "lr_max", "fine_tune": "base_lr"}.get(call, "lr")
    lr = a.get(lr_key)
    lr_source = f"learn.{call}({lr_key}={shown(lr)})" + (" (its default)" if lr_key not in stop.kwargs else "")
    if lr is None:  # fastai 2: the Learner's own lr
        lr, lr_source = learn.lr, f"learn.lr = {learn.lr!r} ({call}'s {lr_key}=None)"
    epochs = a.get(epochs_key)
    if call == "fine_tune":
        lr = slice(lr)
        freeze = a.get("freeze_epochs", 1)
        epochs, lr_source = epochs + freeze, f"learn.fine_tune(base_lr={a['base_lr']!r}): its frozen phase's slice"
        cap.note("fine_tune's second phase", f"fine_tune runs fit_one_cycle({freeze}, slice({a['base_lr']}), "
                 f"pct_start=0.99) with the body frozen, then unfreezes the body and runs fit_one_cycle("
                 f"{a['epochs']}, slice({a['base_lr'] / 2 / a['lr_mult']:g}, {a['base_lr'] / 2:g}), pct_start="
                 f"{a['pct_start']}, div={a['div']}); a recipe is one phase: this one holds the frozen phase's body "
                 f"policy and LR for all {epochs} epochs")
    groups = _groups(learn, v1)
    if v1:  # the LR each layer group gets, fastai's own split against parity's
        theirs = [float(x) for x in np.broadcast_to(np.atleast_1d(learn.lr_range(lr)), (groups,))]
        ours = optim.group_lrs(lr_value(lr), groups)
        lr_source += f" -> per layer group {[float(f'{x:.6g}') for x in theirs]}"
        if not all(abs(a - b) <= 1e-12 * abs(b) for a, b in zip(ours, theirs)):
            cap.note("layer-group LRs", f"learn.lr_range gives {theirs}; parity's split of the same lr gives {ours}")
    cap.add("lr", lr_value(lr), lr_source)
    cap.add("epochs", int(epochs), f"learn.{call}({epochs_key}={a.get(epochs_key)!r})"
            + (f" + freeze_epochs={a.get('freeze_epochs', 1)}" if call == "fine_tune" else ""))
    if isinstance(lr, slice) and groups != 3:
        cap.note("layer groups", f"{groups} layer groups; parity splits a slice over fastai's 3")
    schedule, exact = _schedule(v1, call, a, learn)
    cap.add("schedule", schedule, f"learn.{call}(" + ", ".join(f"{k}={a[k]!r}" for k in _SCHEDULE_ARGS.get(
        (v1, call), ()) if k in a) + ")", approximate=not exact)
    if not exact and call != "fine_tune":
        cap.note("schedule", f"learn.{call} with these arguments: no parity schedule is the same")
    if call == "fine_tune":
        cap.add("schedule", schedule, f"learn.fine_tune: two fit_one_cycle phases (pct_start 0.99, then "
                f"pct_start={a['pct_start']}, div={a['div']}); parity's nearest one-cycle", approximate=True)


_SCHEDULE_ARGS = {(True, "fit_one_cycle"): ("moms", "div_factor", "pct_start", "final_div"),
                  (False, "fit_one_cycle"): ("div", "div_final", "pct_start", "moms"),
                  (False, "fine_tune"): ("pct_start", "div")}


def _schedule(v1: bool, call: str, a: dict, learn) -> tuple[str, bool]:
    if call == "fit":
        return "constant", not a.get("callbacks" if v1 else "cbs")
    if v1 and call == "fit_one_cycle":
        # final_div None is div_factor * 1e4: parity's row is lr_max / 25e4 at the end
        return "fastai_v1_one_cycle", (tuple(a["moms"]) == (0.95, 0.85) and a["div_factor"] == 25
                                       and a["pct_start"] == 0.3 and a["final_div"] in (None, 1e4))
    if not v1 and call == "fit_one_cycle":
        moms = tuple(a["moms"] if a["moms"] is not None else learn.moms)
        return "fastai_v2_one_cycle", (a["div"] == 25 and a["div_final"] == 1e5 and a["pct_start"] == 0.25
                                       and moms == (0.95, 0.85, 0.95))
    return ("fastai_v2_one_cycle" if not v1 else "fastai_v1_one_cycle"), False


def _loss(cap: Capture, learn) -> None:
    import torch

    loss = learn.loss_func
    inner = getattr(loss, "func", loss)
    name = type(loss).__name__
    if "LabelSmoothing" in name or getattr(inner, "label_smoothing", 0):
        cap.add("loss", "ce_logits", f"learn.loss_func -> {name}", approximate=True)
        cap.note("label smoothing", f"learn.loss_func -> {name}: parity's losses have none")
    elif isinstance(inner, torch.nn.CrossEntropyLoss):
        cap.add("loss", "ce_logits", f"learn.loss_func -> {name} of {type(inner).__name__}")
        if inner.weight is not None:
            cap.note("class weights", f"learn.loss_func -> {name}(weight=...): parity weighs classes equally")
    else:
        cap.unread["loss"] = f"learn.loss_func -> {name}: no parity loss"


def _data_v1(cap: Capture, learn) -> None:
    from fastai.basic_data import DatasetType

    data = learn.data
    size = data.train_ds.tfmargs.get("size")
    cap.add("size", size, f"data.train_ds.tfmargs['size'] = {size!r} (ImageDataBunch size=)")
    cap.add("batch_size", int(data.batch_size), f"data.batch_size = {data.batch_size}")
    cap.add("drop_last", bool(data.train_dl.dl.drop_last), f"data.train_dl.dl.drop_last = {data.train_dl.dl.drop_last}")
    tfms = [type(t.tfm).__name__ if hasattr(t, "tfm") else type(t).__name__ for t in (data.train_ds.tfms or [])]
    if tfms:
        cap.note("augmentation", f"ds_tfms on the training set ({', '.join(tfms)}): parity's data pipelines have "
                 f"no augmentation")
    x, _ = data.one_batch(DatasetType.Valid, denorm=False, cpu=True)
    cap.batch = image_batch(x.permute(0, 2, 3, 1).numpy(), [str(p) for p in data.valid_ds.x.items],
                            "data.one_batch(DatasetType.Valid)")


def _data_v2(cap: Capture, learn) -> None:
    dls = learn.dls
    cap.add("batch_size", int(dls.train.bs), f"dls.train.bs = {dls.train.bs}")
    cap.add("drop_last", bool(dls.train.drop_last), f"dls.train.drop_last = {dls.train.drop_last}")
    items = [t for t in dls.train.after_item.fs]
    batch = [t for t in dls.train.after_batch.fs]
    resize = next((t for t in items if type(t).__name__ == "Resize"), None)
    if resize is not None:
        h, w = resize.size
        cap.add("size", int(h), f"item_tfms Resize(size={resize.size}, method={resize.method!r})",
                approximate=h != w)
    else:
        cap.add("size", None, "no Resize among dls.after_item: images keep their size")
    for t in items:
        if type(t).__name__ not in V2_PLAIN_ITEM:
            cap.note(f"item transform {type(t).__name__}", f"dls.after_item {t!r}: parity has no such step")
    aug = [type(t).__name__ for t in batch if type(t).__name__ not in V2_PLAIN_BATCH]
    if aug:
        cap.note("augmentation", f"dls.after_batch runs {', '.join(aug)} on training batches (aug_transforms): "
                 f"parity's data pipelines have no augmentation")
    if resize is not None and resize.method != "crop":
        cap.note("resize method", f"Resize(method={resize.method!r}): parity's fastai_v2 resize is method='crop'")
    x, _ = dls.valid.one_batch()
    paths = [str(p) for p in dls.valid_ds.items]
    cap.batch = image_batch(x.permute(0, 2, 3, 1).cpu().numpy(), paths, "dls.valid.one_batch()")


def _callbacks(cap: Capture, learn, v1: bool) -> None:
    if v1:
        names = ([getattr(f, "func", f).__name__ for f in learn.callback_fns]
                 + [type(c).__name__ for c in learn.callbacks])
        extra = [n for n in names if n not in V1_DEFAULT_CALLBACKS]
    else:
        extra = [type(c).__name__ for c in learn.cbs if type(c).__name__ not in V2_DEFAULT_CALLBACKS]
    for name in extra:
        what = "mixed precision" if "Precision" in name else f"callback {name}"
        cap.note(what, f"{name} on the Learner: parity's training loop has no such step")
    if next(learn.model.parameters()).dtype != __import__("torch").float32:
        cap.note("precision", f"the model's parameters are {next(learn.model.parameters()).dtype}")
