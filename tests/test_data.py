"""Framework-neutral data facts: batch order, folder listing, embedded data, normalisation reference."""

import numpy as np
import pytest

from conftest import BACKENDS
from parity.components import data


def test_batch_order_is_seeded_and_covers_every_index():
    a, b = data.batch_order(10, 4, seed=3), data.batch_order(10, 4, seed=3)
    assert [x.tolist() for x in a] == [x.tolist() for x in b]
    assert sorted(np.concatenate(a).tolist()) == list(range(10))
    assert [len(x) for x in a] == [4, 4, 2]
    assert data.batch_order(10, 4, seed=4)[0].tolist() != a[0].tolist()


def test_drop_last_drops_only_the_partial_batch():
    assert [len(x) for x in data.batch_order(10, 4, seed=0, drop_last=True)] == [4, 4]
    assert [len(x) for x in data.batch_order(8, 4, seed=0, drop_last=True)] == [4, 4]


def test_unshuffled_order_is_sequential():
    assert [x.tolist() for x in data.batch_order(5, 2, 0, shuffle=False)] == [[0, 1], [2, 3], [4]]


def test_embedded_data():
    photos = data.sample_photos()
    assert photos.shape == (2, 427, 640, 3) and photos.dtype == np.uint8
    digits, labels = data.digits_rgb()
    assert digits.shape == (1797, 8, 8, 3) and digits.max() == 255 and set(labels.tolist()) == set(range(10))


def test_reference_normalize_caffe_flips_to_bgr():
    x = np.array([[[[10.0, 20.0, 30.0]]]])
    np.testing.assert_allclose(data.reference_normalize(x, "caffe")[0, 0, 0], [30 - 103.939, 20 - 116.779,
                                                                               10 - 123.68])


def test_a_check_context_leaves_no_folder_behind():
    """Its generated files live in a folder made when a case first needs one and removed when it closes (every
    test run used to leave two empty folders in the temp dir: contexts that never made a file)."""
    from parity.check.context import CheckContext

    unused, used = CheckContext(seed=0), CheckContext(seed=0)
    folder = used.small_tree.parent
    assert unused._tmp is None and folder.is_dir()
    unused.close()
    used.close()
    assert not folder.exists()


def test_folder_listing_is_sorted(check_context):
    listing = data.list_image_folder(check_context.small_tree, "train")
    assert listing.classes == ("cat", "dog", "ship")
    assert list(listing.paths) == sorted(listing.paths)
    assert listing.labels.tolist() == [0, 0, 1, 1, 2, 2]


@pytest.mark.parametrize("backend", ["torch", "keras_tf", "keras_torch"])
def test_loader_batches_cross_the_boundary_as_nhwc(backend, check_context):
    images, labels = check_context.thumbnails, np.arange(len(check_context.thumbnails))
    batches = data.loader_batches(images, labels, data.batch_order(len(images), 3, 0), 16, "tf_resize", "tf", on=backend)
    x, y = batches[0]
    assert x.shape == (3, 16, 16, 3) and x.dtype == np.float32 and y.dtype == np.int64
    assert sum(len(b[1]) for b in batches) == len(images)


def test_the_embedded_data_is_what_sklearn_loads():
    """parity reads sklearn's bundled files itself (no sklearn import in a worker): the same arrays as its loaders."""
    from sklearn.datasets import load_digits, load_sample_images

    images, labels = data.digits_rgb()
    digits = load_digits()
    assert images.shape == (1797, 8, 8, 3) and images.dtype == np.uint8
    np.testing.assert_array_equal(images[..., 1], np.rint(digits.images * (255 / 16)).astype(np.uint8))
    np.testing.assert_array_equal(labels, digits.target)
    photos = load_sample_images()
    np.testing.assert_array_equal(data.sample_photos(), np.stack(photos.images))
    assert data.sample_photo_paths() == sorted(photos.filenames)


def test_a_missing_embedded_file_is_a_clear_error():
    from parity.core.errors import ParityError

    with pytest.raises(ParityError, match=r"datasets/data/no_such\.csv\.gz is missing: the embedded offline data"):
        data._sklearn_file("datasets", "data", "no_such.csv.gz")
