"""Spec cases: the rows of parity's tables that claim to be a library's defaults, read back from that library
(both mirrors follow the spec, so only an oracle can see a wrong row). One layer per field, so a failing
case names the field that differs."""

from __future__ import annotations

from functools import partial

import numpy as np

from parity.check import oracles
from parity.check.case import Case, Sides, Skip, lr_key as _lr_key
from parity.components import heads, optim, resize
from parity.runtime.backends import native
from parity.runtime.client import client

# (optimizer row, backend whose library defines it, oracle function, class name)
OPTIMIZER_ROWS = [("keras_adam", native("keras"), "keras_optimizer_defaults", "Adam"),
                  ("keras_adamw", native("keras"), "keras_optimizer_defaults", "AdamW"),
                  ("torch_adam", native("torch"), "torch_optimizer_defaults", "Adam"),
                  ("torch_adamw", native("torch"), "torch_optimizer_defaults", "AdamW")]
SLICES = [(3e-3,), (1e-4, 1e-2)]  # fit()'s default slice(3e-3), and a slice(start, stop)
N_GROUPS = 3


def _fields(spec_values: dict, library: dict, labels: tuple) -> Sides:
    layers = [(k, np.array([spec_values[k]]), np.array([library[k]]), None) for k in library]
    return Sides(np.array([spec_values[k] for k in library]), np.array(list(library.values())), labels=labels,
                 layers=layers)


def _optimizer_row(row: str, backend: str, oracle: str, cls: str, ctx) -> Sides:
    library = client(backend).run(getattr(oracles, oracle), cls)
    o = optim.get_optimizer(row)
    return _fields({"beta1": o.beta1, "beta2": o.beta2, "eps": o.eps, "weight_decay": o.weight_decay}, library,
                   (f"spec row {row}", f"{cls}() in {backend}"))


def _keras_bn(head: str, ctx) -> Sides:
    library = client(native("keras")).run(oracles.keras_batchnorm_defaults)
    h = heads.get_head(head)
    return _fields({"bn_eps": h.bn_eps, "bn_torch_momentum": h.bn_torch_momentum}, library,
                   (f"spec head {head}", "keras.layers.BatchNormalization()"))


def _slice(lr: tuple, ctx) -> Sides:
    library = client(native("torch")).run(oracles.fastai_slice_lrs, lr, N_GROUPS)
    if library is None:
        raise Skip("fastai is not installed (the test extra installs fastai 2)")
    ours = optim.group_lrs(lr, N_GROUPS)
    return Sides(np.array(ours), np.array(library),
                 labels=("parity.components.optim.group_lrs", "fastai set_hyper('lr', slice)"),
                 layers=[(f"group {i}", np.array([a]), np.array([b]), None)
                         for i, (a, b) in enumerate(zip(ours, library))])


def _fastai_resize(size: int, ctx) -> Sides:
    photos = ctx.resize_input("photos")
    library = client(native("torch")).run(oracles.fastai_resize, photos, size)
    if library is None:
        raise Skip("fastai is not installed (the test extra installs fastai 2)")
    return Sides(resize.resize(photos, size, "fastai_v2", on=native("torch")), library,
                 labels=("parity resize fastai_v2 (torch)", f"fastai.vision.augment.Resize({size})"))


def _fastai_resize_training(size: int, ctx) -> Sides:
    """fastai's own Resize on training items with Python's random seeded; ours at the positions it drew."""
    photos = ctx.resize_input("photos")
    found = client(native("torch")).run(oracles.fastai_resize_training, photos, size, ctx.seed)
    if found is None:
        raise Skip("fastai is not installed (the test extra installs fastai 2)")
    library, pcts = found
    return Sides(resize.resize(photos, size, "fastai_v2", pcts, on=native("torch")), library,
                 labels=("parity resize fastai_v2 at fastai's positions (torch)",
                         f"fastai.vision.augment.Resize({size}), split_idx=0"),
                 detail={"crop positions (x, y)": pcts.round(4).tolist()})


CASES = [
    *[Case("spec", f"optimizer row {row} = {cls}() defaults", "matched", partial(_optimizer_row, row, backend,
                                                                                  oracle, cls),
           "spec_defaults", f"the row claims to be {optim.get_optimizer(row).source}", key=f"optimizer.{row}")
      for row, backend, oracle, cls in OPTIMIZER_ROWS],
    Case("spec", "head keras_thread BN = keras.layers.BatchNormalization() defaults", "matched",
         partial(_keras_bn, "keras_thread"), "spec_defaults",
         "the thread's head uses BatchNormalization() as Keras builds it", key="keras_thread.bn_defaults"),
    *[Case("spec", f"lr slice({', '.join(f'{v:g}' for v in lr)}) over {N_GROUPS} groups = fastai", "matched",
           partial(_slice, lr), "spec_defaults",
           "fastai splits a slice over layer groups: slice(stop) -> stop/10 for all but the head, slice(start, stop) "
           "-> geometric steps", key=f"slice.{_lr_key(lr)}")
      for lr in SLICES],
    Case("spec", "resize fastai_v2 427x640->64 = fastai Resize(64) (training crop)", "matched",
         partial(_fastai_resize_training, 64), "exact",
         "on training items fastai 2's Resize draws the box position from Python's random (Resize.before_call, "
         "split_idx=0); at the positions it drew, parity's box and PIL call are fastai's, so bit-equal",
         key="resize.fastai_v2.train_crop"),
    Case("spec", "resize fastai_v2 427x640->64 = fastai Resize(64) (validation crop)", "matched",
         partial(_fastai_resize, 64), "exact",
         "fastai_v2 claims to be fastai 2's Resize item transform: the same crop box and the same PIL call, so "
         "bit-equal", key="resize.fastai_v2.valid_crop"),
]
