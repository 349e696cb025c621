"""Optimizers, layer groups and LR slices: upstream rules, and bad input in both frameworks."""

import numpy as np
import pytest

from conftest import BACKENDS
from parity.components import loss, optim, schedules
from parity.core.errors import ParityError
PARAMS = {"head.4.weight": np.ones((2, 3), np.float32), "head.4.bias": np.zeros(2, np.float32)}


def test_slice_rule_matches_fastai_v1():
    assert optim.group_lrs((3e-3,), 3) == pytest.approx([3e-4, 3e-4, 3e-3])
    assert optim.group_lrs(3e-3, 3) == [3e-3] * 3
    assert optim.group_lrs((1e-5, 1e-3), 3) == pytest.approx([1e-5, 1e-4, 1e-3])  # fastai even_mults


def test_lr_list_with_more_values_than_groups():
    with pytest.raises(ParityError, match=r"LR list has 4 values for 3 layer groups"):
        optim.group_lrs([1e-3, 1e-3, 1e-3, 1e-3], 3)


def test_layer_groups_follow_fastai_split():
    names = ["body.conv1.weight", "body.layer2.3.bn1.bias", "body.layer3.0.conv1.weight",
             "body._blocks.7._bn2.bias", "body._blocks.8._bn2.bias", "body._bn1.weight", "head.8.weight"]
    assert [optim.layer_group(n) for n in names] == [0, 0, 1, 0, 1, 1, 2]


def test_reference_adam_first_step_is_lr_sized():
    """Adam's first step moves every entry by lr (m/sqrt(v) = sign(g)), up to epsilon."""
    p = {"w": np.array([1.0, -1.0])}
    optim.reference_step(optim.get_optimizer("torch_adam"), p, {"w": np.array([0.5, -2.0])}, {}, 0.1, 1)
    np.testing.assert_allclose(p["w"], [0.9, -0.9], atol=1e-7)


def test_unknown_optimizer():
    with pytest.raises(ParityError, match=r"optimizer 'adam' is not one of: fastai_v1_adamw"):
        optim.run_steps("adam", PARAMS, [PARAMS], [[1e-3]], on="torch")


@pytest.mark.parametrize("where", ["parameter", "gradient"])
def test_non_finite_values_are_reported(where):
    bad = {**PARAMS, "head.4.bias": np.array([0.0, np.nan], np.float32)}
    params, grads = (bad, PARAMS) if where == "parameter" else (PARAMS, bad)
    with pytest.raises(ParityError, match=rf"{where} 'head.4.bias' holds 1 non-finite values"):
        optim.run_steps("torch_adam", params, [grads], [[1e-3]], on="keras_tf")


@BACKENDS
def test_run_steps_moves_by_about_lr(backend):
    after = optim.run_steps("torch_adam", PARAMS, [PARAMS], [[1e-3]], on=backend)[0]
    np.testing.assert_allclose(after["head.4.weight"], PARAMS["head.4.weight"] - 1e-3, rtol=1e-5)


def test_fastai_v1_one_cycle_discretisation():
    """fastai 1's Scheduler: batch 0 at the phase start, the peak after int(0.3 n) steps, momentum inverse."""
    from parity.components import schedules

    lr, mom = schedules.schedule_values("fastai_v1_one_cycle", 100, 1e-2)
    assert lr[0] == pytest.approx(1e-2 / 25) and mom[0] == pytest.approx(0.95)
    assert lr[30] == pytest.approx(1e-2) and mom[30] == pytest.approx(0.85)
    assert lr[1] == pytest.approx(schedules.anneal_cos(1e-2 / 25, 1e-2, 1 / 30))
    assert lr[99] == pytest.approx(schedules.anneal_cos(1e-2, 1e-2 / 25e4, 69 / 70))


def test_unknown_schedule():
    with pytest.raises(ParityError, match=r"schedule 'one_cycle' is not one of: constant, fastai_v1_one_cycle"):
        schedules.lr_schedule("one_cycle", 10, 1e-3, on="torch")


def test_unknown_loss_and_labels_that_do_not_fit():
    with pytest.raises(ParityError, match=r"loss 'mse' is not one of: ce_logits, keras_clipped, keras_softmax"):
        loss.loss_and_grad("mse", np.zeros((1, 2), np.float32), np.array([0]), on="keras_tf")
    with pytest.raises(ParityError, match=r"labels \[2\] do not fit logits of shape \(1, 2\)"):
        loss.loss_and_grad("ce_logits", np.zeros((1, 2), np.float32), np.array([2]), on="torch")
