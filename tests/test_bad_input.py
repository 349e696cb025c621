"""Bad input: a clear error naming the thing and the value (and, for a backend that cannot express a method,
the backend and the method), exit code 2, and no report folder left behind."""

import shutil
import urllib.error
import urllib.request

import numpy as np
import pytest

from conftest import BACKENDS
from parity.components import data, resize
from parity.runtime.backends import Unsupported
from parity.cli.app import main
from parity.core.errors import ParityError


@pytest.fixture
def tree(tmp_path, check_context):
    root = tmp_path / "tree"
    shutil.copytree(check_context.small_tree, root)
    return root


@BACKENDS
def test_missing_folder(backend, tmp_path):
    with pytest.raises(ParityError, match=r"data folder '.*nope' does not exist"):
        data.read_image_folder(tmp_path / "nope", "train", "pil", on=backend)


@BACKENDS
def test_missing_split(backend, tree):
    shutil.rmtree(tree / "test")
    with pytest.raises(ParityError, match=r"has no 'test' subfolder"):
        data.read_image_folder(tree, "test", "pil", on=backend)


@BACKENDS
def test_empty_class_folder(backend, tree):
    (tree / "train" / "horse").mkdir()
    with pytest.raises(ParityError, match=r"class folder '.*horse' holds no image files"):
        data.read_image_folder(tree, "train", "pil", on=backend)


@BACKENDS
def test_corrupt_image(backend, tree):
    (tree / "train" / "dog" / "0000.jpg").write_bytes(b"\xff\xd8 this is not a jpeg")
    with pytest.raises(ParityError, match=r"cannot decode image file '.*dog/0000.jpg'"):
        data.read_image_folder(tree, "train", "pil", on=backend)


@BACKENDS
def test_non_image_file(backend, tree):
    (tree / "train" / "cat" / "notes.txt").write_text("hello")
    with pytest.raises(ParityError, match=r"file '.*notes.txt' is not an image type both frameworks read"):
        data.read_image_folder(tree, "train", "pil", on=backend)


def test_different_class_sets(tree):
    shutil.rmtree(tree / "test" / "ship")
    train, test = data.list_image_folder(tree, "train"), data.list_image_folder(tree, "test")
    with pytest.raises(ParityError, match=r"only in train: \['ship'\]; only in test: \[\]"):
        data.check_same_classes(train, test)


def test_unknown_resize_method():
    with pytest.raises(ParityError, match=r"resize method 'bicubic2' is not one of: fastai_v1, "):
        resize.resize(np.zeros((1, 4, 4, 3), np.float32), 8, "bicubic2", on="torch")
    with pytest.raises(ParityError, match=r"resize method 'bicubic2'"):
        resize.reference_resize(np.zeros((1, 4, 4, 3)), 8, "bicubic2")


def test_unimplemented_method_names_the_backend_and_the_method():
    """keras.ops cannot express fastai 1's grid_sample: an error, never a silent half-pixel bilinear."""
    with pytest.raises(Unsupported, match=r"backend 'keras_torch' does not implement resize 'fastai_v1': keras.ops"):
        resize.resize(np.zeros((1, 4, 4, 3), np.float32), 8, "fastai_v1", on="keras_torch")
    with pytest.raises(ParityError, match=r"backend 'tensorflow' is not one of: keras_jax, keras_tf, keras_torch, torch"):
        resize.resize(np.zeros((1, 4, 4, 3), np.float32), 8, "tf_resize", on="tensorflow")


@pytest.mark.parametrize("size", [0, (4,), "64", (3, -1)])
def test_bad_resize_size(size):
    with pytest.raises(ParityError, match=r"resize size .* is not a positive int"):
        resize.resize(np.zeros((1, 4, 4, 3), np.float32), size, "tf_resize", on="torch")


def test_bad_image_shape():
    with pytest.raises(ParityError, match=r"images must be NHWC with 1 or 3 channels, got shape \(4, 4, 3\)"):
        resize.resize(np.zeros((4, 4, 3), np.float32), 8, "tf_resize", on="keras_tf")


def test_unknown_normalisation_mode():
    with pytest.raises(ParityError, match=r"normalisation mode 'imagenet' is not one of: caffe, none, tf, torch"):
        data.normalize(np.zeros((1, 2, 2, 3), np.float32), "imagenet", on="torch")


def test_decoder_torch_cannot_express():
    with pytest.raises(Unsupported, match=r"backend 'torch' does not implement decoder 'tf_fast'"):
        data.decode_image(data.sample_photo_paths()[0], "tf_fast", on="torch")


@pytest.mark.parametrize("module", ["torch_impl.data", "keras_impl.data"])
def test_cifar_download_offline_is_a_clear_error(module, tmp_path, monkeypatch):
    """In this process (the worker's code, offline by monkeypatch): a download failure names --data-dir."""
    import importlib

    def offline(*args, **kwargs):
        raise urllib.error.URLError("network is unreachable")

    monkeypatch.setattr(urllib.request, "urlopen", offline)
    monkeypatch.setattr(urllib.request, "urlretrieve", offline)
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    with pytest.raises(ParityError, match=r"CIFAR-10 .* download failed .*--data-dir"):
        importlib.import_module(module).download_cifar10(tmp_path / "cache")


@pytest.mark.parametrize("argv, message", [
    (["check", "--only", "resize,bogus"], "component or case id 'bogus' is not one of: accuracy, data, grad, head, init, loss, "
                                          "model, optim, resize, schedule, spec, train"),
    (["check", "--only", "data", "--data-dir", "/no/such/dir"], "data folder '/no/such/dir' does not exist"),
    (["check", "--only", "data", "--backends", "torch,jax"], "backend 'jax' is not one of"),
    (["check", "--only", "data", "--backends", "torch"], "--backends needs at least two different backends"),
    (["sweep", "--recipes", "torch_plain,keras_thread_64", "--over", "epochs=2,3", "--screen-at", "epochs=1"],
     "--screen-at and --confirm shape the attribution of --bisect-at points; give --bisect-at"),
    (["sweep", "--recipes", "torch_plain,keras_thread_64", "--over", "epochs=2,3", "--bisect-at", "3",
      "--screen-at", "epochs=3"], "--screen-at epochs=3 is not below the recipes' 3 epochs"),
    (["thread", "--confirm", "2"], "--confirm 2 caps the factors a screen carries to full size: give --screen-at"),
    (["bisect", "--from", "fastai_v1_fit", "--to", "keras_thread_64", "--screen-at", "size=8"],
     "--screen-at takes train_per_class=N, test_per_class=N, epochs=N; got 'size=8'"),
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


@BACKENDS
@pytest.mark.parametrize("knobs, message", [
    ((8, "bicubic2", "torch"), "resize method 'bicubic2'"),
    ((8, "tf_resize", "imagenet"), "normalisation mode 'imagenet'"),
])
def test_loader_checks_knobs_before_the_first_batch(backend, knobs, message):
    images = np.zeros((4, 4, 4, 3), np.float32)
    with pytest.raises(ParityError, match=message):
        data.loader_batches(images, np.arange(4), data.batch_order(4, 2, 0), *knobs, on=backend)


# --- every numeric option and knob at 0, negative, huge, NaN and non-numeric: exit 2 naming it, nothing written

BAD_NUMBERS = ("0", "-1", "1000000000000", "nan", "x")
# (command line before the option, the option) for every numeric option of the training commands
NUMERIC_OPTIONS = [
    (["bisect", "--from", "fastai_v1_fit", "--to", "keras_thread_64"], "--top"),
    (["bisect", "--from", "fastai_v1_fit", "--to", "keras_thread_64"], "--permutations"),
    (["sweep", "--recipes", "torch_plain,keras_thread_64", "--over", "epochs=1,2", "--bisect-at", "1"],
     "--permutations"),
    (["train", "--recipe", "torch_plain"], "--workers"),
    (["train", "--recipe", "torch_plain"], "--seeds"),
    (["train", "--recipe", "torch_plain"], "--train-per-class"),
    (["train", "--recipe", "torch_plain"], "--test-per-class"),
    (["equivalence"], "--margin"),
    (["thread"], "--equivalence-seeds"),
    (["thread"], "--top"),
    (["bisect", "--from", "fastai_v1_fit", "--to", "keras_thread_64"], "--budget"),
    (["bisect", "--from", "fastai_v1_fit", "--to", "keras_thread_64", "--screen-at", "epochs=1"], "--confirm"),
    (["sweep", "--recipes", "torch_plain,keras_thread_64", "--over", "epochs=2,3", "--bisect-at", "3",
      "--screen-at", "train_per_class=5"], "--confirm"),
    (["thread", "--screen-at", "train_per_class=5"], "--confirm"),
]
NUMERIC_KNOBS = ("size", "load_size", "batch_size", "epochs", "n_classes", "lr")


def _exit_and_error(argv, capsys) -> tuple[int, str]:
    """main's exit code and stderr; argparse's own refusals (a non-numeric int) exit through SystemExit."""
    try:
        code = main(argv)
    except SystemExit as stop:
        code = stop.code
    return code, capsys.readouterr().err


def _refused(argv, tmp_path, capsys, *named) -> None:
    out, store = tmp_path / "rep", tmp_path / "store"
    code, err = _exit_and_error([*argv, "--store", str(store), "--out", str(out)], capsys)
    assert code == 2, err
    assert "Traceback" not in err and all(n in err for n in named), err
    assert not out.exists() and not store.exists()


@pytest.mark.parametrize("value", BAD_NUMBERS)
@pytest.mark.parametrize("command, option", NUMERIC_OPTIONS, ids=lambda v: v if isinstance(v, str) else v[0])
def test_numeric_option_out_of_range_exits_2_naming_it(command, option, value, tmp_path, capsys):
    if option == "--seeds" and value == "0":
        value = "0,0"  # '0' alone is a count of zero; a listed seed 0 is fine, twice is not
    _refused([*command, option, value], tmp_path, capsys, option)


@pytest.mark.parametrize("value", BAD_NUMBERS + ("100000",))
@pytest.mark.parametrize("knob", NUMERIC_KNOBS)
def test_numeric_knob_out_of_range_exits_2_from_set_and_from_a_file(knob, value, tmp_path, capsys):
    if knob == "lr" and value in ("1000000000000", "100000"):
        pytest.skip("any positive finite lr is a recipe (a huge one diverges, and is recorded as diverged)")
    _refused(["train", "--recipe", "keras_thread_64", "--set", f"{knob}={value}"], tmp_path, capsys, knob, value)
    toml_value = {"nan": "nan", "x": '"x"'}.get(value, value)
    recipe = tmp_path / "r.toml"
    recipe.write_text(f'base = "keras_thread_64"\n{knob} = {toml_value}\n')
    _refused(["train", "--recipe", str(recipe)], tmp_path, capsys, knob, str(recipe))


def test_images_smaller_than_the_body_are_refused_naming_body_minimum_and_size(tmp_path, capsys):
    _refused(["train", "--recipe", "keras_thread_64", "--set", "size=none"], tmp_path, capsys,
             "body 'efficientnet_lite0' takes images of at least 32 px, and its images are 8 px")


def test_a_run_that_would_not_fit_in_memory_is_refused_with_the_figure(tmp_path, capsys):
    _refused(["train", "--recipe", "fastai_v1_fit", "--set", "size=4096"], tmp_path, capsys,
             "recipe 'fastai_v1_fit' at 4096 px needs about", "GiB", "more than this machine's")


def test_a_run_out_of_memory_is_one_line_naming_the_run(monkeypatch):
    from parity.components import datasets
    from parity.train import recipes, training

    class ResourceExhaustedError(Exception):  # TensorFlow's name for it
        pass

    for exc in (MemoryError(), ResourceExhaustedError("OOM when allocating tensor with shape[64,32,2048,2048]"),
                RuntimeError("[enforce fail at alloc_cpu.cpp:119] DefaultCPUAllocator: can't allocate memory")):
        def fail(*args, exc=exc):
            raise exc

        monkeypatch.setattr(training, "_run", fail)
        with pytest.raises(ParityError, match=r"run torch_plain \[torch\] seed 3 ran out of memory at size 64, "
                                              r"batch 64 \(\w+"):
            training.run_here(recipes.get_recipe("torch_plain"), datasets.DataSpec(), 3, "resnet18", None, None)
    monkeypatch.setattr(training, "_run", lambda *a: (_ for _ in ()).throw(ValueError("not memory")))
    with pytest.raises(ValueError, match="not memory"):
        training.run_here(recipes.get_recipe("torch_plain"), datasets.DataSpec(), 3, "resnet18", None, None)


@pytest.mark.parametrize("option, value, message", [
    ("--test-per-class", "175", "--test-per-class 175: class '8' of the digits holds 174 images, 87 of them left"),
    ("--train-per-class", "174", "--train-per-class 174: class '8' of the digits holds 174 images"),
])
def test_more_images_per_class_than_the_data_holds_names_the_class(option, value, message, tmp_path, capsys):
    _refused(["train", "--recipe", "torch_plain", option, value], tmp_path, capsys, message)


def test_more_images_per_class_than_a_folder_holds_names_the_class(tree, tmp_path, capsys):
    per_class = {c.name: len(list(c.iterdir())) for c in (tree / "test").iterdir()}
    fewest = min(per_class, key=lambda c: (per_class[c], c))
    _refused(["train", "--recipe", "torch_plain", "--data-dir", str(tree), "--test-per-class",
              str(per_class[fewest] + 1)], tmp_path, capsys,
             f"--test-per-class {per_class[fewest] + 1}: class {fewest!r} of '{tree / 'test'}' holds "
             f"{per_class[fewest]} images")
