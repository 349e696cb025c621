"""Torch side of parity.components.schedules: LambdaLR with fastai's cosine computed in torch float32, and torch's own
OneCycleLR (a different discretisation of the same idea)."""

from __future__ import annotations

import math

import numpy as np
import torch


def _cos(start: float, end: float, pos: float) -> float:
    t = torch.tensor(pos, dtype=torch.float32)
    return float(end + (start - end) / 2 * (torch.cos(math.pi * t) + 1))


def lr_schedule(phases, positions, lr_points, mom_points) -> tuple[np.ndarray, np.ndarray]:
    """(lr, momentum) per batch, read back from a LambdaLR stepping a real optimizer; batch i sits at
    `positions[i]` of phase `phases[i]` (parity.components.schedules decides both)."""
    lr_max = max(lr_points)
    optimizer = torch.optim.Adam([torch.nn.Parameter(torch.zeros(1))], lr=lr_max)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda i: _cos(lr_points[phases[i]], lr_points[phases[i] + 1], positions[i]) / lr_max
        if i < len(phases) else 1.0)
    lrs = []
    for _ in range(len(phases)):
        lrs.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    moms = [_cos(mom_points[p], mom_points[p + 1], pos) for p, pos in zip(phases, positions)]
    return np.array(lrs, np.float32), np.array(moms, np.float32)


def native_one_cycle(n_steps: int, lr_max: float, pct_start: float, div: float, div_final: float,
                     moms: tuple) -> tuple[np.ndarray, np.ndarray]:
    """torch's own one-cycle, OneCycleLR, given fastai's numbers (its final_div_factor is relative to lr_max/div)."""
    optimizer = torch.optim.Adam([torch.nn.Parameter(torch.zeros(1))], lr=lr_max, betas=(moms[0], 0.99))
    scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, lr_max, total_steps=n_steps, pct_start=pct_start,
                                                    div_factor=div, final_div_factor=div_final / div,
                                                    base_momentum=moms[1], max_momentum=moms[0])
    lrs, momenta = [], []
    for _ in range(n_steps):
        lrs.append(optimizer.param_groups[0]["lr"])
        momenta.append(optimizer.param_groups[0]["betas"][0])
        optimizer.step()
        scheduler.step()
    return np.array(lrs, np.float32), np.array(momenta, np.float32)
