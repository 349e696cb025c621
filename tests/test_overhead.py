"""The overhead bench (benchmarks.overhead): its plain programs run and learn on a small image tree, its rows
compute parity / plain against the 1.10 target, and it refuses to run without an image folder."""

import subprocess
from pathlib import Path

import pytest

from benchmarks import bench, overhead

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("framework", ["torch", "keras_tf"])
@pytest.mark.parametrize("policy", ["frozen", "train_bn"])
def test_the_plain_programs_train_on_an_image_folder(check_context, framework, policy):
    argv = overhead.commands(framework, policy, check_context.small_tree, 2, 2)["plain"] + ["--epochs", "1"]
    proc = subprocess.run(argv, capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    accuracy = float(proc.stdout.split("accuracy ")[1].split()[0])
    assert 0.0 <= accuracy <= 1.0


def test_the_rows_compare_parity_with_the_plain_program(tmp_path):
    medians = iter([10.0, 10.5, 20.0, 23.0, 30.0, 15.0, 40.0, 44.0])

    def timed(argv, runs, report=True):
        m = next(medians)
        assert ("parity" in argv) == report  # parity's runs write a report, the plain ones do not
        return {"median": m, "min": m, "max": m}

    rows = overhead.overhead(timed, 1, tmp_path, 100, 50)
    assert [(r["framework"], r["bn_policy"], r["ratio"], r["within_target"]) for r in rows] == [
        ("torch", "frozen", 1.05, True), ("torch", "train_bn", 1.15, False), ("keras_tf", "frozen", 0.5, True),
        ("keras_tf", "train_bn", 1.1, True)]
    assert "| torch | train_bn | 20.0 (20.0-20.0) | 23.0 (23.0-23.0) | 1.15x (over target) |" in \
        overhead.markdown(rows)


def test_the_bench_needs_an_image_folder_for_the_overhead(tmp_path, capsys):
    assert bench.main(["--only", "overhead", "--out", str(tmp_path / "b")]) == 2
    assert "--only overhead needs --data-dir, an image-folder tree" in capsys.readouterr().err
    assert not (tmp_path / "b").exists()
