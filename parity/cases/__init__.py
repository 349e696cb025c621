"""Every parity case, collected from the per-component modules (each declares its cases as data)."""

from parity.cases import accuracy, data, grad, init, loss, model, optim, resize, schedule, train

CASES = [*data.CASES, *resize.CASES, *model.CASES, *init.CASES, *grad.CASES, *optim.CASES, *schedule.CASES,
         *loss.CASES, *train.CASES, *accuracy.CASES]
