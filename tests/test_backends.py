"""Three backends in one check: every pair compared, what keras_torch cannot express shown as such, and the
torch-vs-keras_tf differences sorted into those that persist on keras_torch (Keras' API) and those that do not."""

import json

import pytest

from parity.check import cases
from parity.runtime.backends import BACKENDS, frameworks, parse_backends, versions
from parity.cli.app import main
from parity.core.errors import ParityError

CHOSEN = ("loss.", "resize.fastai_v1.32x32-64", "resize.tf_resize.32x32-64",
          "grad.bn_running_var.resnet18")


@pytest.fixture(scope="module")
def three_way(tmp_path_factory):
    chosen = [c for c in cases.all_cases() if c.id.startswith(CHOSEN)]
    real, cases.all_cases = cases.all_cases, lambda: chosen
    out = tmp_path_factory.mktemp("backends") / "check"
    try:
        assert main(["check", "--backends", "torch,keras_tf,keras_torch", "--out", str(out)]) == 0
    finally:
        cases.all_cases = real
    return json.loads((out / "results.json").read_text())


def test_every_pair_is_compared(three_way):
    rows = {r["id"]: r for r in three_way["cases"]}
    pairs = [(p["a"], p["b"]) for p in rows["resize.tf_resize.32x32-64"]["detail"]["pairs"]]
    assert pairs == [("torch", "keras_tf"), ("torch", "keras_torch"), ("keras_tf", "keras_torch")]
    assert {p["pair"] for p in three_way["pairs"]} == {"torch vs keras_tf", "torch vs keras_torch",
                                                       "keras_tf vs keras_torch"}


def test_what_a_backend_cannot_express_is_shown(three_way):
    row = next(r for r in three_way["cases"] if r["id"] == "resize.fastai_v1.32x32-64")
    assert row["status"] == "pass" and [(p["a"], p["b"]) for p in row["detail"]["pairs"]] == [("torch", "keras_tf")]
    assert "keras.ops has no such op" in row["detail"]["unsupported"]["keras_torch"]


def test_differences_are_sorted_by_whether_they_persist_on_keras_torch(three_way):
    verdicts = {p["id"]: p["verdict"] for p in three_way["persistence"]}
    assert verdicts["grad.bn_running_var.resnet18"].startswith("persists")
    assert verdicts["loss.keras_softmax"].startswith("appears only on keras_torch")


def test_backend_choice_is_checked():
    assert parse_backends(None) == ("torch", "keras_tf")
    with pytest.raises(ParityError, match="at least two different backends"):
        parse_backends("torch,torch")
    assert set(frameworks()) == {"torch", "keras_tf", "keras_torch", "keras_jax"}
    assert {n for n, b in BACKENDS.items() if b.reference_only} == {"torch_reference"}
    with pytest.raises(ParityError, match="torch_reference"):
        parse_backends("torch,torch_reference")


def test_versions_come_from_package_metadata_without_imports():
    import subprocess
    import sys

    script = ("import sys; from parity.runtime.backends import versions; v = versions(); "
              "assert {'torch', 'tensorflow', 'keras'} <= set(v), v; "
              "assert not {'torch', 'tensorflow', 'keras'} & set(sys.modules), 'versions() imported a framework'")
    subprocess.run([sys.executable, "-c", script], check=True)
    assert versions()["torch"].startswith("2.")


def test_a_worker_keeps_freed_memory_for_the_next_tensor():
    """A tensor of up to 32 MiB comes from malloc's heap in a worker, where it is reused once freed; glibc's
    defaults give it a mapping of its own, which the kernel zeroes again, page by page, for the next one (38 of
    a check's 133 CPU-seconds were the kernel's)."""
    import subprocess
    import sys

    from parity.runtime import workers

    probe = "from tests.worker_probe import from_heap; print(from_heap())"
    plain = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    assert plain.strip() == "False", f"the probe does not see glibc's default in a plain process: {plain!r}"
    # a worker of its own: in one that has served other tests the main heap may not have room to grow in place,
    # and glibc then maps a block of its own whatever the threshold (seen once in CI)
    lane = 7
    try:
        assert workers.call_on("torch", "tests.worker_probe:from_heap", lane=lane) is True
    finally:
        workers.worker("torch", lane).close()


def test_seeded_dropout_passes_ignore_draws_made_before_them():
    """The dropout case's passes are seeded in the same request that runs them: a draw another case makes on
    the worker beforehand (a model built from a seed) leaves their masks as they were. (torch's dropout draws
    from the process's global generator; Keras' Dropout layers each carry a generator of their own, seeded
    when built, which no other case touches.)"""
    import numpy as np

    from parity.components import classifier, models
    from parity.runtime import workers

    backend = "torch"

    model = classifier.build_model("resnet18", "fastai_v1", 10, models.CHECK_WEIGHTS["resnet18"],
                                   dropout=True, seed=0, on=backend)
    head = classifier.head_only(model)
    features = np.abs(np.random.default_rng(0).standard_normal((4, 2, 2, 512))).astype(np.float32)
    try:
        first = classifier.seeded_passes(head, features, 0, 2)
        drawn = classifier.build_model("resnet18", "fastai_v1", 10, "resnet18.init", dropout=True, seed=7, on=backend)
        again = classifier.seeded_passes(head, features, 0, 2)
    finally:
        workers.release((model, head))
    workers.release(drawn)
    assert first[0].keys() == again[0].keys()
    for a, b in zip(first, again):
        for name in a:
            np.testing.assert_array_equal(a[name], b[name], err_msg=f"{backend} {name}")
    masks = [p[name] != 0 for p in first for name in p if name.endswith(("3", "7"))]
    assert not np.array_equal(masks[0], masks[1]), "two passes drew the same mask: the dropout did not run"
