"""The thread's Keras program as the oracle of the recipe that stands for it: `parity capture` runs
parity/examples/programs/keras_thread.py as its author would, stops it at model.fit with the ImageNet download
intercepted, and reads every knob of `keras_thread` back from the live model, optimizer, loss and data (the data
by behaviour: which of parity's decoder, resize and normalisation reproduce its first batch)."""

import pytest

from parity.train import recipes
from thread_capture import captured, changed, image_tree

LOAD_KNOBS = ("load_size", "load_resize", "load_crop")


@pytest.fixture(scope="module")
def keras_thread(tmp_path_factory):
    return captured("keras_thread", image_tree(tmp_path_factory.mktemp("cifar")))


def test_the_keras_program_is_the_keras_thread_recipe(keras_thread):
    assert keras_thread.origin.weights == ("resnet50v2_weights_tf_dim_ordering_tf_kernels_notop.h5",)
    assert recipes.diff(keras_thread, recipes.get_recipe("keras_thread")) == {}
    assert keras_thread.origin.approximate == () and keras_thread.origin.uncovered == ()
    assert dict(keras_thread.origin.provenance).keys() == recipes.KNOBS.keys()  # every knob says where it came from
    assert recipes.diff(recipes.get_recipe("keras_thread"), recipes.get_recipe("keras_thread_64")) == {
        "size": (224, 64)}


@pytest.mark.parametrize("knob", [k for k in recipes.KNOBS if k not in LOAD_KNOBS])
def test_a_changed_knob_of_keras_thread_64_is_seen(keras_thread, knob):
    """keras_thread_64 is the program at 64 px: any other knob changed is a difference named by that knob."""
    program = recipes.with_knobs(keras_thread, size=64)
    assert recipes.diff(program, recipes.get_recipe("keras_thread_64")) == {}
    assert list(recipes.diff(program, changed(recipes.get_recipe("keras_thread_64"), knob))) == [knob]
