"""Reading a Keras 3 model stopped at `model.fit` into knobs: the body (a keras.applications model, found by the
intercepted weights or as the nested model, identified by its tensor shapes), what of it trains, the head after
it layer by layer, the optimizer and its schedule, the loss, fit's epochs, and the data from
image_dataset_from_directory and the model's own preprocessing layers (augmentation layers are listed)."""

from __future__ import annotations

from parity.capture import bodies
from parity.capture.match import row
from parity.capture.read_torch import image_batch
from parity.capture.record import Capture
from parity.components import heads, optim

PREPROCESSING = {"Rescaling", "Resizing", "Normalization", "CenterCrop"}
AUGMENTATION_PREFIX = "Random"
_INITS = {"GlorotUniform": "glorot_uniform", "HeNormal": "keras_he_normal"}
_KERAS_OPTIMIZERS = {"Adam", "AdamW"}


def read(cap: Capture, stop, session) -> None:
    import keras

    model = stop.obj
    a = stop.arguments
    cap.library = "keras"
    cap.stopped_at = f"model.fit(epochs={a.get('epochs')!r}) at {stop.where}"
    backend = keras.backend.backend()
    framework = {"tensorflow": "keras_tf", "torch": "keras_torch", "jax": "keras_jax"}.get(backend)
    cap.add("framework", framework, f"keras.backend.backend() = {backend!r}")
    body, inner = _body(model, session)
    if body is None:
        cap.unread["body"] = "no keras.applications body found (no nested model, no intercepted weights)"
        return
    _read_body(cap, body)
    before, after = _split(model, body)
    _bn_policy(cap, body)
    dense = _head(cap, after)
    _optimizer(cap, model.optimizer)
    _loss(cap, model, dense, backend)
    cap.add("epochs", int(a.get("epochs", 1)), f"model.fit(epochs={a.get('epochs')!r})")
    for key in ("class_weight", "sample_weight"):
        if a.get(key) is not None:
            cap.note(key.replace("_", " "), f"model.fit({key}=...): parity weighs every sample equally")
    for cb in a.get("callbacks") or []:
        cap.note(f"callback {type(cb).__name__}", f"model.fit(callbacks=[{type(cb).__name__}(...)]): parity's "
                 f"training loop has no such step")
    _data(cap, a, session, before, _feeder(model, body, inner))


def _feeder(model, body, nested: bool):
    """The model from the program's inputs to the body's input (its preprocessing layers and ops), or None when
    the body's layers are the model's own (its input is the model's input)."""
    import keras

    if not nested:
        return None
    for node in body._inbound_nodes:
        try:
            return keras.Model(model.inputs, node.input_tensors[0])
        except (ValueError, AttributeError):  # a node of another graph (the body built on its own input)
            continue
    return None


def _flat_layers(model) -> list:
    return list(model._flatten_layers(include_self=False, recursive=False))


def _body(model, session):
    """The body: the keras.applications model whose weights were intercepted, else the nested model with the
    most weights (a preprocessing Sequential has few or none)."""
    import keras

    nested = [layer for layer in _flat_layers(model) if isinstance(layer, keras.Model)]
    asked = [b for b in session.keras_bodies if any(b is n for n in nested)] or session.keras_bodies
    if asked:
        return asked[-1], any(asked[-1] is n for n in nested)
    if nested:
        return max(nested, key=lambda n: len(n.weights)), True
    return None, False


def _read_body(cap: Capture, body) -> None:
    shapes = [tuple(w.shape) for w in body.weights]
    name, nearest, score = bodies.identify(shapes, "keras")
    if name is None:
        cap.unread["body"] = (f"keras model {body.name!r} with {len(shapes)} tensors is no body parity mirrors; the "
                              f"closest is {nearest} ({100 * score:.0f}% of tensor shapes shared)")
    else:
        cap.add("body", name, f"keras model {body.name!r}: its {len(shapes)} tensor shapes are parity's {name}")


def _split(model, body) -> tuple[list, list]:
    """(the layers before the body, the layers after it), the body left out whether it is nested or its
    layers are the model's own; other nested models (a preprocessing Sequential) are opened."""
    import keras

    body_ids = {id(layer) for layer in _flat_layers(body)} | {id(body)}
    before, after, seen = [], [], False

    def walk(layers):
        nonlocal seen
        for layer in layers:
            if id(layer) in body_ids:
                seen = True
            elif isinstance(layer, keras.Model):
                walk(_flat_layers(layer))
            elif not isinstance(layer, keras.layers.InputLayer):
                (after if seen else before).append(layer)

    walk(_flat_layers(model))
    return before, after


def _bn_policy(cap: Capture, body) -> None:
    import keras

    flat = [layer for layer in body._flatten_layers(include_self=False) if layer.weights]
    norm = [layer for layer in flat if isinstance(layer, keras.layers.BatchNormalization)]
    other = [layer for layer in flat if layer not in norm]
    trains_bn, trains_other = sum(layer.trainable for layer in norm), sum(layer.trainable for layer in other)
    seen = f"{trains_bn}/{len(norm)} BN layers and {trains_other}/{len(other)} other body layers trainable"
    if not body.trainable or (trains_bn == 0 and trains_other == 0):
        cap.add("bn_policy", "frozen", f"body.trainable = False: {seen} (BN in inference mode)")
    elif trains_bn == len(norm) and trains_other == 0:
        cap.add("bn_policy", "train_bn", f"only the body's BN layers trainable: {seen}")
    else:
        cap.add("bn_policy", "train_bn", seen, approximate=True)
        cap.note("body training", f"{seen}: parity's BN policies train all of the body's BN and none of the rest "
                 f"(train_bn), or none of it")


def _head(cap: Capture, after: list):
    import keras

    pools = [type(layer).__name__ for layer in after if "Pooling" in type(layer).__name__]
    concat = next((layer for layer in after if isinstance(layer, keras.layers.Concatenate)), None)
    if concat is not None:
        order = tuple(type(t._keras_history.operation).__name__ for t in concat.input)
    else:
        order = tuple(pools)
    pool = {("GlobalAveragePooling2D", "GlobalMaxPooling2D"): "avg_max",
            ("GlobalMaxPooling2D", "GlobalAveragePooling2D"): "max_avg", ("GlobalAveragePooling2D",): "avg"}.get(order)
    dense = [layer for layer in after if isinstance(layer, keras.layers.Dense)]
    norms = [layer for layer in after if isinstance(layer, keras.layers.BatchNormalization)]
    drops = [layer for layer in after if isinstance(layer, keras.layers.Dropout)]
    if not dense or pool is None:
        names = ", ".join(type(x).__name__ for x in after)
        cap.unread["head"] = f"the layers after the body ({names}) are no parity head"
        return dense
    fields = {"pool": pool, "hidden": tuple(d.units for d in dense[:-1]),
              "dropout": tuple(d.rate for d in drops) or (0.0,) * len(dense),
              "bn": bool(norms) and len(norms) == len(dense),
              "linear_bias": all(d.use_bias for d in dense)}
    if norms:
        fields.update(bn_eps=norms[0].epsilon, bn_torch_momentum=round(1 - norms[0].momentum, 12))
    fields["final_activation"] = dense[-1].activation.__name__ if dense[-1].activation.__name__ != "linear" else "none"
    shown = " -> ".join(type(x).__name__ + (f"({x.units})" if isinstance(x, keras.layers.Dense) else "")
                        for x in after)
    name, differs = row(heads.HEADS, {k: v for k, v in fields.items() if k != "final_activation"}, "head")
    cap.add("head", name, f"the layers after the body: {shown}", approximate=bool(differs))
    if differs:
        cap.note("head", f"{shown}: {'; '.join(differs)}")
    kernel = type(dense[0].kernel_initializer).__name__
    cap.add("init", _INITS.get(kernel, "glorot_uniform"), f"Dense(kernel_initializer={kernel})",
            approximate=kernel not in _INITS)
    if kernel not in _INITS:
        cap.note("head init", f"Dense(kernel_initializer={kernel}): no parity initialiser")
    cap.add("n_classes", int(dense[-1].units), f"the last Dense: units={dense[-1].units}")
    return dense


def _optimizer(cap: Capture, opt) -> None:
    import keras

    kind = type(opt).__name__
    source = f"model.optimizer = keras.optimizers.{kind}"
    schedule = opt._learning_rate if isinstance(opt._learning_rate,
                                                keras.optimizers.schedules.LearningRateSchedule) else None
    if kind not in _KERAS_OPTIMIZERS:
        cap.add("optimizer", "keras_adam", f"{source}: parity mirrors Adam variants only", approximate=True)
        cap.note("optimizer", f"keras.optimizers.{kind}: no parity optimizer row (Adam and AdamW are mirrored)")
    else:
        wd = float(opt.weight_decay or 0.0)
        fields = {"beta1": opt.beta_1, "beta2": opt.beta_2, "eps": opt.epsilon, "eps_style": "keras",
                  "weight_decay": wd, "decay_mode": "decoupled" if wd else "none"}
        name, differs = row(optim.OPTIMIZERS, fields, "optimizer")
        shown = ", ".join(f"{k}={v!r}" for k, v in
                          (("beta_1", opt.beta_1), ("beta_2", opt.beta_2), ("epsilon", opt.epsilon),
                           ("weight_decay", wd)))
        cap.add("optimizer", name, f"{source}({shown})", approximate=bool(differs))
        if differs:
            cap.note("optimizer", f"keras.optimizers.{kind}: {'; '.join(differs)}")
        if getattr(opt, "amsgrad", False):
            cap.note("amsgrad", f"keras.optimizers.{kind}(amsgrad=True): parity's Adam rows have no amsgrad")
    for attr in ("clipnorm", "clipvalue", "global_clipnorm", "gradient_accumulation_steps"):
        if getattr(opt, attr, None):
            cap.note(f"optimizer {attr}", f"{source}({attr}={getattr(opt, attr)!r}): parity clips and "
                     f"accumulates nothing")
    if getattr(opt, "use_ema", False):
        cap.note("optimizer use_ema", f"{source}(use_ema=True): parity keeps no moving average of the weights")
    if schedule is None:
        lr = float(f"{float(opt.learning_rate):.6g}")  # a float32 variable read back
        cap.add("lr", lr, f"{source}(learning_rate={lr!r})")
        cap.add("schedule", "constant", f"{source}: a fixed learning_rate")
        return
    config = schedule.get_config()
    start = float(config.get("initial_learning_rate", 0.0) or 0.0)
    cap.add("lr", start, f"{type(schedule).__name__}(initial_learning_rate={start!r})", approximate=True)
    cap.add("schedule", "constant", f"keras.optimizers.schedules.{type(schedule).__name__}: no parity schedule",
            approximate=True)
    shown = ", ".join(f"{k}={v!r}" for k, v in config.items() if k != "name")
    cap.note("schedule", f"keras.optimizers.schedules.{type(schedule).__name__}({shown}): parity's schedules are "
             f"constant and fastai's one-cycle; the recipe runs its initial LR throughout")


def _loss(cap: Capture, model, dense: list, backend: str) -> None:
    loss = model.loss
    name = loss if isinstance(loss, str) else type(loss).__name__
    config = loss.get_config() if hasattr(loss, "get_config") else {}
    logits = bool(config.get("from_logits", False))
    softmax = bool(dense) and dense[-1].activation.__name__ == "softmax"
    if not name.lower().replace("_", "").endswith(("categoricalcrossentropy", "crossentropy")) and \
            name not in ("sparse_categorical_crossentropy", "categorical_crossentropy"):
        cap.unread["loss"] = f"model.loss = {name}: no parity loss"
        return
    if logits and not softmax:
        cap.add("loss", "ce_logits", f"model.loss = {name}(from_logits=True) on the last Dense's logits")
    elif softmax and not logits:
        value = "keras_softmax" if backend == "tensorflow" else "keras_clipped"
        cap.add("loss", value, f"model.loss = {name!r} on the last Dense's softmax ({backend} backend)")
    else:
        cap.add("loss", "ce_logits", f"model.loss = {name}(from_logits={logits}) after {dense[-1].activation.__name__}"
                if dense else name, approximate=True)
        cap.note("loss", f"{name}(from_logits={logits}) on a {dense[-1].activation.__name__ if dense else '?'} "
                 f"output: no parity loss")
    if config.get("label_smoothing"):
        cap.note("label smoothing", f"{name}(label_smoothing={config['label_smoothing']}): parity's losses have none")


def _data(cap: Capture, a: dict, session, before: list, feeder) -> None:
    import numpy as np

    x = a.get("x")
    reader = _reader_of(x, session)
    if reader is None:
        cap.unread["batch_size"] = "model.fit's x is not read from keras.utils.image_dataset_from_directory"
        return
    directory, kwargs, dataset = reader
    batch_size = kwargs.get("batch_size", 32)
    cap.add("batch_size", int(batch_size), f"image_dataset_from_directory({directory!r}, batch_size={batch_size})")
    fixed = x.element_spec[0].shape[0] is not None
    cap.add("drop_last", bool(fixed), "the training dataset's batch dimension is " +
            ("fixed (batch(drop_remainder=True))" if fixed else "None (the last partial batch is kept)"))
    if not kwargs.get("shuffle", True):
        cap.note("shuffle", "image_dataset_from_directory(shuffle=False): parity shuffles the training set every epoch")
    for layer in before:
        kind = type(layer).__name__
        if kind.startswith(AUGMENTATION_PREFIX):
            cap.note(f"augmentation: {kind}", f"the model's {kind} layer: parity's data pipelines have no augmentation")
        elif kind not in PREPROCESSING:
            cap.note(f"layer {kind}", f"the model's {kind} layer before the body: parity has no such step")
    images, _ = next(iter(x))
    images = np.asarray(images if feeder is None else feeder(images, training=False))
    size = int(images.shape[1]) if images.shape[1] == images.shape[2] else None
    read_side = tuple(kwargs.get("image_size", (256, 256)))
    steps = [f"image_dataset_from_directory(image_size={read_side})"]
    if tuple(np.asarray(next(iter(dataset))[0]).shape[1:3]) != tuple(np.asarray(next(iter(x))[0]).shape[1:3]):
        steps.append("the program's dataset.map")
    steps += [f"{type(layer).__name__}" for layer in before if type(layer).__name__ in PREPROCESSING]
    cap.add("size", size, f"the images at the body's input ({size} px): " + " -> ".join(steps))
    interpolation, crop = kwargs.get("interpolation", "bilinear"), kwargs.get("crop_to_aspect_ratio", False)
    side = tuple(kwargs.get("image_size", (256, 256)))
    cap.batch = image_batch(images, list(dataset.file_paths), "model.fit's first batch, files in order")
    if any(type(layer).__name__ == "Resizing" for layer in before):
        cap.batch["hints"] = {"resize": "keras_resizing"}  # the method the program's code names
    cap.batch["load"] = {"side": list(side), "interpolation": interpolation, "crop_to_aspect_ratio": bool(crop),
                         "source": f"image_dataset_from_directory(image_size={side}, interpolation={interpolation!r}, "
                                   f"crop_to_aspect_ratio={crop})"}


def _reader_of(x, session):
    """The recorded image_dataset_from_directory call whose dataset `x` comes from (same number of batches)."""
    try:
        batches = int(x.cardinality())
    except (AttributeError, TypeError):
        return None
    for reader in session.keras_readers:
        if int(reader[2].cardinality()) == batches:
            return reader
    return None

