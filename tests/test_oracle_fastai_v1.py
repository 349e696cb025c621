"""fastai 1.0.61 itself, the version the forum thread ran, as the oracle for every fastai 1 fact parity holds:
create_head, Learner.lr_range for a slice, the size=N transform on real images, fit_one_cycle's LR and
momentum, and OptimWrapper's weight decay (true_wd False/True, bn_wd) stepped with fixed gradients.

fastai 1 cannot share a venv with fastai 2: `nox -s oracle_v1` (also run by `nox -s tests`) installs it with
--no-deps into .nox/fastai1 and puts it, then tests/fastai_v1_shim (pkg_resources), first on sys.path. In any
other run these tests skip."""

import inspect
import warnings
from functools import partial
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch

fastai = pytest.importorskip("fastai", reason="fastai is not installed")
if fastai.__version__ != "1.0.61":
    pytest.skip(f"fastai {fastai.__version__} here; the fastai 1.0.61 oracle runs in `nox -s oracle_v1`",
                allow_module_level=True)

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastai.basic_train import Learner
    from fastai.callback import OptimWrapper
    from fastai.callbacks.one_cycle import OneCycleScheduler
    from fastai.vision import Image, create_head

import parity  # noqa: E402
from parity.components import data, heads, optim, schedules
from parity.train import recipes  # noqa: E402
from torch_impl import heads as torch_heads  # noqa: E402
from torch_impl import resize as torch_resize  # noqa: E402

FEATURES, CLASSES = 512, 10


def test_create_head_is_the_fastai_v1_row():
    """Layer by layer: fastai's head and parity's fastai_v1 head with fastai's weights give the same logits
    (pool order, BN, ReLU, Linear sizes), and the spec row's dropouts, widths and BN settings are fastai's."""
    theirs = create_head(2 * FEATURES, CLASSES).eval()
    ours = torch_heads.build_head("fastai_v1", FEATURES, CLASSES).eval()
    ours.load_state_dict(theirs.state_dict(), strict=True)
    x = torch.randn(4, FEATURES, 3, 3)
    with torch.no_grad():
        for (name, a), b in zip(ours.named_children(), theirs.children()):
            x_ours, x = a(x), b(x)
            assert torch.equal(x_ours, x), f"module {name} differs from fastai's"
    row = heads.get_head("fastai_v1")
    assert tuple(m.p for m in theirs if isinstance(m, torch.nn.Dropout)) == row.dropout
    linears = [m for m in theirs if isinstance(m, torch.nn.Linear)]
    assert tuple(m.out_features for m in linears[:-1]) == row.hidden
    assert all((m.bias is not None) == row.linear_bias for m in linears)
    norms = [m for m in theirs if isinstance(m, torch.nn.BatchNorm1d)]
    assert row.bn and all(m.eps == row.bn_eps and m.momentum == row.bn_torch_momentum for m in norms)


@pytest.mark.parametrize("lr", [slice(3e-3), slice(1e-4, 1e-2), 3e-3])
def test_lr_range_is_group_lrs(lr):
    learner = SimpleNamespace(layer_groups=[None] * 3)
    theirs = Learner.lr_range(learner, lr)
    ours = optim.group_lrs((lr.stop,) if isinstance(lr, slice) and lr.start is None else
                           (lr.start, lr.stop) if isinstance(lr, slice) else lr, 3)
    np.testing.assert_allclose(np.broadcast_to(theirs, (3,)), ours, rtol=1e-15, atol=0)


@pytest.mark.parametrize("source, crop", [("thumbnails", None), ("photos", (427, 640))])
def test_size_64_transform_is_the_fastai_v1_resize(source, crop):
    """fastai 1's size=64 (Image.apply_tfms with no transforms, as ImageDataBunch.from_folder applies it) on
    real images: parity's fastai_v1 method gives the same pixels within float32 noise."""
    images = data.photo_thumbnails(32) if source == "thumbnails" else data.sample_photos()
    for item in images[:4]:
        px = torch.from_numpy(item.astype(np.float32) / 255).permute(2, 0, 1)
        theirs = Image(px).apply_tfms([], size=64).px.permute(1, 2, 0).numpy() * 255
        ours = torch_resize.resize(item[None].astype(np.float32), (64, 64), "fastai_v1")[0]
        np.testing.assert_allclose(ours, theirs, rtol=0, atol=2e-3)


class _Learn:
    """What OneCycleScheduler reads of a Learner: the train loader's length and an optimizer's lr/mom."""

    def __init__(self, batches: int):
        self.data = SimpleNamespace(train_dl=range(batches))
        self.opt = SimpleNamespace(lr=None, mom=None)


@pytest.mark.parametrize("batches, epochs", [(10, 3), (7, 1)])
def test_fit_one_cycle_lr_and_momentum_are_the_fastai_v1_schedule(batches, epochs):
    learn = _Learn(batches)
    sched = OneCycleScheduler(learn, lr_max=3e-3)
    sched.on_train_begin(n_epochs=epochs, epoch=0)
    lrs, moms = [learn.opt.lr], [learn.opt.mom]
    for _ in range(batches * epochs - 1):
        sched.on_batch_end(train=True)
        lrs.append(learn.opt.lr)
        moms.append(learn.opt.mom)
    ours_lr, ours_mom = schedules.schedule_values("fastai_v1_one_cycle", batches * epochs, 3e-3)
    np.testing.assert_allclose(ours_lr, lrs, rtol=1e-12)
    np.testing.assert_allclose(ours_mom, moms, rtol=1e-12)


def _params(seed: int) -> list:
    """A conv weight, a BN weight and bias (1-D: fastai's bn_wd split), a linear weight, in three layer groups."""
    g = torch.Generator().manual_seed(seed)
    shapes = [(4, 3, 3, 3), (4,), (4,), (10, 4)]
    return [torch.nn.Parameter(torch.randn(s, generator=g, dtype=torch.float64)) for s in shapes]


@pytest.mark.parametrize("row, true_wd", [("fastai_v1_adamw_l2", False), ("fastai_v1_adamw", True)])
def test_optim_wrapper_steps_are_the_fastai_v1_rows(row, true_wd):
    """OptimWrapper(Adam betas (0.9, 0.99), wd 1e-2, true_wd, bn_wd=True) over three layer groups, five steps
    with fixed gradients, against parity's float64 reference of the same row."""
    params = _params(0)
    groups = [torch.nn.ModuleList(), torch.nn.ModuleList(), torch.nn.ModuleList()]
    holders = []
    for i, p in enumerate(params):
        holder = torch.nn.Module()
        holder.weight = p
        holders.append(holder)
        groups[0 if i == 0 else 1 if i < 3 else 2].append(holder)
    lrs = [1e-4, 1e-3, 3e-3]
    opt = OptimWrapper.create(partial(torch.optim.Adam, betas=(0.9, 0.99)), lrs, groups, wd=1e-2, true_wd=true_wd,
                              bn_wd=True)
    start = {f"p{i}": p.detach().numpy().copy() for i, p in enumerate(params)}
    g = np.random.default_rng(1)
    grads = [{f"p{i}": g.standard_normal(p.shape) for i, p in enumerate(params)} for _ in range(5)]
    for step in grads:
        for i, p in enumerate(params):
            p.grad = torch.from_numpy(step[f"p{i}"].copy())
        opt.step()
    group_of = {f"p{i}": 0 if i == 0 else 1 if i < 3 else 2 for i in range(len(params))}
    spec, state = optim.get_optimizer(row), {}
    for step, step_grads in enumerate(grads, 1):
        for name in start:
            optim.reference_step(spec, {name: start[name]}, step_grads, state, lrs[group_of[name]], step)
    for i, p in enumerate(params):
        np.testing.assert_allclose(p.detach().numpy(), start[f"p{i}"], rtol=1e-10, atol=1e-12, err_msg=f"p{i}")


def test_the_self_test_catches_every_fastai_v1_spec_fault_with_this_oracle():
    """`parity selftest` plants each spec fault this file is declared to catch in a pytest run of the declared
    test (parity.selftest.plantedtests): each is DETECTED+LOCALISED, and the same tests pass with nothing planted. Where
    forks are available, every run is a fork of one server (the runs differ only in what they plant)."""
    from parity.selftest import faultlist, plantedtests, run as selftest
    from parity.runtime import forkserver
    from parity.selftest.plantedtests import run_nodes

    mine = [f for f in faultlist.FAULTS.values() if f.oracle and f.detect.startswith("tests/test_oracle_fastai_v1.py")]
    assert len(mine) >= 3
    assert {row["status"] for row in run_nodes(sorted({f.detect for f in mine})).values()} == {"pass"}
    for fault in mine:
        result = selftest.run_fault(fault)
        assert result["verdict"] == selftest.LOCALISED, result
    assert len(plantedtests._SERVERS) == (1 if forkserver.available() else 0)


# --- the thread's own fastai program as the oracle of the recipe that stands for it ------------------------

def _head_row(head: torch.nn.Module, features: int, n_classes: int) -> str:
    """The parity head that loads fastai's head state strictly and gives its outputs, with its dropouts."""
    x = torch.randn(4, features, 2, 2)
    theirs_p = [m.p for m in head.modules() if isinstance(m, torch.nn.Dropout)]
    for name in heads.HEADS:
        ours = torch_heads.build_head(name, features, n_classes)
        try:
            ours.load_state_dict(head.state_dict(), strict=True)
        except RuntimeError:  # another layout
            continue
        ours_p = [m.p for m in ours.modules() if isinstance(m, torch.nn.Dropout)]
        with torch.no_grad():
            if ours_p == theirs_p and torch.equal(ours.eval()(x), head.eval()(x)):
                return name
    return "no parity head"


def _optimizer_row(learn) -> str:
    func = learn.opt_func
    betas = func.keywords.get("betas", inspect.signature(func.func).parameters["betas"].default)
    fields = {"beta1": betas[0], "beta2": betas[1], "eps": inspect.signature(func.func).parameters["eps"].default,
              "eps_style": "torch", "weight_decay": learn.wd, "decay_mode": "decoupled" if learn.true_wd else "l2",
              "decay_norm_bias": learn.bn_wd}
    if func.func is not torch.optim.Adam:
        return f"no parity row for {func.func}"
    return next((name for name, row in optim.OPTIMIZERS.items()
                 if all(getattr(row, k) == v for k, v in fields.items())), f"no parity row has {fields}")


def _bn_policy(body: torch.nn.Module) -> str:
    bn = [g for m in body.modules() if isinstance(m, torch.nn.BatchNorm2d) for g in
          (p.requires_grad for p in m.parameters(recurse=False))]
    other = [p.requires_grad for m in body.modules() if not isinstance(m, torch.nn.BatchNorm2d)
             for p in m.parameters(recurse=False)]
    return "train_bn" if all(bn) and not any(other) else "frozen" if not any(bn + other) else "?"


@pytest.fixture(scope="module")
def thread_program(tmp_path_factory):
    """Every knob of a recipe, read from the thread's fastai program stopped at learn.fit."""
    import torchvision
    from fastai.basic_data import DatasetType
    from fastai.vision import learner as v1_learner
    from fastai.vision import models as v1_models

    from thread_capture import image_tree, pipelines_that_reproduce, run_until_training, stop_here

    script = Path(parity.__file__).parent / "examples" / "thread" / "fastai_v1_thread.py"
    tree = image_tree(tmp_path_factory.mktemp("cifar"))
    asked = []

    def resnet50(pretrained=False):  # fastai 1 passes `pretrained` positionally; the download is intercepted
        asked.append(pretrained)
        return torchvision.models.resnet50(weights=None)

    real_fit = Learner.fit
    with pytest.MonkeyPatch.context() as mp:
        mp.setitem(v1_learner.model_meta, resnet50, v1_learner.model_meta[v1_models.resnet50])
        mp.setattr(v1_models, "resnet50", resnet50)
        mp.setattr(Learner, "fit", stop_here)
        stopped = run_until_training(script, str(tree))
    learn, data_ = stopped.obj, stopped.obj.data
    fit = inspect.signature(real_fit).bind(learn, *stopped.args, **stopped.kwargs)
    fit.apply_defaults()
    lr = fit.arguments["lr"]
    x, _ = data_.one_batch(DatasetType.Valid, denorm=False, cpu=True)
    paths = [str(p) for p in data_.valid_ds.x.items[:8]]
    reference_body = torch.nn.Sequential(*list(torchvision.models.resnet50(weights=None).children())[:-2])
    body_shapes = [tuple(p.shape) for p in learn.model[0].parameters()]
    knobs = {
        "framework": "torch",
        "size": data_.train_ds.tfmargs["size"],
        "body": "resnet50" if body_shapes == [tuple(p.shape) for p in reference_body.parameters()] else "?",
        "head": _head_row(learn.model[1], 2048, data_.c),
        "init": "kaiming_normal" if inspect.signature(v1_learner.cnn_learner).parameters["init"].default
        is torch.nn.init.kaiming_normal_ else "?",
        "bn_policy": _bn_policy(learn.model[0]),
        "optimizer": _optimizer_row(learn),
        "lr": (lr.stop,) if isinstance(lr, slice) and lr.start is None else
        (lr.start, lr.stop) if isinstance(lr, slice) else lr,
        "schedule": "constant",  # Learner.fit: no scheduler callback (fit_one_cycle adds OneCycleScheduler)
        "loss": "ce_logits" if isinstance(learn.loss_func.func, torch.nn.CrossEntropyLoss) else "?",
        "batch_size": data_.batch_size,
        "epochs": fit.arguments["epochs"],
        "drop_last": data_.train_dl.dl.drop_last,
        "n_classes": data_.c,
        **pipelines_that_reproduce(paths, x[:8].permute(0, 2, 3, 1).numpy(), data_.train_ds.tfmargs["size"],
                                   "torch", 1e-5),
    }
    return {"knobs": knobs, "pretrained": asked, "group_lrs": list(learn.lr_range(lr)),
            "groups": len(learn.layer_groups)}


def test_the_thread_program_is_the_fastai_v1_fit_recipe(thread_program):
    from thread_capture import mismatches

    assert thread_program["pretrained"] == [True]  # the ImageNet weights it asked for, intercepted
    assert set(thread_program["knobs"]) >= set(recipes.KNOBS) - {"load_size", "load_resize", "load_crop"}
    assert mismatches(thread_program["knobs"], recipes.get_recipe("fastai_v1_fit")) == {}
    assert thread_program["groups"] == 3
    np.testing.assert_allclose(thread_program["group_lrs"], optim.group_lrs(recipes.get_recipe("fastai_v1_fit").lr, 3))


@pytest.mark.parametrize("knob", [k for k in recipes.KNOBS if k not in ("load_size", "load_resize", "load_crop")])
def test_a_changed_knob_of_fastai_v1_fit_is_seen(thread_program, knob):
    from thread_capture import changed, mismatches

    recipe = changed(recipes.get_recipe("fastai_v1_fit"), knob)
    assert list(mismatches(thread_program["knobs"], recipe)) == [knob]
