"""`parity check` end to end: exit codes, report files, results.json schema, all-or-nothing output."""

import json

import pytest

from parity import registry, report
from parity.cli import main
from parity.registry import Case, Sides

REQUIRED = {"component", "case", "kind", "max_abs", "max_rel", "tol", "passed"}


def test_check_writes_a_complete_report(tmp_path, capsys):
    out = tmp_path / "rep"
    assert main(["check", "--only", "data", "--out", str(out)]) == 0
    assert {p.name for p in out.iterdir()} == {"report.md", "report.html", "results.json"}
    results = json.loads((out / "results.json").read_text())
    assert {"versions", "seed", "cases"} <= set(results)
    assert {"torch", "tensorflow", "keras", "torchvision"} <= set(results["versions"])
    assert results["cases"] and all(REQUIRED <= set(c) for c in results["cases"])
    assert {c["component"] for c in results["cases"]} == {"data"}
    assert "decode pil vs tf default" in (out / "report.md").read_text()
    assert "matched passed" in capsys.readouterr().out


def _one_case_registry(monkeypatch, case):
    monkeypatch.setattr(registry, "all_cases", lambda: [case])


def _constant(a, b):
    return lambda ctx: Sides(a, b)


def test_failed_matched_case_exits_1_and_still_reports(tmp_path, monkeypatch):
    import numpy as np

    _one_case_registry(monkeypatch, Case("data", "broken twin", "matched",
                                         _constant(np.zeros(3), np.array([0, 0, 0.5])), "pixels_f32"))
    out = tmp_path / "rep"
    assert main(["check", "--out", str(out)]) == 1
    row = json.loads((out / "results.json").read_text())["cases"][0]
    assert (row["passed"], row["status"], row["max_abs"]) == (False, "FAIL", 0.5)


def test_nan_is_never_equal(tmp_path, monkeypatch):
    import numpy as np

    nan = np.array([np.nan, 1.0])
    _one_case_registry(monkeypatch, Case("data", "nan twin", "matched", _constant(nan, nan), "exact"))
    out = tmp_path / "rep"
    assert main(["check", "--out", str(out)]) == 1
    assert json.loads((out / "results.json").read_text())["cases"][0]["status"] == "NON-FINITE"


def test_stale_divergence_exits_1(tmp_path, monkeypatch):
    import numpy as np

    _one_case_registry(monkeypatch, Case("data", "gone", "divergence", _constant(np.ones(2), np.ones(2)), "exact",
                                         reason="used to differ"))
    assert main(["check", "--out", str(tmp_path / "rep")]) == 1


def test_report_failure_leaves_no_folder(tmp_path, monkeypatch):
    def boom(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(report, "_html", boom)
    out = tmp_path / "rep"
    with pytest.raises(RuntimeError):
        main(["check", "--only", "data", "--out", str(out)])
    assert list(tmp_path.iterdir()) == []


def test_rerun_replaces_the_old_report(tmp_path):
    out = tmp_path / "rep"
    out.mkdir()
    (out / "stale.txt").write_text("old")
    assert main(["check", "--only", "data", "--out", str(out)]) == 0
    assert not (out / "stale.txt").exists() and (out / "report.md").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rep"]
