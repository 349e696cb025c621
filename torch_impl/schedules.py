"""Torch side of parity.schedules: LambdaLR with the cosine computed in torch float32, and torch's own
OneCycleLR (a different discretisation of the same idea)."""

from __future__ import annotations

import math

import numpy as np
import torch

from parity import schedules as spec


def _cos(start: float, end: float, pos: float) -> float:
    t = torch.tensor(pos, dtype=torch.float32)
    return float(end + (start - end) / 2 * (torch.cos(math.pi * t) + 1))


def lr_schedule(name: str, n_steps: int, lr_max: float) -> tuple[np.ndarray, np.ndarray]:
    """(lr, momentum) per batch, read back from a torch scheduler stepping a real optimizer."""
    sched = spec.get_schedule(name)
    positions = spec.phase_positions(name, n_steps)
    if name == "constant":
        return np.full(n_steps, lr_max, np.float32), np.full(n_steps, sched.moms[0], np.float32)
    lr_points = (lr_max / sched.div, lr_max, lr_max / sched.div_final)
    mom_points = (sched.moms[0], sched.moms[1], sched.moms[0])
    optimizer = torch.optim.Adam([torch.nn.Parameter(torch.zeros(1))], lr=lr_max)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda i: _cos(lr_points[positions[i][0]], lr_points[positions[i][0] + 1], positions[i][1])
        / lr_max if i < n_steps else 1.0)
    lrs = []
    for _ in range(n_steps):
        lrs.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    moms = [_cos(mom_points[p], mom_points[p + 1], pos) for p, pos in positions]
    return np.array(lrs, np.float32), np.array(moms, np.float32)


def native_one_cycle(n_steps: int, lr_max: float) -> tuple[np.ndarray, np.ndarray]:
    """torch's own one-cycle, OneCycleLR, with fastai 2's numbers (pct_start 0.25, div 25, final 1e5/25)."""
    optimizer = torch.optim.Adam([torch.nn.Parameter(torch.zeros(1))], lr=lr_max, betas=(0.95, 0.99))
    scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, lr_max, total_steps=n_steps, pct_start=0.25,
                                                    div_factor=25.0, final_div_factor=1e5 / 25,
                                                    base_momentum=0.85, max_momentum=0.95)
    lrs, moms = [], []
    for _ in range(n_steps):
        lrs.append(optimizer.param_groups[0]["lr"])
        moms.append(optimizer.param_groups[0]["betas"][0])
        optimizer.step()
        scheduler.step()
    return np.array(lrs, np.float32), np.array(moms, np.float32)
