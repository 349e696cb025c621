"""The self-test: the fault catalogue is well formed, a fast subset of faults (a few per component) is each
caught by its declared case at its declared place, the verdict logic on known rows, and no fault leaks."""

import dataclasses
import importlib
import os
import subprocess
import sys

import pytest

from parity.selftest import faultlist, faults, plantedtests, run as selftest
from parity.runtime import workers
from parity.check.cases import all_cases
from parity.cli.app import main

CASE_IDS = {c.id: c for c in all_cases()}

# A few faults per component whose declared case runs in seconds (nox -s selftest plants every one).
FAST = ["data-std-typo-keras", "data-own-order-keras", "resize-align-corners-keras", "resize-crop-box-spec",
        "head-init-fan-out-torch", "head-keras-bn-momentum-spec", "optim-beta2-keras", "optim-keras-eps-spec",
        "lr-slice-spec", "schedule-div-keras", "loss-weighted-keras", "port-mean-var-swapped-keras",
        "train-eval-training-mode-keras", "head-dropout-keep-prob-keras", "train-lr-not-applied-keras",
        "grad-summed-loss-keras"]


def test_the_catalogue_covers_every_component_with_at_least_30_faults():
    assert len(faultlist.FAULTS) >= 30
    components = {c.component for c in all_cases()} - {"accuracy"}
    assert components <= {CASE_IDS[f.detect].component for f in faultlist.FAULTS.values() if not f.oracle}
    assert {f.side for f in faultlist.FAULTS.values()} == {"torch", "keras", "spec"}


@pytest.mark.parametrize("fault", list(faultlist.FAULTS.values()), ids=lambda f: f.id)
def test_each_fault_names_a_registered_case_of_its_component_and_real_targets(fault):
    if fault.oracle:  # an oracle test of the source checkout: its file holds the test function
        path, name = fault.detect.split("::")
        assert f"def {name}(" in (plantedtests.ROOT / path).read_text(), fault.detect
        assert fault.side == "spec" and fault.component == "spec"
    else:
        assert fault.detect in CASE_IDS, fault.detect
        assert CASE_IDS[fault.detect].component == fault.component
    assert fault.story and len(fault.story) < 200
    for patch in fault.patches:
        container, key, item = faults._resolve(patch.module, patch.target)
        assert (key in container) if item else hasattr(container, key), patch
        assert patch.how in ("alias", "fields") or patch.how in faults.WRAPPERS
    if fault.side == "spec":
        assert "coordinator" in selftest.places(fault)


def test_apply_and_undo_restore_every_target_in_process():
    spec_faults = [f for f in faultlist.FAULTS.values() if f.side == "spec"]
    before = {}
    for f in spec_faults:
        for p in f.patches:
            container, key, item = faults._resolve(p.module, p.target)
            # several faults may patch one target (a head row): the value before the first is the original
            before.setdefault((p.module, p.target), container[key] if item else getattr(container, key))
            faults.apply_here(p.module, p.target, p.how, *p.params)
    assert faults.patched_here() == sum(len(f.patches) for f in spec_faults)
    faults.undo_here()
    assert faults.patched_here() == 0
    for (module, target), value in before.items():
        container, key, item = faults._resolve(module, target)
        assert (container[key] if item else getattr(container, key)) is value


def _row(status, first=None, max_rel=0.0):
    return {"status": status, "detail": {"first_over_tol": first}, "max_rel": max_rel}


def test_verdicts_on_known_rows():
    fault = faultlist.FAULTS["optim-keras-eps-spec"]
    case = fault.detect
    assert selftest.judge(fault, {case: _row("FAIL", "eps")})["verdict"] == selftest.LOCALISED
    wrong_place = selftest.judge(fault, {case: _row("FAIL", "beta2")})
    assert wrong_place["verdict"] == selftest.ELSEWHERE and "named 'beta2' first, not 'eps'" in wrong_place["reason"]
    other = selftest.judge(fault, {case: _row("pass"), "spec/other": _row("FAIL")})
    assert other["verdict"] == selftest.ELSEWHERE and "caught by spec/other" in other["reason"]
    missed = selftest.judge(fault, {case: _row("pass", max_rel=1e-15)})
    assert missed["verdict"] == selftest.MISSED and "passed (max_rel 1e-15" in missed["reason"]
    rates = selftest.rates([wrong_place, missed])
    assert (rates["detected"], rates["localised"], rates["unexpected_misses"]) == (1, 0, ["optim-keras-eps-spec"])


def test_a_known_blind_spot_is_reported_with_its_reason():
    fault = dataclasses.replace(faultlist.FAULTS["optim-keras-eps-spec"], blind_spot="no case can see it because")
    result = selftest.judge(fault, {fault.detect: _row("pass")})
    assert result["verdict"] == selftest.MISSED and result["reason"] == fault.blind_spot
    assert selftest.rates([result])["unexpected_misses"] == []


def test_oracle_faults_are_judged_by_their_test_node_and_an_absent_oracle_is_said(tmp_path, monkeypatch):
    fault = faultlist.FAULTS["head-fastai-v1-ps-spec"]
    caught = selftest.judge(fault, {fault.detect: plantedtests._row("FAIL", "1 of 1 tests failed", "test_x")})
    assert caught["verdict"] == selftest.LOCALISED and caught["named_first"] == "test_x"
    monkeypatch.setenv(plantedtests.FASTAI1_ENV, str(tmp_path))  # no fastai 1.0.61 there: nothing is started
    rows = plantedtests.run_nodes([fault.detect], fault.patches)
    assert rows[fault.detect]["status"] == "skipped"
    absent = selftest.judge(fault, rows)
    assert absent["verdict"] == selftest.MISSED and f"not installed at {tmp_path}" in absent["reason"]
    rates = selftest.rates([absent])
    assert rates["unexpected_misses"] == [] and rates["oracles_absent"] == [fault.id]
    assert "1 not run (their oracle is not installed)" in selftest.sentence(rates)
    broken = selftest.judge(fault, {fault.detect: plantedtests._row("unrun", "pytest exited 4 before running a test")})
    assert broken["verdict"] == selftest.MISSED and "did not run: pytest exited 4" in broken["reason"]
    assert selftest.rates([broken])["unexpected_misses"] == [fault.id]  # a broken oracle run is never excused


def test_a_planted_run_of_fastai_oracles_loads_torch_alone():
    """fastai's oracle tests need no TensorFlow: their planted pytest runs leave its import out."""
    assert plantedtests.frameworks(["tests/test_oracle_fastai_v1.py::test_a",
                                    "tests/test_oracle_fastai.py::test_b"]) == "torch"
    assert plantedtests.frameworks(["tests/test_oracle_fastai.py::test_b", "tests/test_cli.py::test_c"]) != "torch"
    code = ("import sys, pytest; code = pytest.main(['-q', '-p', 'no:xdist', 'tests/test_stats.py']); "
            "print(int(code), 'torch' in sys.modules, 'tensorflow' in sys.modules)")
    proc = subprocess.run([sys.executable, "-c", code], cwd=plantedtests.ROOT, capture_output=True, text=True,
                          env={**os.environ, plantedtests.FRAMEWORKS_ENV: "torch"}, timeout=300)
    assert proc.stdout.split()[-3:] == ["0", "True", "False"], proc.stdout[-1000:] + proc.stderr[-1000:]


@pytest.mark.parametrize("fault_id", FAST)
def test_fast_subset_is_caught_where_declared(fault_id):
    result = selftest.run_fault(faultlist.FAULTS[fault_id], only_declared=True)
    assert result["verdict"] == selftest.LOCALISED, result


def test_no_fault_leaks_into_a_later_clean_check(tmp_path, capsys):
    """A self-test run, then in the same process a clean check of the same cases: everything passes, and no
    process holds a patch."""
    ids = "optim-keras-eps-spec,data-std-typo-keras,loss-weighted-keras"
    assert main(["selftest", "--faults", ids, "--out", str(tmp_path / "selftest")]) == 0
    assert "3 of 3 planted faults detected" in capsys.readouterr().out
    assert faults.patched_here() == 0
    assert all(workers.call(b, "parity.selftest.faults:patched_here") == 0 for b, *_ in workers.started())
    assert main(["check", "--only", "spec,data,loss", "--out", str(tmp_path / "check")]) == 0
    report = (tmp_path / "selftest" / "report.html").read_text()
    assert "DETECTED+LOCALISED" in report and "optim-keras-eps-spec" in report


@pytest.mark.parametrize("argv, message", [
    (["selftest", "--faults", "nope"], "fault 'nope' is not one of"),
    (["selftest", "--only", "colour"], "fault component 'colour' is not one of"),
    (["selftest", "--seed", "-1", "--faults", "lr-slice-spec"], "--seed must be >= 0"),
])
def test_bad_selftest_arguments_exit_2(argv, message, tmp_path, capsys):
    assert main([*argv, "--out", str(tmp_path / "rep")]) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "rep").exists()


def test_every_module_a_fault_patches_is_a_backend_or_parity_module():
    for fault in faultlist.FAULTS.values():
        for patch in fault.patches:
            assert patch.module.split(".")[0] in ("parity", "torch_impl", "keras_impl")
            importlib.import_module(patch.module)


def test_an_oracle_folder_holding_another_fastai_is_reported_as_skipped_not_as_a_miss(tmp_path, monkeypatch):
    """PARITY_FASTAI1 pointing at a fastai that is not 1.0.61: the oracle module skips itself, and the fault is
    reported as not run, with the module's reason."""
    (tmp_path / "fastai").mkdir()
    (tmp_path / "fastai" / "__init__.py").write_text("__version__ = '2.0.0'\n")
    monkeypatch.setenv(plantedtests.FASTAI1_ENV, str(tmp_path))
    fault = faultlist.FAULTS["optim-v1-betas-spec"]
    row = plantedtests.run_nodes([fault.detect], fault.patches)[fault.detect]
    assert row["status"] == "skipped" and "fastai 2.0.0 here" in row["detail"]["why"], row
    assert selftest.judge(fault, {fault.detect: row})["verdict"] == selftest.MISSED
