"""A folder of JPEGs of different sizes: refused with the knob to set when the recipe has no load-time resize,
trained in both frameworks when it has one (each image resized as the recipe's reader loads it)."""

import numpy as np
import pytest
from PIL import Image

from parity import data
from parity.cli import main
from parity.recipefiles import EXAMPLES_DIR

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
    from parity import datasets

    spec = datasets.DataSpec("folder", str(mixed_tree))
    path = datasets.decoded_file(spec, "pil", (method, 48))
    train, test = datasets.load(spec, path)
    assert train.images.shape == (9, 48, 48, 3) and test.images.shape == (6, 48, 48, 3)
    assert np.isfinite(train.images).all() and 0 <= train.images.min() and train.images.max() <= 255
