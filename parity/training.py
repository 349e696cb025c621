"""One recipe, one framework, one seed: data -> resize -> normalise -> body + head -> training -> test accuracy.

Both frameworks start from the same weights (the torch model built for the seed, ported to Keras through
parity.porting), take the same batches (parity.data.batch_order) and the same per-step layer-group LRs, so
what differs between them is the framework itself. A body that is a pure function of its input (frozen,
BN in inference mode, no augmentation: bn_policy 'frozen') is run once per dataset and preprocessing: the
head then trains on cached features, with results identical to the uncached path (tests/test_training.py).
"""

from __future__ import annotations

import sys
import time
from collections import OrderedDict
from dataclasses import dataclass, field

import numpy as np

from parity import data, datasets, optim
from parity.errors import ParityError
from parity.recipes import Recipe

BODY_WEIGHTS = {"efficientnet_lite0": "imagenet", "resnet18": "IMAGENET1K_V1", "resnet34": "IMAGENET1K_V1",
                "resnet50": "IMAGENET1K_V2"}
CHUNK = 128  # images per preprocessing / feature batch (results do not depend on it: see the cache test)
N_GROUPS = 3  # fastai's layer groups for a body + head


def cacheable(recipe: Recipe) -> bool:
    """The body is a pure function of its input: frozen, BN on running statistics, no augmentation."""
    return recipe.bn_policy == "frozen"


@dataclass
class Workspace:
    """Per-process memo of decoded data, preprocessed inputs and cached body features (bounded LRU)."""
    max_entries: int = 96  # a thread bisect touches 16 preprocessing combinations x (inputs, features)
    _memo: OrderedDict = field(default_factory=OrderedDict)

    def get(self, key, compute):
        if key in self._memo:
            self._memo.move_to_end(key)
            return self._memo[key]
        value = compute()
        self._memo[key] = value
        while len(self._memo) > self.max_entries:
            self._memo.popitem(last=False)
        return value


def sides(framework: str, modules=("data", "resize", "classifier", "schedules")):
    """The mirror modules of one framework (torch always imported first)."""
    from parity.frameworks import mirror

    index = {"torch": 0, "keras": 1}[framework]
    return [mirror(m)[index] for m in modules]


def _prep_key(spec, recipe: Recipe, decoder: str) -> tuple:
    """What decides a preprocessed input (and, with the body, its cached features)."""
    return (spec, decoder, recipe.framework, recipe.size, recipe.resize if recipe.size else None, recipe.norm)


def _decoded(ws: Workspace, spec: datasets.DataSpec, recipe: Recipe):
    decoder = recipe.decoder if spec.source == "folder" else "pil"  # arrays are not decoded
    train, test = ws.get(("decoded", spec, decoder), lambda: datasets.load(spec, decoder))
    datasets.check_classes(train.classes, recipe.n_classes, recipe.name, spec)
    return train, test, decoder


def _preprocessed(ws: Workspace, spec, recipe: Recipe, images, split: str, decoder: str) -> np.ndarray:
    data_side, resize_side, _, _ = sides(recipe.framework)

    def compute():
        out = []
        for i in range(0, len(images), CHUNK):
            x = np.asarray(images[i:i + CHUNK], np.float32)
            if recipe.size is not None:
                x = resize_side.resize(x, recipe.size, recipe.resize)
            out.append(data_side.normalize(x, recipe.norm))
        return np.concatenate(out)

    return ws.get(("input", split) + _prep_key(spec, recipe, decoder), compute)


def _features(ws: Workspace, model, recipe: Recipe, body: str, key: tuple, x: np.ndarray) -> np.ndarray:
    (models_side,) = sides(recipe.framework, ("models",))
    net = model.body if recipe.framework == "torch" else model.get_layer("body")

    def compute():
        return np.concatenate([models_side.forward_features(net, x[i:i + CHUNK]) for i in range(0, len(x), CHUNK)])

    return ws.get(("features", body, BODY_WEIGHTS.get(body)) + key, compute)


def initial_model(recipe: Recipe, body: str, seed: int, weights: str | None):
    """The seed's starting model in the recipe's framework: built by torch, ported to Keras when needed."""
    import torch

    from parity.frameworks import mirror

    torch_side, keras_side = mirror("classifier")
    torch.manual_seed(seed)
    model = torch_side.build_model(body, recipe.head, recipe.n_classes, weights, dropout=True, seed=seed,
                                   init=recipe.init)
    if recipe.framework == "torch":
        return model
    twin = keras_side.build_model(body, recipe.head, recipe.n_classes, dropout=True, seed=seed, init=recipe.init)
    keras_side.load_model_state(twin, torch_side.model_state(model))
    return twin


def step_plan(recipe: Recipe, n_train: int, seed: int, schedules_side):
    """Per-epoch batch orders, per-step layer-group LRs and (one-cycle only) per-step momentum."""
    orders = [data.batch_order(n_train, recipe.batch_size, seed * 1000 + epoch, drop_last=recipe.drop_last)
              for epoch in range(recipe.epochs)]
    n_steps = sum(len(o) for o in orders)
    if n_steps == 0:
        raise ParityError(f"recipe {recipe.name!r}: batch size {recipe.batch_size} with drop_last leaves no "
                          f"training batch from {n_train} images")
    base = optim.group_lrs(recipe.lr, N_GROUPS)
    shape, moms = schedules_side.lr_schedule(recipe.schedule, n_steps, 1.0)
    lrs = [[g * float(s) for g in base] for s in shape]
    return orders, lrs, (None if recipe.schedule == "constant" else [float(m) for m in moms])


def run(recipe: Recipe, spec: datasets.DataSpec, seed: int, body: str | None = None, ws: Workspace | None = None,
        use_cache: bool = True, progress=None, keep_model: bool = False) -> dict:
    """Train and evaluate once; returns metrics. A non-finite loss ends the run as diverged (no accuracy).
    `progress` is a tqdm-like bar: its total is set to the step count and it advances once per batch."""
    ws = ws or Workspace()
    body = body or recipe.body
    weights = BODY_WEIGHTS.get(body)
    start = time.perf_counter()
    _, _, classifier, schedules_side = sides(recipe.framework)
    train, test, decoder = _decoded(ws, spec, recipe)
    x_train = _preprocessed(ws, spec, recipe, train.images, "train", decoder)
    x_test = _preprocessed(ws, spec, recipe, test.images, "test", decoder)
    model = initial_model(recipe, body, seed, weights)
    cached = use_cache and cacheable(recipe)
    trained = model
    if cached:
        key = _prep_key(spec, recipe, decoder)
        x_train = _features(ws, model, recipe, body, ("train",) + key, x_train)
        x_test = _features(ws, model, recipe, body, ("test",) + key, x_test)
        trained = classifier.head_only(model)
    orders, lrs, moms = step_plan(recipe, len(x_train), seed, schedules_side)
    if progress is not None and hasattr(progress, "total"):
        progress.total = len(lrs)
    groups = {n: optim.layer_group(n, N_GROUPS) for n in classifier.model_state(model)}

    def batches():
        for order in orders:
            for index in order:
                yield x_train[index], train.labels[index]
                if progress is not None:
                    progress.update(1)

    if recipe.framework == "torch":
        import torch

        torch.manual_seed(seed)  # dropout draws
    losses = classifier.train_steps(trained, batches(), recipe.optimizer, lrs, recipe.bn_policy, groups,
                                    loss=recipe.loss, moms=moms)
    diverged = bool(len(losses) == 0 or not np.isfinite(losses[-1]) or len(losses) < len(lrs))
    result = {"recipe": recipe.name, "framework": recipe.framework, "seed": seed, "body": body,
              "weights": weights, "steps": int(len(losses)), "diverged": diverged,
              "final_loss": float(losses[-1]) if len(losses) and not diverged else None,
              "cached_features": cached, "n_train": int(len(x_train)), "n_test": int(len(x_test))}
    if diverged:
        result["accuracy"] = None
        result["diverged_at_step"] = int(len(losses))
    else:
        logits, accuracy = classifier.evaluate(trained, x_test, test.labels)
        result["accuracy"] = accuracy
        if keep_model:
            result["logits"] = logits
    result["seconds"] = round(time.perf_counter() - start, 3)
    if keep_model:
        result["model"] = trained
    return result


def run_identity(recipe: Recipe, spec: datasets.DataSpec, seed: int, body: str, versions: dict) -> dict:
    """Everything that decides a run's result: the result store's key. The recipe's name is left out, so
    two recipes with the same knobs share their runs."""
    from parity.recipes import fingerprint

    knobs = {k: (list(v) if isinstance(v, tuple) else v) for k, v in recipe.knobs().items()}
    knobs["body"] = body
    return {"knobs": knobs, "fingerprint": fingerprint(recipe), "body": body, "weights": BODY_WEIGHTS.get(body),
            "data": spec.key(), "seed": seed, "versions": versions}


class Runner:
    """Store-backed runs: a finished (recipe, seed) is read back, a new one trained and stored atomically."""

    def __init__(self, spec: datasets.DataSpec, body: str, store, use_cache: bool = True, progress: bool = True):
        from parity.frameworks import versions

        self.spec, self.body, self.store, self.use_cache = spec, body, store, use_cache
        self.versions = {k: v for k, v in versions().items() if k != "platform"}
        self.ws = Workspace()
        self.progress = progress
        self.trained = 0

    def __call__(self, recipe: Recipe, seed: int) -> dict:
        identity = run_identity(recipe, self.spec, seed, self.body, self.versions)
        found = self.store.get(identity)
        if found is not None:
            return found
        bar = _bar(f"{recipe.name} [{recipe.framework}] seed {seed}", self.progress)
        try:
            result = run(recipe, self.spec, seed, self.body, self.ws, self.use_cache, progress=bar)
        finally:
            if bar is not None:
                bar.close()
        self.trained += 1
        accuracy = "diverged" if result["diverged"] else f"{100 * result['accuracy']:.1f}%"
        print(f"[run {self.trained}] {recipe.name} [{recipe.framework}] seed {seed}: {accuracy} "
              f"({result['seconds']:.1f} s{', cached features' if result['cached_features'] else ''})",
              file=sys.stderr, flush=True)
        return self.store.put(identity, result)


def _bar(label: str, enabled: bool):
    if not enabled:
        return None
    from tqdm import tqdm

    return tqdm(desc=label[:70], unit="batch", leave=False, mininterval=2.0)
