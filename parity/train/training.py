"""One recipe, one framework, one seed: data -> resize -> normalise -> body + head -> training -> test accuracy.

A run executes inside the worker of the recipe's backend (parity.runtime.workers): the coordinating process hands it
the decoded data by path and, for a Keras backend, the torch model's starting state, so every backend starts a
seed from the same weights, takes the same batches (parity.components.data.batch_order) and the same per-step layer-group
LRs; what differs between them is the framework itself. A body that is a pure function of its input (frozen,
BN in inference mode, no augmentation: bn_policy 'frozen') is run once per dataset and preprocessing inside
the worker: the head then trains on cached features (runs after the one that made them build the head alone),
with results equal to the uncached path's within float32 noise (the tolerance cache_f32).
"""

from __future__ import annotations

import os
import time

import numpy as np

from parity.components import classifier, data, datasets, models, optim, resize, schedules
from parity.core.errors import ParityError
from parity.core.memo import BoundedMemo
from parity.core.results import RunResult
from parity.train.recipes import Recipe

CHUNK = 128  # images per preprocessing batch (features: classifier.images_per_chunk; see the cache test)
N_GROUPS = 3  # fastai's layer groups for a body + head


def cacheable(recipe: Recipe) -> bool:
    """The body is a pure function of its input: frozen, BN on running statistics, no augmentation (a random
    crop gives the body new inputs every epoch)."""
    return recipe.bn_policy == "frozen" and recipe.load_crop == "centre"


def decoder_for(recipe: Recipe, spec: datasets.DataSpec) -> str:
    """Arrays that are not image files (the digits) are not decoded: their decoder does not matter."""
    return recipe.decoder if spec.source == "folder" else "pil"


def load_for(recipe: Recipe) -> tuple | None:
    """(method, size) of the reader's per-image resize, or None (images kept as they are); (method, size,
    'random') when training items are cropped anew each epoch (kept as decoded, see epoch_inputs)."""
    if recipe.load_size is None:
        return None
    return (recipe.load_resize, recipe.load_size) + (("random",) if recipe.load_crop == "random" else ())


# a worker's memo of decoded data, preprocessed inputs and cached body features, kept across the runs it is
# given (a thread bisect touches 16 preprocessing combinations x (inputs, features))
WORKSPACE = BoundedMemo(96)


def forget_here() -> None:
    """Empty this worker's memo (benchmarks time a cold cache)."""
    WORKSPACE.clear()


def feature_passes_here() -> int:
    """How many feature arrays (a split of one feature key) this worker's memo holds."""
    return sum(1 for key in WORKSPACE.keys() if key[0] == "features")


def _prep_key(spec, recipe: Recipe, decoder: str) -> tuple:
    """What decides a preprocessed input (and, with the body, its cached features)."""
    return (spec, decoder, load_for(recipe), recipe.framework, recipe.size, recipe.resize if recipe.size else None,
            recipe.norm)


def features_key(recipe: Recipe, spec, body: str, use_cache: bool = True) -> tuple | None:
    """What decides a run's cached body features (None: the run trains the whole body): runs with the same key
    share one feature pass in a worker, so an executor sends them to the worker that made it."""
    if not (use_cache and cacheable(recipe)):
        return None
    return (models.TRAINING_WEIGHTS[body],) + _prep_key(spec, recipe, decoder_for(recipe, spec))


def _batch_inputs(recipe: Recipe, images) -> np.ndarray:
    """Loaded images (one size) resized as the recipe's batches are, and normalised, a chunk at a time."""
    out = []
    for i in range(0, len(images), CHUNK):
        x = np.asarray(images[i:i + CHUNK], np.float32)
        if recipe.size is not None:
            x = resize.resize(x, recipe.size, recipe.resize, on=recipe.framework)
        out.append(data.normalize(x, recipe.norm, on=recipe.framework))
    return np.concatenate(out)


def _preprocessed(ws: BoundedMemo, spec, recipe: Recipe, images, split: str, decoder: str) -> np.ndarray:
    return ws.get(("input", split) + _prep_key(spec, recipe, decoder), lambda: _batch_inputs(recipe, images))


def epoch_inputs(recipe: Recipe, items, seed: int, epoch: int) -> np.ndarray:
    """One epoch of training inputs for a recipe with load_crop='random': each decoded item cropped at its
    position of this epoch (parity.components.resize.crop_pcts(n, seed, epoch), the same in every framework), resized to
    load_size, then as every batch is."""
    pcts = resize.crop_pcts(len(items), seed, epoch)
    loaded = resize.load_resize(list(items), recipe.load_size, recipe.load_resize, pcts, on=recipe.framework)
    return _batch_inputs(recipe, loaded)


def _features(ws: BoundedMemo, model, recipe: Recipe, key: tuple, x: np.ndarray) -> np.ndarray:
    def compute():
        net = classifier.body_of(model)
        step = classifier.images_per_chunk(x)
        return np.concatenate([models.forward_features(net, x[i:i + step])
                               for i in range(0, len(x), step)])

    return ws.get(("features",) + key, compute)


def step_plan(recipe: Recipe, n_train: int, seed: int):
    """Per-epoch batch orders, per-step layer-group LRs and (one-cycle only) per-step momentum, from the
    float64 schedule (each backend's own float32 schedule is matched to it by the schedule cases)."""
    orders = [data.batch_order(n_train, recipe.batch_size, seed * 1000 + epoch, drop_last=recipe.drop_last)
              for epoch in range(recipe.epochs)]
    n_steps = sum(len(o) for o in orders)
    if n_steps == 0:
        raise ParityError(f"recipe {recipe.name!r}: batch size {recipe.batch_size} with drop_last leaves no "
                          f"training batch from {n_train} images")
    base = optim.group_lrs(recipe.lr, N_GROUPS)
    shape, moms = schedules.lr_schedule(recipe.schedule, n_steps, 1.0, on=recipe.framework)
    lrs = [[g * float(s) for g in base] for s in shape]
    return orders, lrs, (None if recipe.schedule == "constant" else [float(m) for m in moms])


# what the frameworks raise when an allocation fails: Python's, TensorFlow's, torch's (CPU and CUDA)
_OUT_OF_MEMORY = ("MemoryError", "ResourceExhaustedError", "OutOfMemoryError")


def _out_of_memory(exc: BaseException) -> bool:
    return type(exc).__name__ in _OUT_OF_MEMORY or "can't allocate memory" in str(exc)


def layer_groups(model, backend: str) -> dict[str, int]:
    """fastai's layer group of every tensor, by the names the backend gives its model: what a run's optimizer
    buckets (the optim cases compare the learning rate each backend then applies per tensor)."""
    return {n: optim.layer_group(n, N_GROUPS) for n in classifier.model_state(model)}


def plan_here(recipe: Recipe, n_train: int, seed: int) -> dict[str, np.ndarray]:
    """Runs in the recipe's backend worker: the step plan run_here follows there, as arrays of fixed shape (the
    step count, and per epoch the images in batch order, -1 where an image is dropped)."""
    orders, lrs, _ = step_plan(recipe, n_train, seed)
    out = {"steps": np.array([len(lrs)])}
    for epoch, order in enumerate(orders):
        seen = np.concatenate(order) if order else np.zeros(0, np.int64)
        out[f"epoch {epoch + 1} images in batch order"] = np.concatenate([seen, np.full(n_train - len(seen), -1)])
    return out


def run_here(recipe: Recipe, spec: datasets.DataSpec, seed: int, body: str, data_file, state: dict | None,
             use_cache: bool = True, progress: bool = False, keep_logits: bool = False) -> dict:
    """Train and evaluate once, inside the recipe's backend worker; returns metrics. A non-finite loss ends
    the run as diverged (no accuracy); running out of memory is an error naming the run."""
    try:
        return _run(recipe, spec, seed, body, data_file, state, use_cache, progress, keep_logits)
    except Exception as exc:  # noqa: BLE001  (only memory errors are translated; the rest pass as they are)
        if not _out_of_memory(exc):
            raise
        first = (str(exc).strip().splitlines() or [""])[0][:200]
        raise ParityError(f"run {recipe.name} [{recipe.framework}] seed {seed} ran out of memory at size "
                          f"{recipe.size}, batch {recipe.batch_size} ({type(exc).__name__}: {first})") from None


def _run(recipe: Recipe, spec: datasets.DataSpec, seed: int, body: str, data_file, state: dict | None,
         use_cache: bool, progress: bool, keep_logits: bool) -> dict:
    ws, backend = WORKSPACE, recipe.framework
    weights = models.TRAINING_WEIGHTS[body]
    start = time.perf_counter()
    decoder = decoder_for(recipe, spec)
    train, test = ws.get(("decoded", spec, decoder, load_for(recipe)),  # a path, or (train, test) from Ray's object store
                         lambda: data_file if isinstance(data_file, tuple) else datasets.load(spec, data_file))
    random_crop = recipe.load_crop == "random"  # training inputs made anew each epoch (epoch_inputs)
    x_train = None if random_crop else _preprocessed(ws, spec, recipe, train.images, "train", decoder)
    x_test = _preprocessed(ws, spec, recipe, test.images, "test", decoder)
    key = features_key(recipe, spec, body, use_cache)  # the executor's key for these features, too
    cached = key is not None
    made = cached and all(("features", split) + key in ws for split in ("train", "test"))
    build = classifier.build_head_model if made else classifier.build_model  # a body only to make features
    model = build(body, recipe.head, recipe.n_classes, weights, dropout=True, seed=seed, init=recipe.init,
                  state=state, on=backend)
    trained = model
    if cached:
        x_train = _features(ws, model, recipe, ("train",) + key, x_train)
        x_test = _features(ws, model, recipe, ("test",) + key, x_test)
        trained = model if made else classifier.head_only(model)
    orders, lrs, moms = step_plan(recipe, len(train.labels), seed)
    groups = layer_groups(model, backend)
    bar = _bar(f"{recipe.name} [{backend}] seed {seed}", len(lrs)) if progress else None

    def batches():  # one batch at a time: a whole epoch of inputs is never copied at once
        for epoch, order in enumerate(orders):
            x = epoch_inputs(recipe, train.images, seed, epoch) if random_crop else x_train
            for index in order:
                yield x[index], train.labels[index]
                if bar is not None:
                    bar.update(1)

    classifier.seed_draws(seed, on=backend)  # dropout draws
    losses = classifier.train_steps(trained, batches(), recipe.optimizer, lrs, recipe.bn_policy, groups,
                                    recipe.loss, moms)
    if bar is not None:
        bar.close()
    diverged = bool(len(losses) == 0 or not np.isfinite(losses[-1]) or len(losses) < len(lrs))
    result = {"recipe": recipe.name, "framework": backend, "seed": seed, "body": body, "weights": weights,
              "steps": int(len(losses)), "diverged": diverged,
              "final_loss": float(losses[-1]) if len(losses) and not diverged else None,
              "cached_features": cached, "body_built": not made, "n_train": int(len(train.labels)),
              "n_test": int(len(x_test)), "device": classifier.device_of(trained)}
    if diverged:
        result["accuracy"] = None
        result["diverged_at_step"] = int(len(losses))
    else:
        logits, accuracy = classifier.evaluate(trained, x_test, test.labels)
        result["accuracy"] = accuracy
        if keep_logits:
            result["logits"] = logits
    result["seconds"] = round(time.perf_counter() - start, 3)
    RunResult.from_json(result, f"run of {recipe.name!r}")  # a RunResult: a field it lacks is an error here
    return result


def _bar(label: str, total: int):
    from tqdm import tqdm

    return tqdm(desc=label[:70], total=total, unit="batch", leave=False, mininterval=2.0)


def prepare(recipe: Recipe, spec: datasets.DataSpec, body: str):
    """In the coordinating process, before a run: the decoded data's file, checked against the recipe's class
    count, the body's smallest input and the machine's memory (an error names them before anything trains)."""
    datasets.check_per_class(spec)
    decoder = decoder_for(recipe, spec)
    path = datasets.decoded_file(spec, decoder, load_for(recipe))
    datasets.check_classes(datasets.classes_of(spec, path), recipe.n_classes, recipe.name, spec)
    models.get_weights(models.TRAINING_WEIGHTS[body])
    check_fits(recipe, body, datasets.split_shapes(spec, path))
    return path


# What a training step keeps per input pixel (every layer's output, for the backward pass): Keras' eager
# functional call of EfficientNet-Lite0 at 224 px kept ~100 MB an image (see parity.components.classifier.PIXELS_PER_CHUNK),
# ~2,000 bytes a pixel; a memory guard, not a prediction.
STEP_BYTES_PER_PIXEL = 2000


def input_side(recipe: Recipe, shapes: dict) -> int:
    """The side (px) of the images the body sees: the recipe's size, else its load size, else the data's own
    (the smaller side of the training images)."""
    if recipe.size is not None:
        return recipe.size
    if recipe.load_size is not None:
        return recipe.load_size
    return min(shapes["train"][1:3])


def memory_needed(recipe: Recipe, shapes: dict) -> dict:
    """Bytes of what a run holds at once: every image preprocessed (float32, NHWC), and one training step's
    activations (a batch, or for cached features one inference chunk)."""
    side = input_side(recipe, shapes)
    n_train, n_test = shapes["train"][0], shapes["test"][0]
    per_image = side * side * 3 * 4
    if cacheable(recipe):  # the body runs in inference chunks of at most PIXELS_PER_CHUNK pixels (or one image)
        step_pixels = max(classifier.PIXELS_PER_CHUNK, side * side)
    else:
        step_pixels = min(recipe.batch_size, n_train) * side * side
    return {"side": side, "inputs": (n_train + n_test) * per_image, "step": step_pixels * STEP_BYTES_PER_PIXEL,
            "images": n_train + n_test}


def machine_memory() -> int:
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def check_fits(recipe: Recipe, body: str, shapes: dict) -> None:
    """Refused before any run: images smaller than the body's smallest input, and a run whose preprocessed
    images and one step's activations would not fit in this machine's memory (the figures in the message)."""
    side, smallest = input_side(recipe, shapes), models.get_body(body).min_size
    if side < smallest:
        raise ParityError(f"recipe {recipe.name!r}: body {body!r} takes images of at least {smallest} px, and its "
                          f"images are {side} px (size={recipe.size}, load_size={recipe.load_size}); set "
                          f"--set size={smallest} or larger")
    need, have = memory_needed(recipe, shapes), machine_memory()
    if need["inputs"] + need["step"] > have:
        gib = 1 << 30
        raise ParityError(f"recipe {recipe.name!r} at {side} px needs about {(need['inputs'] + need['step']) / gib:,.1f} "
                          f"GiB: {need['images']} images preprocessed ({need['inputs'] / gib:,.1f} GiB as float32) "
                          f"and the body's largest step ({need['step'] / gib:,.1f} GiB at batch {recipe.batch_size}), more "
                          f"than this machine's {have / gib:,.1f} GiB; use a smaller size, batch or data set")
