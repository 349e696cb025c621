"""A fourth backend added through the registry alone (a plugin module and its package, nothing else of parity
touched) runs in a check beside the three built in: every pair is compared, and its pairs agree like torch's."""

import json

import pytest

from parity.check import cases
from parity.cli.app import main
from parity.runtime import backends, workers

CHOSEN = ("resize.tf_resize.32x32-64", "loss.ce_logits", "model.", "train.steps.resnet18.fastai_v1.frozen")
PLUGIN = "tests.fourth_backend"


@pytest.fixture
def four_way(tmp_path, monkeypatch):
    monkeypatch.setenv(backends.PLUGIN_ENV, PLUGIN)  # the workers load the plugin too
    monkeypatch.setattr(backends, "BACKENDS", dict(backends.BACKENDS))  # the registration ends with the test
    backends._load_plugins()
    chosen = [c for c in cases.all_cases() if c.id.startswith(CHOSEN)][:6]
    monkeypatch.setattr(cases, "all_cases", lambda: chosen)
    out = tmp_path / "check"
    try:
        assert main(["check", "--backends", "torch,keras_tf,keras_torch,torch_twin", "--out", str(out)]) == 0
        yield chosen, json.loads((out / "results.json").read_text())
    finally:
        workers.shutdown(backend="torch_twin")  # later tests in this process see three backends again


def test_a_fourth_backend_from_the_registry_alone_runs_every_pair(four_way):
    chosen, results = four_way
    assert "torch_twin" in backends.frameworks() and results["backends"][-1] == "torch_twin"
    assert len(chosen) >= 4
    rows = [r for r in results["cases"] if r["detail"].get("pairs")]
    assert rows, "no case compared pairs"
    for row in rows:
        pairs = {(p["a"], p["b"]): p for p in row["detail"]["pairs"]}
        twin_pairs = [k for k in pairs if "torch_twin" in k]
        assert len(twin_pairs) == 3 - len(row["detail"].get("unsupported", {})), (row["id"], list(pairs))
        # the twin computes torch's code: against torch it matches wherever the case is matched
        if ("torch", "torch_twin") in pairs and row["kind"] == "matched":
            assert pairs[("torch", "torch_twin")]["passed"], row["id"]
    assert {"torch vs torch_twin", "keras_tf vs torch_twin", "keras_torch vs torch_twin"} <= {
        p["pair"] for p in results["pairs"]}
    assert results["verdict"]["ok"], results["verdict"]["text"]


def test_the_twin_is_gone_after_the_test():
    assert "torch_twin" not in backends.BACKENDS
    assert all(key[0] != "torch_twin" for key in workers.started())


JAX_CASES = "loss,model.resnet18.64.*,grad.resnet18.fastai_v1.train_bn,optim.keras_adam,train.steps.efficientnet_lite0.*"


def test_keras_on_jax_matches_the_other_backends(tmp_path):
    """keras_jax, a registered backend (its record, and its rows in keras_impl): layer outputs, gradients,
    optimizer steps, losses and training steps agree with torch and keras_tf within the same tolerances."""
    out = tmp_path / "check"
    assert main(["check", "--backends", "torch,keras_tf,keras_jax", "--only", JAX_CASES, "--out", str(out)]) == 0
    results = json.loads((out / "results.json").read_text())
    jax_pairs = [p for r in results["cases"] for p in r["detail"].get("pairs", []) if "keras_jax" in (p["a"], p["b"])]
    assert len(jax_pairs) >= 12 and all(p["passed"] for p in jax_pairs)
    row = next(r for r in results["cases"] if r["id"] == "loss.keras_softmax")
    assert row["detail"]["pairs"][1]["expect"] == "divergence"  # no cached logits on JAX either: declared, measured
