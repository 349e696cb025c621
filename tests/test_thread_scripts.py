"""The thread's Keras program as an oracle for the recipe that stands for it: parity/examples/thread/
keras_thread.py runs as its author would run it until model.fit, with the ImageNet download replaced by a fresh
ResNet50V2, and every knob of `keras_thread` is read back from the live model, optimizer, loss and data (the
data by behaviour: which of parity's decoder, resize and normalisation reproduce its first batch)."""

from pathlib import Path

import numpy as np
import pytest

import parity
from parity.components import heads, optim
from parity.train import recipes
from thread_capture import changed, image_tree, mismatches, pipelines_that_reproduce, run_until_training, stop_here

SCRIPT = Path(parity.__file__).parent / "examples" / "thread" / "keras_thread.py"
COMPARED = 8  # images of the first batch compared with parity's pipelines


def _head_row(model, base_layers) -> str:
    """The parity head whose fields the layers after the body have (pool order, widths, dropouts, BN)."""
    import keras

    layers = [layer for layer in model.layers if id(layer) not in base_layers]
    pools = {type(layer).__name__: layer for layer in layers if "Pooling" in type(layer).__name__}
    concat = next(layer for layer in layers if isinstance(layer, keras.layers.Concatenate))
    order = [type(t._keras_history.operation).__name__ for t in concat.input]
    pool = {("GlobalAveragePooling2D", "GlobalMaxPooling2D"): "avg_max",
            ("GlobalMaxPooling2D", "GlobalAveragePooling2D"): "max_avg"}[tuple(order)]
    assert set(pools) == set(order)
    dense = [layer for layer in layers if isinstance(layer, keras.layers.Dense)]
    norms = [layer for layer in layers if isinstance(layer, keras.layers.BatchNormalization)]
    drops = [layer for layer in layers if isinstance(layer, keras.layers.Dropout)]
    fields = {"pool": pool, "hidden": tuple(d.units for d in dense[:-1]), "dropout": tuple(d.rate for d in drops),
              "bn": len(norms) == len(dense), "linear_bias": all(d.use_bias for d in dense),
              "bn_eps": norms[0].epsilon, "bn_torch_momentum": round(1 - norms[0].momentum, 12),
              "final_activation": dense[-1].activation.__name__}
    return next((name for name, h in heads.HEADS.items()
                 if all(getattr(h, k) == v for k, v in fields.items())), f"no parity head has {fields}")


def _optimizer_row(opt) -> str:
    import keras

    if type(opt) is not keras.optimizers.Adam:
        return f"no parity row for {type(opt).__name__}"
    fields = {"beta1": opt.beta_1, "beta2": opt.beta_2, "eps": opt.epsilon, "eps_style": "keras",
              "weight_decay": opt.weight_decay or 0.0}
    return next((name for name, row in optim.OPTIMIZERS.items()
                 if all(getattr(row, k) == v for k, v in fields.items())), f"no parity row has {fields}")


@pytest.fixture(scope="module")
def captured(tmp_path_factory):
    """Every knob of a recipe, read from the thread's Keras program stopped at model.fit."""
    import keras
    import tensorflow as tf

    tree = image_tree(tmp_path_factory.mktemp("cifar"))
    reader, body, read = keras.utils.image_dataset_from_directory, keras.applications.resnet_v2.ResNet50V2, []

    def in_file_order(directory, **kwargs):  # the program's own arguments, and file order to compare batches
        read.append((directory, kwargs))
        return reader(directory, **{**kwargs, "shuffle": False})

    def no_download(*args, weights="imagenet", **kwargs):
        read.append(("weights", weights))
        read.append(("body", body(*args, weights=None, **kwargs)))
        return read[-1][1]

    with pytest.MonkeyPatch.context() as mp:
        for namespace in (keras, tf.keras):
            mp.setattr(namespace.utils, "image_dataset_from_directory", in_file_order)
            mp.setattr(namespace.applications.resnet_v2, "ResNet50V2", no_download)
        mp.setattr(keras.Model, "fit", stop_here)
        stopped = run_until_training(SCRIPT, str(tree))
    model, train = stopped.obj, stopped.args[0]
    base = next(b for what, b in read if what == "body")
    base_layers = {id(layer) for layer in base.layers}
    images, _ = next(iter(train))
    dense = [layer for layer in model.layers if isinstance(layer, keras.layers.Dense)]
    paths = sorted(str(p) for p in (tree / "train").glob("*/*.jpg"))[:COMPARED]
    frozen = all(not layer.trainable for layer in model.layers if id(layer) in base_layers)
    knobs = {
        "framework": "keras_tf" if keras.backend.backend() == "tensorflow" else "keras_torch",
        "size": int(images.shape[1]),
        "body": "resnet50v2_keras" if base.name == "resnet50v2" else f"? {base.name}",
        "head": _head_row(model, base_layers),
        "init": {"GlorotUniform": "glorot_uniform", "HeNormal": "keras_he_normal"}.get(
            type(dense[0].kernel_initializer).__name__, type(dense[0].kernel_initializer).__name__),
        "bn_policy": "frozen" if frozen else "train_bn",
        "optimizer": _optimizer_row(model.optimizer),
        "lr": float(f"{float(model.optimizer.learning_rate):.6g}"),  # a float32 variable, read back
        "schedule": "constant" if not isinstance(model.optimizer._learning_rate,
                                                 keras.optimizers.schedules.LearningRateSchedule) else "?",
        "loss": "keras_softmax" if model.loss == "sparse_categorical_crossentropy"
        and dense[-1].activation.__name__ == "softmax" else f"? {model.loss}",
        "batch_size": read[0][1]["batch_size"],
        "epochs": stopped.kwargs["epochs"],
        "drop_last": train.element_spec[0].shape[0] is not None,  # batch(drop_remainder=True) fixes it
        "n_classes": dense[-1].units,
        **pipelines_that_reproduce(paths, np.asarray(images)[:COMPARED], int(images.shape[1]), "keras_tf", 1e-6),
    }
    return {"knobs": knobs, "weights": [w for what, w in read if what == "weights"]}


def test_the_keras_program_is_the_keras_thread_recipe(captured):
    assert captured["weights"] == ["imagenet"]  # the download it asked for, intercepted
    assert set(captured["knobs"]) >= set(recipes.KNOBS) - {"load_size", "load_resize", "load_crop"}
    assert mismatches(captured["knobs"], recipes.get_recipe("keras_thread")) == {}
    assert recipes.diff(recipes.get_recipe("keras_thread"), recipes.get_recipe("keras_thread_64")) == {
        "size": (224, 64)}


@pytest.mark.parametrize("knob", [k for k in recipes.KNOBS if k not in ("load_size", "load_resize", "load_crop")])
def test_a_changed_knob_of_keras_thread_64_is_seen(captured, knob):
    """keras_thread_64 is the program at 64 px: any other knob changed is a mismatch named by that knob."""
    program = {**captured["knobs"], "size": 64}
    assert mismatches(program, recipes.get_recipe("keras_thread_64")) == {}
    assert list(mismatches(program, changed(recipes.get_recipe("keras_thread_64"), knob))) == [knob]
