"""`parity diff`: exactly the cases a changed mirror or tolerance touches, nothing for identical runs, CI
overlap for training runs, and clear errors for folders it cannot compare."""

import json

import pytest

from parity.reports import attribution
from parity.check import tolerances
from parity.train.bisect import Bisection, run_bisect
from parity.cli.app import main
from parity.runtime import workers
from test_bisect import A, B, fake_eval, make


@pytest.fixture(scope="module")
def baseline(tmp_path_factory):
    out = tmp_path_factory.mktemp("diff") / "a"
    assert main(["check", "--only", "loss", "--out", str(out)]) == 0
    return out


def _diff(a, b, tmp_path, *extra) -> tuple[int, dict]:
    out = tmp_path / "diff"
    code = main(["diff", str(a), str(b), "--out", str(out), *extra])
    return code, (json.loads((out / "results.json").read_text())["diff"] if out.exists() else None)


def test_identical_runs_report_no_change(baseline, tmp_path, capsys):
    again = tmp_path / "again"
    assert main(["check", "--only", "loss", "--out", str(again)]) == 0
    code, d = _diff(baseline, again, tmp_path)
    assert code == 0 and not d["changed"]
    assert (d["status_changed"], d["added"], d["removed"], d["versions_changed"]) == ([], [], [], [])
    assert "No change in verdicts" in capsys.readouterr().out


@pytest.fixture
def keras_loss_off_by(request):
    """Plant a relative error in the keras_tf worker's per-sample loss for one loss; undone afterwards."""
    def plant(name: str, factor: float):
        workers.call("keras_tf", "parity.selftest.faults:apply_here", "keras_impl.loss", "per_sample_loss", "scale_when",
                     name, factor)

    yield plant
    workers.call("keras_tf", "parity.selftest.faults:undo_here")


def test_a_broken_mirror_is_exactly_the_changed_case(baseline, tmp_path, keras_loss_off_by):
    keras_loss_off_by("keras_clipped", 1.001)
    broken = tmp_path / "broken"
    assert main(["check", "--only", "loss", "--out", str(broken)]) == 1
    code, d = _diff(baseline, broken, tmp_path)
    assert code == 1
    assert d["status_changed"] == [{"id": "loss.keras_clipped", "a": "pass", "b": "FAIL"}]
    assert [m["id"] for m in d["moved"]] == ["loss.keras_clipped"]


def test_a_changed_tolerance_is_exactly_the_cases_that_use_it(baseline, tmp_path, monkeypatch):
    tight = tolerances.Tolerance(1e-12, "relative", "a deliberately impossible tolerance", relative=True)
    monkeypatch.setitem(tolerances.TOLERANCES, "loss_f32", tight)
    strict = tmp_path / "strict"
    assert main(["check", "--only", "loss", "--out", str(strict)]) == 1
    code, d = _diff(baseline, strict, tmp_path)
    failing = {r["id"] for r in json.loads((strict / "results.json").read_text())["cases"] if r["status"] == "FAIL"}
    assert code == 1 and failing and {r["id"] for r in d["status_changed"]} == failing
    assert d["moved"] == []  # the errors themselves did not move


def test_small_moves_are_listed_without_changing_verdicts(baseline, tmp_path, keras_loss_off_by):
    keras_loss_off_by("ce_logits", 1 + 4e-7)
    moved = tmp_path / "moved"
    assert main(["check", "--only", "loss", "--out", str(moved)]) == 0
    code, d = _diff(baseline, moved, tmp_path, "--factor", "2")
    assert code == 0 and [m["id"] for m in d["moved"]] == ["loss.ce_logits"] and d["status_changed"] == []


def _bisect_report(path, effect_scale: float):
    def evaluate(recipe, seed):
        r = fake_eval(recipe, seed)
        return {**r, "accuracy": 0.5 + (r["accuracy"] - 0.5) * effect_scale}

    result = run_bisect(Bisection(A, B, make().factors, [0, 1, 2], evaluate), permutations=4)
    attribution.write(path, "bisect", "synthetic", {"bisect": result, "verdict": {"ok": None, "text": result["answer"]},
                                                    "data": {}, "body": "none", "seeds": [0, 1, 2], "versions": {}})
    return path


def test_training_runs_flag_values_whose_cis_part(tmp_path):
    a = _bisect_report(tmp_path / "a", 1.0)
    same = _bisect_report(tmp_path / "same", 1.0)
    halved = _bisect_report(tmp_path / "halved", 0.5)
    code, d = _diff(a, same, tmp_path)
    assert code == 0 and all(r["overlap"] for r in d["accuracy"] + d["shapley"])
    code, d = _diff(a, halved, tmp_path)
    assert code == 1
    parted = {r["name"] for r in d["shapley"] if not r["overlap"]}
    assert "bn_policy" in parted and "head" not in parted  # head has no effect in either run


@pytest.mark.parametrize("mutate, message", [
    (lambda r: r.pop("schema"), "older parity (field 'schema' is missing)"),
    (lambda r: r.pop("cases"), "is missing field 'cases'"),
    (lambda r: r.update(kind="sweep"), "kind 'sweep' is not one parity diff compares"),
    (lambda r: r.update(schema=1), "results.json has schema 1; this parity reads schema 2, 3"),
    (lambda r: r["cases"][0].pop("status"), "case 0: a CaseResult is missing field 'status'"),
    (lambda r: r["cases"][0].update(stauts="pass"), "case 0: a CaseResult has unknown field 'stauts'"),
])
def test_results_it_cannot_read_are_clear_errors(baseline, tmp_path, mutate, message, capsys):
    results = json.loads((baseline / "results.json").read_text())
    mutate(results)
    (tmp_path / "old").mkdir()
    (tmp_path / "old" / "results.json").write_text(json.dumps(results))
    assert main(["diff", str(baseline), str(tmp_path / "old"), "--out", str(tmp_path / "d")]) == 2
    assert message in capsys.readouterr().err and not (tmp_path / "d").exists()


def test_folder_without_results_and_different_kinds_are_refused(baseline, tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    assert main(["diff", str(baseline), str(tmp_path / "empty")]) == 2
    assert "has no results.json" in capsys.readouterr().err
    other = _bisect_report(tmp_path / "bisect", 1.0)
    assert main(["diff", str(baseline), str(other)]) == 2
    assert "runs of different kinds" in capsys.readouterr().err


def test_a_schema_2_run_is_read_with_its_sentence_ids_mapped(baseline, tmp_path, capsys):
    """A check stored before ids were short (schema 2, sentence ids, no titles) compares case for case."""
    from parity.core.ids import sentence_ids

    results = json.loads((baseline / "results.json").read_text())
    by_id = {v: k for k, v in sentence_ids().items()}
    for row in results["cases"]:
        row["id"] = by_id[row["id"]]
        del row["title"]
    (tmp_path / "old").mkdir()
    (tmp_path / "old" / "results.json").write_text(json.dumps({**results, "schema": 2}))
    assert main(["diff", str(tmp_path / "old"), str(baseline), "--out", str(tmp_path / "d")]) == 0
    d = json.loads((tmp_path / "d" / "results.json").read_text())["diff"]
    assert d["added"] == d["removed"] == d["status_changed"] == []
