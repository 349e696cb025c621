"""The real CIFAR-10 image-folder tree (the thread's layout), read by both frameworks. Slow: 60,000 files."""

import pytest

from parity.components import data
from parity.check.compare import run_case
from parity.check.context import CheckContext
from parity.check.cases import all_cases

pytestmark = pytest.mark.slow
DATA_DIR_CASES = [c for c in all_cases() if "(data-dir" in c.name]


@pytest.fixture(scope="module")
def cifar_context(cifar_tree):
    ctx = CheckContext(seed=0, data_dir=cifar_tree)
    yield ctx
    ctx.close()


@pytest.mark.parametrize("case", DATA_DIR_CASES, ids=[c.id for c in DATA_DIR_CASES])
def test_data_dir_case(case, cifar_context):
    row = run_case(case, cifar_context)
    assert row["status"] == "pass", (row["status"], row["max_abs"], row["detail"].get("error"))


def test_listing_matches_the_archive(cifar_tree):
    train, test = data.list_image_folder(cifar_tree, "train"), data.list_image_folder(cifar_tree, "test")
    data.check_same_classes(train, test)
    assert train.classes == data.CIFAR10_CLASSES
    assert (len(train.paths), len(test.paths)) == (50_000, 10_000)
