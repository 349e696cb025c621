"""A folder of JPEGs of different sizes: refused with the knob to set when the recipe has no load-time resize,
trained in both frameworks when it has one (each image resized as the recipe's reader loads it)."""

import numpy as np
import pytest
from PIL import Image

from parity.components import data
from parity.cli.app import main
from parity.train.recipefiles import EXAMPLES_DIR

SIZES = [(300, 500), (387, 320), (48, 80), (120, 90)]


@pytest.fixture(scope="module")
def mixed_tree(tmp_path_factory):
    root = tmp_path_factory.mktemp("mixed")
    photos = data.sample_photos()
    for split, count in (("train", 3), ("test", 2)):
        for c, name in enumerate(("a", "b", "c")):
            (root / split / name).mkdir(parents=True)
            for k in range(count):
                h, w = SIZES[(c + k) % len(SIZES)]
                top, left = 7 * k + c, 11 * c + k
                Image.fromarray(photos[c % 2, top:top + h, left:left + w]).save(root / split / name / f"{k}.jpg")
    return root


QUICK = ["--seeds", "1", "--quiet", "--set", "epochs=1", "--set", "batch_size=4"]


def test_mixed_sizes_without_a_load_resize_name_the_knob(mixed_tree, tmp_path, capsys):
    assert main(["train", "--recipe", "torch_plain", "--set", "n_classes=3", "--data-dir", str(mixed_tree),
                 "--no-store", "--out", str(tmp_path / "rep"), *QUICK]) == 2
    err = capsys.readouterr().err
    assert "images differ in size" in err and "load_size" in err
    assert not (tmp_path / "rep").exists()


@pytest.mark.parametrize("framework", ["torch", "keras_tf"])
def test_a_mixed_size_folder_trains_in_both_frameworks(framework, mixed_tree, tmp_path, capsys):
    assert main(["train", "--recipe", str(EXAMPLES_DIR / "photo_folder.toml"), "--framework", framework,
                 "--data-dir", str(mixed_tree), "--store", str(tmp_path / "store"), "--out", str(tmp_path / "rep"),
                 *QUICK]) == 0
    assert "photo_folder [" + framework + "]" in capsys.readouterr().out


@pytest.mark.parametrize("method", ["fastai_v2", "tf_resize", "keras_smart_resize"])
def test_the_decoded_file_holds_every_image_at_the_load_size(method, mixed_tree):
    from parity.components import datasets

    spec = datasets.DataSpec("folder", str(mixed_tree))
    path = datasets.decoded_file(spec, "pil", (method, 48))
    train, test = datasets.load(spec, path)
    assert train.images.shape == (9, 48, 48, 3) and test.images.shape == (6, 48, 48, 3)
    assert np.isfinite(train.images).all() and 0 <= train.images.min() and train.images.max() <= 255


def test_a_random_crop_keeps_training_items_as_decoded_and_crops_the_test_split(mixed_tree):
    from parity.components import datasets

    spec = datasets.DataSpec("folder", str(mixed_tree))
    train, test = datasets.load(spec, datasets.decoded_file(spec, "pil", ("fastai_v2", 48, "random")))
    assert train.images.dtype == object and {a.shape[:2] for a in train.images} <= set(SIZES)
    assert test.images.shape == (6, 48, 48, 3)


def test_random_crop_epochs_differ_and_frameworks_agree(mixed_tree):
    """fastai 2's training crop: a new box each epoch, the same box (so the same pixels, within PIL's one-level
    rounding) in torch and keras_tf for one seed and epoch."""
    from dataclasses import replace

    from parity.components import datasets
    from parity.train import training
    from parity.train import recipefiles

    recipe = recipefiles.load(EXAMPLES_DIR / "photo_folder.toml")
    spec = datasets.DataSpec("folder", str(mixed_tree))
    train, _ = datasets.load(spec, datasets.decoded_file(spec, "pil", training.load_for(recipe)))
    torch_0, torch_1 = (training.epoch_inputs(recipe, train.images, 0, e) for e in (0, 1))
    keras_0 = training.epoch_inputs(replace(recipe, framework="keras_tf"), train.images, 0, 0)
    norm = data.get_normalization(recipe.norm)
    one_level = norm.scale / min(norm.std)  # one 0-255 level after normalisation
    assert np.abs(torch_0 - keras_0).max() <= one_level + 1e-6
    assert np.abs(torch_0 - torch_1).max() > 20 * one_level


def test_a_random_crop_needs_fastai_v2_at_load_time(mixed_tree, tmp_path, capsys):
    assert main(["train", "--recipe", "torch_plain", "--set", "n_classes=3", "--set", "load_size=64",
                 "--set", "load_crop=random", "--data-dir", str(mixed_tree), "--no-store",
                 "--out", str(tmp_path / "rep"), *QUICK]) == 2
    err = capsys.readouterr().err
    assert "load_crop='random'" in err and "fastai_v2" in err and not (tmp_path / "rep").exists()
