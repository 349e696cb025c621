"""Training recipes declared as data: every knob a transfer-learning run has, and the thread's recipes.

A recipe fixes every knob; `parity train` runs one, `parity bisect` walks from one to another knob by
knob. Knobs are checked against the component registries (resize methods, heads, optimizers, ...), so a
recipe can only name things both frameworks implement.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, fields, replace

from parity.errors import ParityError, unknown


@dataclass(frozen=True)
class Knob:
    name: str
    component: str  # the parity component it belongs to (bisect can group by it)
    summary: str


KNOBS = {k.name: k for k in [
    Knob("framework", "framework", "which framework trains: torch or keras"),
    Knob("decoder", "data", "JPEG decoder (parity.data.DECODERS); arrays without files are not decoded"),
    Knob("size", "resize", "square resize target in pixels, or None to keep the images' own size"),
    Knob("resize", "resize", "resize method (parity.resize.RESIZE_METHODS); unused when size is None"),
    Knob("norm", "data", "normalisation mode (parity.data.NORMALIZATIONS)"),
    Knob("body", "model", "the body the original recipe used (`--body` replaces it in a run)"),
    Knob("head", "head", "head layout (parity.heads.HEADS)"),
    Knob("init", "head", "initialiser of the head's Linear layers (parity.heads.INITS)"),
    Knob("bn_policy", "bn", "what happens to the body: train_bn, frozen or stats_only (parity.heads.BN_POLICIES)"),
    Knob("optimizer", "optim", "optimizer and its betas, epsilon, weight decay (parity.optim.OPTIMIZERS)"),
    Knob("lr", "optim", "fastai's lr argument: a float for every layer group, or slice(x) written (x,)"),
    Knob("schedule", "schedule", "LR/momentum schedule (parity.schedules.SCHEDULES)"),
    Knob("loss", "loss", "loss (parity.loss.LOSSES)"),
    Knob("batch_size", "data", "training batch size"),
    Knob("epochs", "schedule", "passes over the training set"),
    Knob("drop_last", "data", "drop the last partial training batch (fastai True, Keras fit False)"),
    Knob("n_classes", "data", "class count the recipe expects from its data"),
]}


@dataclass(frozen=True)
class Recipe:
    name: str
    source: str  # what code it stands for
    framework: str
    decoder: str
    size: int | None
    resize: str
    norm: str
    body: str
    head: str
    init: str
    bn_policy: str
    optimizer: str
    lr: float | tuple
    schedule: str
    loss: str
    batch_size: int
    epochs: int
    drop_last: bool
    n_classes: int = 10

    def knobs(self) -> dict:
        return {k: getattr(self, k) for k in KNOBS}


def check_recipe(recipe: Recipe) -> Recipe:
    """Every knob checked against its registry; a bad value raises naming the knob, the value and the choices."""
    from parity import data, heads, loss, models, optim, resize, schedules
    from parity.frameworks import FRAMEWORKS

    k = recipe.knobs()
    if k["framework"] not in FRAMEWORKS:
        raise unknown("framework", k["framework"], FRAMEWORKS)
    data.get_decoder(k["decoder"])
    data.get_normalization(k["norm"])
    resize.get_method(k["resize"])
    models.get_body(k["body"])
    heads.get_head(k["head"], k["init"])
    heads.check_policy(k["bn_policy"])
    optim.get_optimizer(k["optimizer"])
    schedules.get_schedule(k["schedule"])
    loss.get_loss(k["loss"])
    optim.group_lrs(k["lr"], 3)
    checks = {"size": k["size"] is None or (isinstance(k["size"], int) and k["size"] > 0),
              "batch_size": isinstance(k["batch_size"], int) and k["batch_size"] > 0,
              "epochs": isinstance(k["epochs"], int) and k["epochs"] > 0,
              "drop_last": isinstance(k["drop_last"], bool),
              "n_classes": isinstance(k["n_classes"], int) and k["n_classes"] > 1,
              "lr": all(v > 0 for v in (k["lr"] if isinstance(k["lr"], tuple) else (k["lr"],)))}
    for name, ok in checks.items():
        if not ok:
            raise ParityError(f"recipe {recipe.name!r}: knob {name} has an invalid value {k[name]!r}")
    return recipe


_FASTAI_V1 = dict(
    framework="torch", decoder="pil", size=64, resize="fastai_v1", norm="torch", body="resnet50",
    head="fastai_v1", init="kaiming_normal", bn_policy="train_bn", optimizer="fastai_v1_adamw_l2", lr=(3e-3,),
    schedule="constant", loss="ce_logits", batch_size=64, epochs=3, drop_last=True)
_KERAS_THREAD = dict(
    framework="keras", decoder="tf_fast", size=224, resize="tf_resize", norm="tf", body="resnet50v2_keras",
    head="keras_thread", init="glorot_uniform", bn_policy="frozen", optimizer="keras_adam", lr=3e-3,
    schedule="constant", loss="keras_softmax", batch_size=64, epochs=3, drop_last=False)

RECIPES = {r.name: check_recipe(r) for r in [
    Recipe("fastai_v1_fit", "the thread: ImageDataBunch.from_folder(size=64, bs=64).normalize(imagenet_stats); "
           "cnn_learner(data, resnet50, true_wd=False); learn.fit(3) (default lr slice(3e-3), wd 1e-2)",
           **_FASTAI_V1),
    Recipe("fastai_v1_fit_lr003", "the thread's second run: learn.fit(3, lr=0.003) (3e-3 for every layer group)",
           **{**_FASTAI_V1, "lr": 3e-3}),
    Recipe("fastai_v1_nosize", "the thread's run without size=64: the 32 px images as they are",
           **{**_FASTAI_V1, "size": None}),
    Recipe("fastai_v1_nosize_lr003", "the fourth cell of the thread's 2x2: no size, fit(3, lr=0.003)",
           **{**_FASTAI_V1, "size": None, "lr": 3e-3}),
    Recipe("keras_thread", "the thread's Keras code as written: frozen ResNet50V2 (BN in inference mode), "
           "avg+max head with glorot Dense, Adam(0.003), softmax + sparse_categorical_crossentropy, images "
           "resized to 224 with tf.image.resize, decoded by TensorFlow, fit(batch 64, 3 epochs)", **_KERAS_THREAD),
    Recipe("keras_thread_64", "the thread's Keras code at fastai's 64 px (post #7: 'much worse' than 224); the "
           "affordable end of a bisect on 2 CPU cores", **{**_KERAS_THREAD, "size": 64}),
    Recipe("keras_matched", "Keras running fastai 1's fit(3) recipe knob for knob (train_bn, fastai's head and "
           "init, Adam betas (0.9, 0.99) + L2 1e-2, slice LRs, grid_sample resize, PIL-exact decoding)",
           **{**_FASTAI_V1, "framework": "keras"}),
    Recipe("fastai_v2_default", "fastai 2: ImageDataLoaders.from_folder(item_tfms=Resize(64)); "
           "vision_learner(dls, resnet50); fit_one_cycle(3) (lr_max 1e-3, moms 0.95-0.85-0.95, wd 1e-2 "
           "decoupled, none on BN/bias)",
           **{**_FASTAI_V1, "resize": "fastai_v2", "head": "fastai_v2", "optimizer": "fastai_v2_adam",
              "lr": 1e-3, "schedule": "fastai_v2_one_cycle"}),
    Recipe("torch_plain", "plain PyTorch transfer learning: torchvision Resize(64), body frozen in eval mode, "
           "a new nn.Linear on average-pooled features, torch.optim.Adam(1e-3), F.cross_entropy, shuffled "
           "DataLoader keeping the last batch", framework="torch", decoder="pil", size=64, resize="torchvision",
           norm="torch", body="resnet50", head="linear", init="torch_default", bn_policy="frozen",
           optimizer="torch_adam", lr=1e-3, schedule="constant", loss="ce_logits", batch_size=64, epochs=3,
           drop_last=False),
]}


def get_recipe(name: str) -> Recipe:
    if name not in RECIPES:
        raise unknown("recipe", name, RECIPES)
    return RECIPES[name]


def with_knobs(recipe: Recipe, name: str | None = None, **knobs) -> Recipe:
    """A variant of `recipe`; unknown knobs and bad values are errors naming them."""
    for key in knobs:
        if key not in KNOBS:
            raise unknown("recipe knob", key, KNOBS)
    return check_recipe(replace(recipe, name=name or recipe.name, **knobs))


def diff(a: Recipe, b: Recipe) -> dict[str, tuple]:
    """{knob: (value in a, value in b)} for the knobs that differ, in KNOBS order."""
    ka, kb = a.knobs(), b.knobs()
    return {k: (ka[k], kb[k]) for k in KNOBS if ka[k] != kb[k]}


def fmt_value(value) -> str:
    if isinstance(value, tuple) and len(value) == 1:
        return f"slice({value[0]:g})"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def fingerprint(recipe: Recipe) -> str:
    """Hash of the knobs alone (the name and prose do not change what a run computes)."""
    text = json.dumps({k: list(v) if isinstance(v, tuple) else v for k, v in recipe.knobs().items()},
                      sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def as_dict(recipe: Recipe) -> dict:
    return {f.name: getattr(recipe, f.name) for f in fields(recipe)}

