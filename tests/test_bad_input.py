"""Bad input: a clear error naming the thing and the value, exit code 2, and no report folder left behind."""

import shutil
import urllib.error
import urllib.request

import numpy as np
import pytest

from parity import data, resize
from parity.cli import main
from parity.errors import ParityError
from parity.frameworks import mirror

SIDES = pytest.mark.parametrize("side", [0, 1], ids=["torch", "keras"])


@pytest.fixture
def tree(tmp_path, check_context):
    root = tmp_path / "tree"
    shutil.copytree(check_context.small_tree, root)
    return root


@SIDES
def test_missing_folder(side, tmp_path):
    with pytest.raises(ParityError, match=r"data folder '.*nope' does not exist"):
        mirror("data")[side].load_image_folder(tmp_path / "nope", "train")


@SIDES
def test_missing_split(side, tree):
    shutil.rmtree(tree / "test")
    with pytest.raises(ParityError, match=r"has no 'test' subfolder"):
        mirror("data")[side].load_image_folder(tree, "test")


@SIDES
def test_empty_class_folder(side, tree):
    (tree / "train" / "horse").mkdir()
    with pytest.raises(ParityError, match=r"class folder '.*horse' holds no image files"):
        mirror("data")[side].load_image_folder(tree, "train")


@SIDES
def test_corrupt_image(side, tree):
    (tree / "train" / "dog" / "0000.jpg").write_bytes(b"\xff\xd8 this is not a jpeg")
    with pytest.raises(ParityError, match=r"cannot decode image file '.*dog/0000.jpg'"):
        mirror("data")[side].load_image_folder(tree, "train")


@SIDES
def test_non_image_file(side, tree):
    (tree / "train" / "cat" / "notes.txt").write_text("hello")
    with pytest.raises(ParityError, match=r"file '.*notes.txt' is not an image type both frameworks read"):
        mirror("data")[side].load_image_folder(tree, "train")


def test_different_class_sets(tree):
    shutil.rmtree(tree / "test" / "ship")
    train, test = data.list_image_folder(tree, "train"), data.list_image_folder(tree, "test")
    with pytest.raises(ParityError, match=r"only in train: \['ship'\]; only in test: \[\]"):
        data.check_same_classes(train, test)


@SIDES
def test_unknown_resize_method(side):
    with pytest.raises(ParityError, match=r"resize method 'bicubic2' is not one of: fastai_v1, "):
        mirror("resize")[side].resize(np.zeros((1, 4, 4, 3), np.float32), 8, "bicubic2")
    with pytest.raises(ParityError, match=r"resize method 'bicubic2'"):
        resize.reference_resize(np.zeros((1, 4, 4, 3)), 8, "bicubic2")


@SIDES
@pytest.mark.parametrize("size", [0, (4,), "64", (3, -1)])
def test_bad_resize_size(side, size):
    with pytest.raises(ParityError, match=r"resize size .* is not a positive int"):
        mirror("resize")[side].resize(np.zeros((1, 4, 4, 3), np.float32), size, "tf_resize")


@SIDES
def test_bad_image_shape(side):
    with pytest.raises(ParityError, match=r"images must be NHWC with 1 or 3 channels, got shape \(4, 4, 3\)"):
        mirror("resize")[side].resize(np.zeros((4, 4, 3), np.float32), 8, "tf_resize")


@SIDES
def test_unknown_normalisation_mode(side):
    with pytest.raises(ParityError, match=r"normalisation mode 'imagenet' is not one of: caffe, none, tf, torch"):
        mirror("data")[side].normalize(np.zeros((1, 2, 2, 3), np.float32), "imagenet")


def test_decoder_torch_cannot_express():
    with pytest.raises(ParityError, match=r"decoder 'tf_fast' cannot be expressed in torch_impl"):
        mirror("data")[0].decode_image(data.sample_photo_paths()[0], "tf_fast")


@SIDES
def test_cifar_download_offline_is_a_clear_error(side, tmp_path, monkeypatch):
    def offline(*args, **kwargs):
        raise urllib.error.URLError("network is unreachable")

    monkeypatch.setattr(urllib.request, "urlopen", offline)
    monkeypatch.setattr(urllib.request, "urlretrieve", offline)
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    with pytest.raises(ParityError, match=r"CIFAR-10 .* download failed .*--data-dir"):
        mirror("data")[side].download_cifar10(tmp_path / "cache")


@pytest.mark.parametrize("argv, message", [
    (["check", "--only", "resize,bogus"], "component 'bogus' is not one of: accuracy, data, grad, init, loss, model, optim, resize, schedule, train"),
    (["check", "--only", "data", "--data-dir", "/no/such/dir"], "data folder '/no/such/dir' does not exist"),
])
def test_cli_bad_usage_exits_2_without_output(argv, message, tmp_path, capsys):
    out = tmp_path / "report"
    assert main(argv + ["--out", str(out)]) == 2
    assert message in capsys.readouterr().err
    assert not out.exists() and list(tmp_path.iterdir()) == []


def test_cli_unknown_option_exits_2(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["check", "--bogus"])
    assert exit_info.value.code == 2


@SIDES
@pytest.mark.parametrize("knobs, message", [
    ((8, "bicubic2", "torch"), "resize method 'bicubic2'"),
    ((8, "tf_resize", "imagenet"), "normalisation mode 'imagenet'"),
])
def test_loader_checks_knobs_before_the_first_batch(side, knobs, message):
    images = np.zeros((4, 4, 4, 3), np.float32)
    with pytest.raises(ParityError, match=message):
        mirror("data")[side].make_loader(images, np.arange(4), data.batch_order(4, 2, 0), *knobs)
