"""Training recipes declared as data: every knob a transfer-learning run has, and the thread's recipes.

A recipe fixes every knob; `parity train` runs one, `parity bisect` walks from one to another knob by
knob. Knobs are checked against the component registries (resize methods, heads, optimizers, ...), so a
recipe can only name things both frameworks implement.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from dataclasses import dataclass, field, fields, replace

from parity.components import data, heads, loss, models, optim, resize, schedules
from parity.core.errors import ParityError, unknown
from parity.runtime.backends import frameworks


NO_DEFAULT = object()


@dataclass(frozen=True)
class Knob:
    name: str
    component: str  # the parity component it belongs to (bisect can group by it)
    kind: str  # what values it takes: a key of KINDS
    summary: str
    default: object = NO_DEFAULT  # knobs added later: at this value they stay out of a run's fingerprint
    most: int | None = None  # count and size knobs: the largest value, and why (`most_why`)
    most_why: str = ""


KINDS = {
    "name": "one of its registry's names",
    "count": "a positive integer",
    "size": "a positive integer, or none (keep the images' own size)",
    "flag": "true or false",
    "lr": "a positive finite float (every layer group), slice(x) written (x,), or (start, stop)",
}
# the size knobs' ceiling (8192 px = 805 MB an image as float32): whether a recipe's data fits in memory at its
# size is checked against the machine before any run (parity.train.training.check_fits)
_SIDE = dict(most=8192, most_why="an 8192 px image is 805 MB as float32")

KNOBS = {k.name: k for k in [
    Knob("framework", "framework", "name", "which backend trains: torch, keras_tf or keras_torch (the backend registry)"),
    Knob("decoder", "data", "name", "JPEG decoder (data.DECODERS); arrays without files are not decoded"),
    Knob("size", "resize", "size", "square resize target in pixels, or None to keep the images' own size", **_SIDE),
    Knob("resize", "resize", "name", "resize method (resize.RESIZE_METHODS); unused when size is None"),
    Knob("norm", "data", "name", "normalisation mode (data.NORMALIZATIONS)"),
    Knob("body", "model", "name", "the body the original recipe used (`--body` replaces it in a run)"),
    Knob("head", "head", "name", "head layout (heads.HEADS)"),
    Knob("init", "head", "name", "initialiser of the head's Linear layers (heads.INITS)"),
    Knob("bn_policy", "bn", "name", "what happens to the body: train_bn, frozen or stats_only (heads.BN_POLICIES)"),
    Knob("optimizer", "optim", "name", "optimizer and its betas, epsilon, weight decay (optim.OPTIMIZERS)"),
    Knob("lr", "optim", "lr", "fastai's lr argument: a float for every layer group, or slice(x) written (x,)"),
    Knob("schedule", "schedule", "name", "LR/momentum schedule (schedules.SCHEDULES)"),
    Knob("loss", "loss", "name", "loss (loss.LOSSES)"),
    Knob("batch_size", "data", "count", "training batch size", most=65536,
         most_why="a batch is at most the training set; whether it fits in memory is checked before any run"),
    Knob("epochs", "schedule", "count", "passes over the training set", most=10000,
         most_why="10,000 passes of the smallest data parity trains on take days on a CPU"),
    Knob("drop_last", "data", "flag", "drop the last partial training batch (fastai True, Keras fit False)"),
    Knob("n_classes", "data", "count", "class count the recipe expects from its data", most=100000,
         most_why="a head of 100,000 classes; the data's own class count must match it"),
    Knob("load_size", "data", "size", "per-image resize when files are read (images of different sizes), or None: "
         "every image keeps its size and all must share one", default=None, **_SIDE),
    Knob("load_resize", "data", "name", "the reader's per-image resize method (resize.RESIZE_METHODS): "
         "tf_resize is image_dataset_from_directory's default, keras_smart_resize its crop_to_aspect_ratio=True, "
         "fastai_v2 is Resize(N) as item_tfms, fastai_v1 is size=N; unused when load_size is None",
         default="tf_resize"),
    Knob("load_crop", "data", "name", "where the reader's crop sits on training items (resize.LOAD_CROPS): "
         "centre, or random (fastai 2's Resize: a new box per item and epoch; validation items keep the centre)",
         default="centre"),
]}


def _registry_check(name: str):
    """The function that accepts a registered name of knob `name` (and raises listing the choices)."""

    def framework(value):
        if value not in frameworks():
            raise unknown("framework", value, frameworks())

    return {"framework": framework, "decoder": data.get_decoder, "resize": resize.get_method,
            "norm": data.get_normalization, "body": models.get_body, "head": heads.get_head, "init": heads.get_init,
            "bn_policy": heads.check_policy, "optimizer": optim.get_optimizer, "schedule": schedules.get_schedule,
            "loss": loss.get_loss, "load_resize": resize.get_method, "load_crop": resize.check_load_crop}[name]


def _positive_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) and value > 0


def _bad(knob: Knob, value, where: str) -> ParityError:
    return ParityError(f"{where}: knob {knob.name} takes {KINDS[knob.kind]}, got {value!r}")


def check_knob(name: str, value, where: str = "recipe"):
    """`value` if knob `name` accepts it, else a ParityError naming where, the knob, the value and what it takes."""
    if name not in KNOBS:
        raise unknown(f"{where}: recipe knob", name, KNOBS)
    knob = KNOBS[name]
    ok = {"name": lambda v: isinstance(v, str),
          "count": lambda v: isinstance(v, int) and not isinstance(v, bool) and v > (1 if name == "n_classes" else 0),
          "size": lambda v: v is None or (isinstance(v, int) and not isinstance(v, bool) and v > 0),
          "flag": lambda v: isinstance(v, bool),
          "lr": lambda v: _positive_number(v) or (isinstance(v, tuple) and len(v) in (1, 2)
                                                  and all(_positive_number(x) for x in v))}[knob.kind](value)
    if not ok:
        raise _bad(knob, value, where)
    if knob.most is not None and value is not None and value > knob.most:
        raise ParityError(f"{where}: knob {name} takes at most {knob.most} ({knob.most_why}), got {value!r}")
    if knob.kind == "name":
        try:
            _registry_check(name)(value)
        except ParityError as exc:
            raise ParityError(f"{where}: {exc}") from None
    return value


def parse_knob(name: str, text: str, where: str = "--set"):
    """A knob's value from command-line text: 'none', 'true'/'false', numbers, slice(x) or (x,) / (a, b)."""
    if name not in KNOBS:
        raise unknown(f"{where}: recipe knob", name, KNOBS)
    kind, low = KNOBS[name].kind, text.strip().lower()
    value: object = text.strip()
    if kind == "size" and low in ("none", "null", ""):
        value = None
    elif kind == "flag" and low in ("true", "false"):
        value = low == "true"
    elif kind in ("count", "size"):
        value = int(text) if re.fullmatch(r"[+-]?\d+", text.strip()) else text
    elif kind == "lr":
        value = parse_lr(text.strip())
    return check_knob(name, value, where)


def parse_lr(text: str):
    inner = re.fullmatch(r"slice\((.*)\)|\((.*)\)", text.replace(" ", ""))
    parts = [p for p in (inner.group(1) or inner.group(2) or "").split(",") if p] if inner else [text]
    try:
        values = tuple(float(p) for p in parts)
    except ValueError:
        return text
    return values if inner else values[0]


@dataclass(frozen=True)
class Origin:
    """Where a recipe's knobs came from, when `parity capture` read it from a program: per knob the object or
    argument it was read from, the knobs that only approximate the program (parity's nearest value), and every
    setting of the program no knob expresses. It never enters a run's fingerprint."""
    program: str
    argv: tuple = ()
    stopped_at: str = ""
    provenance: tuple = ()  # ((knob, where it came from), ...) in KNOBS order
    approximate: tuple = ()  # knobs set to parity's nearest value
    uncovered: tuple = ()  # ((setting, what the program does), ...)
    weights: tuple = ()  # pretrained weights the program asked for (intercepted)

    def source_of(self, knob: str) -> str:
        return dict(self.provenance).get(knob, "")


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
    load_size: int | None = None
    load_resize: str = "tf_resize"
    load_crop: str = "centre"
    origin: Origin | None = field(default=None, compare=False, repr=False)  # set by parity capture

    def knobs(self) -> dict:
        return {k: getattr(self, k) for k in KNOBS}


def check_recipe(recipe: Recipe, where: str | None = None) -> Recipe:
    """Every knob checked by its type and registry; a bad value raises naming the knob, the value and the choices."""
    for name, value in recipe.knobs().items():
        check_knob(name, value, where or f"recipe {recipe.name!r}")

    heads.get_head(recipe.head, recipe.init)
    if recipe.load_crop != "centre" and (recipe.load_size is None
                                         or resize.get_method(recipe.load_resize).crop != "fastai_v2"):
        raise ParityError(f"{where or f'recipe {recipe.name!r}'}: knob load_crop={recipe.load_crop!r} moves "
                          f"fastai_v2's crop box on training items; it needs load_size set and load_resize = "
                          f"'fastai_v2' (got load_size={recipe.load_size!r}, load_resize={recipe.load_resize!r})")
    return recipe


_FASTAI_V1 = dict(
    framework="torch", decoder="pil", size=64, resize="fastai_v1", norm="torch", body="resnet50",
    head="fastai_v1", init="kaiming_normal", bn_policy="train_bn", optimizer="fastai_v1_adamw_l2", lr=(3e-3,),
    schedule="constant", loss="ce_logits", batch_size=64, epochs=3, drop_last=True)
_KERAS_THREAD = dict(
    framework="keras_tf", decoder="tf_fast", size=224, resize="tf_resize", norm="tf", body="resnet50v2_keras",
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
           **{**_FASTAI_V1, "framework": "keras_tf"}),
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


def identity_knobs(recipe: Recipe) -> dict:
    """The knobs as JSON values, for store keys: a knob added later counts only away from its default, so
    runs stored before it existed keep their key."""
    return {k: list(v) if isinstance(v, tuple) else v for k, v in recipe.knobs().items()
            if KNOBS[k].default is NO_DEFAULT or v != KNOBS[k].default}


def fingerprint(recipe: Recipe) -> str:
    """Hash of the knobs alone (the name and prose do not change what a run computes)."""
    text = json.dumps(identity_knobs(recipe), sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def as_dict(recipe: Recipe) -> dict:
    """Name, source and every knob (the origin of a captured recipe is reported on its own)."""
    return {f.name: getattr(recipe, f.name) for f in fields(recipe) if f.name != "origin"}

