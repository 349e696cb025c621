"""What the libraries themselves say their defaults are, read inside a backend's worker: the oracles for spec
rows that claim to be a library's defaults (parity/check/cases/spec.py). Each returns plain floats by field name."""

from __future__ import annotations


def keras_optimizer_defaults(cls_name: str) -> dict:
    import keras

    opt = getattr(keras.optimizers, cls_name)()
    return {"beta1": float(opt.beta_1), "beta2": float(opt.beta_2), "eps": float(opt.epsilon),
            "weight_decay": float(opt.weight_decay or 0.0)}


def torch_optimizer_defaults(cls_name: str) -> dict:
    import torch

    defaults = getattr(torch.optim, cls_name)([torch.zeros(1, requires_grad=True)]).defaults
    return {"beta1": float(defaults["betas"][0]), "beta2": float(defaults["betas"][1]), "eps": float(defaults["eps"]),
            "weight_decay": float(defaults["weight_decay"])}


def keras_batchnorm_defaults() -> dict:
    import keras

    bn = keras.layers.BatchNormalization()
    return {"bn_eps": float(bn.epsilon), "bn_torch_momentum": 1.0 - float(bn.momentum)}


def _fastai(import_names):
    """Names imported from fastai with its import-time deprecation notices silenced; None without fastai."""
    import importlib
    import warnings

    try:
        with warnings.catch_warnings():  # fastai's import-time torch.jit.script deprecation notices
            warnings.simplefilter("ignore", FutureWarning)
            return [getattr(importlib.import_module(module), name) for module, name in import_names]
    except ImportError:
        return None


def fastai_resize(images, size: int):
    """fastai 2's Resize(size) item transform on validation items (split_idx=1: the centre crop), each uint8
    HWC image in turn; None without fastai."""
    import numpy as np

    found = _fastai([("fastai.vision.augment", "Resize"), ("fastai.vision.core", "PILImage")])
    if found is None:
        return None
    resize, pil_image = found
    items = np.clip(np.rint(images), 0, 255).astype(np.uint8)
    return np.stack([np.asarray(resize(size)(pil_image.create(item), split_idx=1)) for item in items]).astype(
        np.float32)


def fastai_resize_training(images, size: int, seed: int):
    """fastai 2's Resize(size) on training items (split_idx=0), each uint8 HWC image in turn, with Python's
    `random` seeded: (the resized items, the (x, y) crop position Resize.before_call drew for each); None
    without fastai."""
    import random

    import numpy as np

    found = _fastai([("fastai.vision.augment", "Resize"), ("fastai.vision.core", "PILImage")])
    if found is None:
        return None
    resize_cls, pil_image = found
    items = np.clip(np.rint(images), 0, 255).astype(np.uint8)
    random.seed(seed)
    transform, out, pcts = resize_cls(size), [], []
    for item in items:
        out.append(np.asarray(transform(pil_image.create(item), split_idx=0)))
        pcts.append(transform.pcts)
    return np.stack(out).astype(np.float32), np.array(pcts, np.float64)


def fastai_slice_lrs(lr: tuple, n_groups: int) -> list[float]:
    """fastai 2's Optimizer.set_hyper('lr', slice(...)) over n parameter groups (the rule fastai 1's
    Learner.lr_range also follows); None when fastai is not installed."""
    import torch

    found = _fastai([("fastai.optimizer", "Adam")])
    if found is None:
        return None
    (Adam,) = found
    groups = [[torch.zeros(1, requires_grad=True)] for _ in range(n_groups)]
    opt = Adam(groups, lr=1e-3)
    opt.set_hyper("lr", slice(*lr) if len(lr) == 2 else slice(lr[0]))
    return [float(h["lr"]) for h in opt.hypers]


def keras_thread_head_literal(features, n_classes: int, seed: int) -> dict:
    """The thread's Keras head typed as its code reads (../shared/context: GlobalAveragePooling2D and
    GlobalMaxPooling2D concatenated, BatchNormalization(), Dropout(0.25), Dense(512, relu), again, then
    Dense(n, softmax)), beside parity's keras_thread head built from its spec; the spec head's weights (BN
    statistics drawn at random so BN matters) copied into the literal one layer by layer. Returns both heads'
    inference probabilities and each layer setting the spec claims, by name: (parity, literal) pairs."""
    import keras
    import numpy as np
    from keras import layers

    from keras_impl.heads import build_head

    channels = features.shape[-1]
    ours = build_head("keras_thread", channels, n_classes, dropout=True, seed=seed)
    inputs = keras.Input((None, None, channels))
    out = layers.Concatenate()([layers.GlobalAveragePooling2D()(inputs), layers.GlobalMaxPooling2D()(inputs)])
    out = layers.BatchNormalization()(out)
    out = layers.Dropout(0.25)(out)
    out = layers.Dense(512, activation="relu")(out)
    out = layers.BatchNormalization()(out)
    out = layers.Dropout(0.25)(out)
    out = layers.Dense(n_classes, activation="softmax")(out)
    literal = keras.Model(inputs, out)

    rng = np.random.default_rng(seed)
    weighted = [(a, b) for a, b in zip([x for x in ours.layers if x.weights], [x for x in literal.layers if x.weights])]
    for a, b in weighted:
        if isinstance(a, layers.BatchNormalization):  # gamma, beta, moving mean, moving variance
            a.set_weights([rng.uniform(0.5, 1.5, w.shape) if i in (0, 3) else rng.normal(0, 0.5, w.shape)
                           for i, w in enumerate(a.get_weights())])
        b.set_weights(a.get_weights())
    x = np.asarray(features, np.float32)
    probs = keras.ops.convert_to_numpy(keras.ops.softmax(ours(x, training=False), axis=-1))
    settings = {}
    for kind, attr in ((layers.Dropout, "rate"), (layers.BatchNormalization, "epsilon"),
                       (layers.BatchNormalization, "momentum")):
        settings[f"{kind.__name__}.{attr}"] = tuple(
            np.array([float(getattr(layer, attr)) for layer in model.layers if isinstance(layer, kind)])
            for model in (ours, literal))
    settings["layer kinds"] = tuple(np.array([sum(1 for layer in model.layers if isinstance(layer, kind))
                                              for kind in (layers.Dense, layers.BatchNormalization, layers.Dropout)])
                                    for model in (ours, literal))
    return {"probabilities": (probs, keras.ops.convert_to_numpy(literal(x, training=False))), **settings}
