"""fastai 1.0.61 itself, the version the forum thread ran, as the oracle for every fastai 1 fact parity holds:
create_head, Learner.lr_range for a slice, the size=N transform on real images, fit_one_cycle's LR and
momentum, and OptimWrapper's weight decay (true_wd False/True, bn_wd) stepped with fixed gradients.

fastai 1 cannot share a venv with fastai 2: `nox -s oracle_v1` (also run by `nox -s tests`) installs it with
--no-deps into .nox/fastai1 and puts it, then tests/fastai_v1_shim (pkg_resources), first on sys.path. In any
other run these tests skip."""

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
# `parity capture` runs parity/examples/programs/fastai_v1_thread.py under this fastai 1.0.61, stops it at learn.fit
# and reads every knob of `fastai_v1_fit` from the live Learner; the Keras program beside it gives `keras_thread`.

@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    from thread_capture import image_tree

    return image_tree(tmp_path_factory.mktemp("cifar"))


@pytest.fixture(scope="module")
def thread_programs(tree):
    from thread_capture import captured

    return captured("fastai_v1_thread", tree), captured("keras_thread", tree)


def test_the_thread_program_is_the_fastai_v1_fit_recipe(thread_programs):
    fastai_program = thread_programs[0]
    assert fastai_program.origin.weights == ("ResNet50_Weights.IMAGENET1K_V1",)  # pretrained=True, intercepted
    assert recipes.diff(fastai_program, recipes.get_recipe("fastai_v1_fit")) == {}
    assert fastai_program.origin.approximate == () and fastai_program.origin.uncovered == ()
    assert dict(fastai_program.origin.provenance).keys() == recipes.KNOBS.keys()


@pytest.mark.parametrize("knob", [k for k in recipes.KNOBS if k not in ("load_size", "load_resize", "load_crop")])
def test_a_changed_knob_of_fastai_v1_fit_is_seen(thread_programs, knob):
    from thread_capture import changed

    recipe = changed(recipes.get_recipe("fastai_v1_fit"), knob)
    assert list(recipes.diff(thread_programs[0], recipe)) == [knob]


def test_the_static_diff_of_the_two_thread_programs(thread_programs, tmp_path, capsys):
    """`parity recipes --diff` of the two captures lists exactly the knobs the built-in recipes differ in, each
    with both programs' provenance, in the terminal, the Markdown and the HTML report."""
    from parity.cli.app import main
    from parity.train import recipefiles

    files = []
    for recipe in thread_programs:
        files.append(tmp_path / f"{recipe.name}.toml")
        files[-1].write_text(recipefiles.dumps(recipe))
    assert main(["recipes", "--diff", *map(str, files), "--out", str(tmp_path / "report")]) == 0
    shown = capsys.readouterr().out
    expected = recipes.diff(recipes.get_recipe("fastai_v1_fit"), recipes.get_recipe("keras_thread"))
    assert f"differ in {len(expected)} knobs: {', '.join(expected)}" in shown
    md = (tmp_path / "report" / "report.md").read_text()
    html = (tmp_path / "report" / "report.html").read_text()
    rows = [line.split("|")[1].strip() for line in md.splitlines() if line.startswith("| ") and "`" in line]
    assert rows == list(expected)
    for recipe in thread_programs:
        for knob in expected:
            source = recipe.origin.source_of(knob)
            assert source and source in shown and source.replace("|", "\\|") in md
            assert source.replace("'", "&#39;").replace(">", "&gt;").replace("<", "&lt;") in html


def test_a_bisect_from_the_two_programs_is_the_built_in_one(tree, tmp_path, capsys):
    """The same attribution from the captured programs as from the built-in recipes, on the embedded digits:
    the same configurations, read from the store the built-in run filled (no run trains twice)."""
    import json

    from parity.cli.app import main

    programs = Path(parity.__file__).parent / "examples" / "programs"
    common = ["--set-to", "size=64", "--factors", "optimizer,lr", "--train-per-class", "10", "--test-per-class",
              "5", "--seeds", "2", "--methods", "oat,shapley", "--quiet", "--store", str(tmp_path / "store")]
    assert main(["bisect", "--from", "fastai_v1_fit", "--to", "keras_thread", *common,
                 "--out", str(tmp_path / "built_in")]) == 0
    assert main(["bisect", "--from", str(programs / "fastai_v1_thread.py"), "--from-args", str(tree),
                 "--to", str(programs / "keras_thread.py"), "--to-args", str(tree), *common,
                 "--out", str(tmp_path / "programs")]) == 0
    out = capsys.readouterr().out
    assert "0 runs trained" in out.splitlines()[-1]
    built_in, from_programs = (json.loads((tmp_path / d / "results.json").read_text())["bisect"]
                               for d in ("built_in", "programs"))
    for key in ("gap", "shapley", "oat", "accuracy_from", "accuracy_to", "configurations", "runs", "factors"):
        assert from_programs[key] == built_in[key], key
