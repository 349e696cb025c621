"""Oracle: the fastai 2.8.12 package itself against parity's fastai 2 mirrors (schedule, Adam, head)."""

import importlib

import numpy as np
import torch

from parity.components import heads, optim, schedules

import fastai.callback.schedule as fastai_schedule  # a test dependency: missing fastai fails, never skips


def test_one_cycle_matches_fastai_combined_cos():
    n, lr_max = 97, 3e-3
    lr, mom = schedules.schedule_values("fastai_v2_one_cycle", n, lr_max)
    f_lr = fastai_schedule.combined_cos(0.25, lr_max / 25, lr_max, lr_max / 1e5)
    f_mom = fastai_schedule.combined_cos(0.25, 0.95, 0.85, 0.95)
    # fastai evaluates its cosine in float32 torch: compare at float32 resolution of lr_max
    np.testing.assert_allclose(lr, [float(f_lr(i / n)) for i in range(n)], rtol=1e-6, atol=1e-6 * lr_max)
    np.testing.assert_allclose(mom, [float(f_mom(i / n)) for i in range(n)], rtol=1e-6)


def test_adam_matches_fastai_optimizer_adam():
    """fastai.optimizer.Adam (decoupled wd 0.01, eps 1e-5, sqr_mom 0.99) against parity's fastai_v2_adam."""
    from fastai.optimizer import Adam

    rng = np.random.default_rng(0)
    params = {"w": rng.normal(size=(6, 4)).astype(np.float32), "b": rng.normal(size=6).astype(np.float32)}
    grads = [{k: rng.normal(size=v.shape).astype(np.float32) * 1e-2 for k, v in params.items()} for _ in range(20)]
    tensors = {k: torch.nn.Parameter(torch.from_numpy(v.copy())) for k, v in params.items()}
    # fastai 2 puts norm and bias parameters in a group without weight decay (wd_bn_bias=False)
    opt = Adam([[tensors["w"]], [tensors["b"]]], lr=3e-3)
    opt.set_hyper("wd", [1e-2, 0.0])
    for step_grads in grads:
        for k, p in tensors.items():
            p.grad = torch.from_numpy(step_grads[k])
        opt.step()
    ours = optim.run_steps("fastai_v2_adam", params, grads, [[3e-3]] * len(grads), on="torch")[-1]
    for k in params:
        np.testing.assert_allclose(ours[k], tensors[k].detach().numpy(), rtol=1e-5, atol=1e-7)


def test_head_matches_fastai_create_head():
    """Layer types, widths, bias-free Linear, BN bias 1e-3 and dropout rates of fastai's create_head."""
    from fastai.vision.learner import create_head

    theirs = create_head(512, 10)
    ours = importlib.import_module("torch_impl.heads").build_head("fastai_v2", 512, 10)
    def describe(module):
        out = []
        for m in module.modules():
            if isinstance(m, torch.nn.BatchNorm1d):
                out.append(("bn", m.num_features, float(m.bias.detach()[0])))
            elif isinstance(m, torch.nn.Linear):
                out.append(("linear", m.in_features, m.out_features, m.bias is None))
            elif isinstance(m, torch.nn.Dropout):
                out.append(("dropout", m.p))
        return out
    assert describe(ours) == describe(theirs)
    assert heads.HEADS["fastai_v2"].init == "kaiming_normal"  # vision_learner's apply_init(kaiming_normal_)


def test_fastai_v2_adam_row_matches_fastai_defaults():
    from fastai.optimizer import Adam

    defaults = Adam([torch.nn.Parameter(torch.zeros(1))], lr=1e-3).hypers[0]
    spec = optim.OPTIMIZERS["fastai_v2_adam"]
    assert (defaults["mom"], defaults["sqr_mom"], defaults["eps"], defaults["wd"]) == (
        spec.beta1, spec.beta2, spec.eps, spec.weight_decay)
