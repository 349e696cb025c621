"""Keras side of every parity.components.optim optimizer: keras.optimizers.Adam / AdamW where they express it, and a
torch-formula Adam (eps on the bias-corrected sqrt(v), optional coupled L2) as a Keras Optimizer. Keras has
no parameter groups: one optimizer per (layer group, decays or not) bucket, as Keras users do."""

from __future__ import annotations

import keras
import numpy as np
from keras import ops

from keras_impl._backend import ON_TF
from parity.components import optim as spec


class _TorchFormulaAdam(keras.optimizers.Optimizer):
    """torch.optim.Adam's step: p -= lr/bc1 * m / (sqrt(v)/sqrt(bc2) + eps); `l2` adds l2 * p to the gradient."""

    def __init__(self, learning_rate, beta_1, beta_2, epsilon, l2=0.0, weight_decay=None, name="torch_adam"):
        super().__init__(learning_rate=learning_rate, weight_decay=weight_decay, name=name)
        self.beta_1, self.beta_2, self.epsilon, self.l2 = beta_1, beta_2, epsilon, l2

    def build(self, var_list):
        if self.built:
            return
        super().build(var_list)
        self._m = [self.add_variable_from_reference(v, "m") for v in var_list]
        self._v = [self.add_variable_from_reference(v, "v") for v in var_list]

    def update_step(self, gradient, variable, learning_rate):
        index = self._get_variable_index(variable)
        m, v = self._m[index], self._v[index]
        lr = ops.cast(learning_rate, variable.dtype)
        t = ops.cast(self.iterations + 1, variable.dtype)
        g = gradient + self.l2 * variable if self.l2 else gradient
        self.assign_add(m, (g - m) * (1 - self.beta_1))
        self.assign_add(v, (g * g - v) * (1 - self.beta_2))
        bc1, bc2 = 1 - ops.power(self.beta_1, t), 1 - ops.power(self.beta_2, t)
        self.assign_sub(variable, lr / bc1 * m / (ops.sqrt(v) / ops.sqrt(bc2) + self.epsilon))


def _one(opt: spec.Optimizer, lr: float, decay: bool):
    wd = opt.weight_decay if decay and opt.decay_mode == "decoupled" else None
    if opt.eps_style == "keras":
        cls = keras.optimizers.AdamW if wd else keras.optimizers.Adam
        kwargs = {"weight_decay": wd} if wd else {}
        return cls(learning_rate=lr, beta_1=opt.beta1, beta_2=opt.beta2, epsilon=opt.eps, **kwargs)
    l2 = opt.weight_decay if decay and opt.decay_mode == "l2" else 0.0
    return _TorchFormulaAdam(lr, opt.beta1, opt.beta2, opt.eps, l2=l2, weight_decay=wd)


def build_optimizer(name, named_params, groups: dict | None = None, lrs=(1e-3,)):
    """{(layer group, decays): (Keras optimizer, [variables])} for [(torch name, variable)]."""
    opt = spec.get_optimizer(name)
    buckets: dict = {}
    for var_name, var in named_params:
        key = ((groups or {}).get(var_name, 0), spec.decays(opt, var.shape))
        buckets.setdefault(key, []).append((var_name, var))
    return {key: (_one(opt, lrs[key[0]], key[1]), members) for key, members in sorted(buckets.items())}


def set_lrs(optimizer, lrs, mom: float | None = None) -> None:
    """Per-step learning rates, one per layer group; `mom` (one-cycle momentum) replaces Adam's beta_1
    (read by update_step on every eager step)."""
    for (group, _), (opt, _) in optimizer.items():
        opt.learning_rate.assign(lrs[group])
        if mom is not None:
            opt.beta_1 = mom


def run_steps(name, params: dict, grads: list, lrs: list, groups: dict | None = None) -> list[dict]:
    """Apply `name` for len(grads) steps to numpy params with the given gradients and per-step group LRs.

    Returns the parameters after every step, as numpy by name.
    """
    variables = {k: keras.Variable(np.array(v, np.float32), name=k.replace(".", "_")) for k, v in params.items()}
    optimizer = build_optimizer(name, list(variables.items()), groups, lrs[0])
    buckets = list(optimizer.values())

    def apply(step_grads):  # every bucket's optimizer, one step (traced once on TensorFlow)
        for (opt, members), bucket_grads in zip(buckets, step_grads):
            opt.apply(bucket_grads, [v for _, v in members])

    step = apply
    if ON_TF:
        import tensorflow as tf

        step = tf.function(apply)
    history = []
    for step_grads, step_lrs in zip(grads, lrs):
        set_lrs(optimizer, step_lrs)
        step([[keras.ops.convert_to_tensor(np.asarray(step_grads[k], np.float32)) for k, _ in members]
              for _, members in buckets])
        history.append({k: keras.ops.convert_to_numpy(v) for k, v in variables.items()})
    return history
