"""`parity` end to end: exit codes, help, a quiet console, the report files and results.json schema, and the
errors a user meets first (each a clear message with exit 2, or 130 for Ctrl-C, 143 for SIGTERM, and no
report)."""

import _thread
import json
import os
import signal
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

from parity.check import cases
from parity.train import executors
from parity.reports import report
from parity.cli.app import _parser, main
from parity.check.case import Case, Sides

REQUIRED = {"id", "component", "case", "kind", "max_abs", "max_rel", "tol", "passed", "status"}
TF_LOG = ("I0000", "W0000", "E0000", "oneDNN", "tensorflow/core", "cpu_feature_guard", "absl::InitializeLog")


def _subcommands():
    return sorted(_parser()._subparsers._group_actions[0].choices)


def test_top_level_help_renders(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert all(name in out for name in _subcommands())


@pytest.mark.parametrize("command", _subcommands())
def test_every_command_help_renders(command, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main([command, "--help"])
    assert exit_info.value.code == 0 and f"parity {command}" in capsys.readouterr().out


@pytest.mark.parametrize("argv", [["--help"], ["check", "--only", "loss", "--out", "{tmp}/rep"]])
def test_console_has_no_tensorflow_log_lines(argv, tmp_path):
    """The entry point silences TF's C++ logging itself: the caller sets no environment variable."""
    env = {k: v for k, v in __import__("os").environ.items() if not k.startswith(("TF_CPP", "ABSL"))}
    proc = subprocess.run([sys.executable, "-m", "parity", *[a.format(tmp=tmp_path) for a in argv]],
                          capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    noisy = [line for line in proc.stderr.splitlines() if any(t in line for t in TF_LOG)]
    assert not noisy, noisy[:5]


def test_keras_loads_without_the_modules_it_needs_only_for_what_parity_does_not_use():
    """keras_impl hides scikit-learn, pandas and pyplot while Keras loads (a second or two of every Keras
    worker's start), and leaves them importable afterwards, by Keras' own modules too."""
    code = ("import sys, keras_impl; "
            "loaded = [m for m in ('sklearn', 'pandas', 'matplotlib.pyplot') if m in sys.modules]; "
            "import sklearn.base, pandas, matplotlib.pyplot; from keras.src.wrappers import fixes; "
            "from keras.src.trainers.data_adapters import array_slicing; "
            "print(loaded, fixes.sklearn is None, array_slicing.pandas is None)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.split() == ["[]", "True", "True"]


def test_check_writes_a_complete_report(tmp_path, capsys):
    out = tmp_path / "rep"
    assert main(["check", "--only", "data", "--out", str(out)]) == 0
    assert {"report.md", "report.html", "results.json", ".parity-report.json"} <= {p.name for p in out.iterdir()}
    results = json.loads((out / "results.json").read_text())
    assert {"schema", "kind", "created", "command", "wall_seconds", "versions", "seed", "data_dir", "cases",
            "verdict"} <= set(results)
    assert results["kind"] == "check" and results["command"].startswith("parity check --only data")
    assert {"torch", "tensorflow", "keras", "torchvision"} <= set(results["versions"])
    assert results["cases"] and all(REQUIRED <= set(c) for c in results["cases"])
    assert {c["component"] for c in results["cases"]} == {"data"}
    assert "decode pil vs tf default" in (out / "report.md").read_text()
    assert "matched passed" in capsys.readouterr().out


def test_check_records_the_data_folder(tmp_path, check_context):
    out = tmp_path / "rep"
    main(["check", "--only", "data", "--data-dir", str(check_context.small_tree), "--out", str(out)])
    assert json.loads((out / "results.json").read_text())["data_dir"] == str(check_context.small_tree.resolve())


def _one_case_registry(monkeypatch, case):
    monkeypatch.setattr(cases, "all_cases", lambda: [case])


def _constant(a, b):
    return lambda ctx: Sides(a, b)


def test_failed_matched_case_exits_1_and_is_listed_first(tmp_path, monkeypatch):
    _one_case_registry(monkeypatch, Case("data", "broken twin", "matched",
                                         _constant(np.zeros(3), np.array([0, 0, 0.5])), "pixels_f32",
                                         key="broken_twin"))
    out = tmp_path / "rep"
    assert main(["check", "--out", str(out)]) == 1
    row = json.loads((out / "results.json").read_text())["cases"][0]
    assert (row["passed"], row["status"], row["max_abs"]) == (False, "FAIL", 0.5)
    html = (out / "report.html").read_text()
    assert html.index('href="#case-data-broken-twin"') < html.index('id="c-data"')  # in the summary, above the tables


def test_nan_is_never_equal(tmp_path, monkeypatch):
    nan = np.array([np.nan, 1.0])
    _one_case_registry(monkeypatch, Case("data", "nan twin", "matched", _constant(nan, nan), "exact", key="nan_twin"))
    out = tmp_path / "rep"
    assert main(["check", "--out", str(out)]) == 1
    assert json.loads((out / "results.json").read_text())["cases"][0]["status"] == "NON-FINITE"


def test_stale_divergence_exits_1(tmp_path, monkeypatch):
    _one_case_registry(monkeypatch, Case("data", "gone", "divergence", _constant(np.ones(2), np.ones(2)), "exact",
                                         reason="used to differ", key="gone"))
    assert main(["check", "--out", str(tmp_path / "rep")]) == 1


def test_report_failure_leaves_no_folder(tmp_path, monkeypatch):
    def boom(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(report, "html_context", boom)
    out = tmp_path / "rep"
    with pytest.raises(RuntimeError):
        main(["check", "--only", "data", "--out", str(out)])
    assert list(tmp_path.iterdir()) == []


QUICK = ["--recipe", "torch_plain", "--quiet", "--train-per-class", "5", "--test-per-class", "3"]


@pytest.mark.parametrize("argv, message", [
    (["--set", "lr=abc"], "knob lr takes a positive finite float"),
    (["--set", "lr=inf"], "knob lr takes a positive finite float"),
    (["--set", "lr=nan"], "knob lr takes a positive finite float"),
    (["--set", "epochs=true"], "knob epochs takes a positive integer, got 'true'"),
    (["--seeds=-1,2"], "--seeds must list seeds from 0 to 2147483647 (32-bit op seeds), got -1"),
])
def test_bad_values_exit_2_before_work(argv, message, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(executors, "_run_on_lane", lambda *a, **k: pytest.fail("trained before checking its input"))
    assert main(["train", *QUICK, *argv, "--no-store", "--out", str(tmp_path / "rep")]) == 2
    assert message in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_ctrl_c_during_train_keeps_finished_runs_and_writes_no_report(tmp_path, monkeypatch, capsys):
    real_run, calls = executors._run_on_lane, []

    def interrupted_second_time(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real_run(*args, **kwargs)

    monkeypatch.setattr(executors, "_run_on_lane", interrupted_second_time)
    store = tmp_path / "store"
    code = main(["train", *QUICK, "--set", "epochs=1", "--seeds", "3", "--store", str(store), "--executor", "serial",
                 "--out", str(tmp_path / "rep")])
    err = capsys.readouterr().err
    assert code == 130
    assert "interrupted: 1 run(s) finished in this session and are kept in the store" in err
    assert "Traceback" not in err and err.strip().splitlines()[-1].startswith("parity: interrupted: 1 run(s)")
    assert not (tmp_path / "rep").exists() and len(list(store.glob("*.json"))) == 1


@pytest.mark.parametrize("stop", ["ctrl_c", "sigterm"])
def test_a_check_stopped_midway_ends_at_once_cleans_up_and_writes_no_report(stop, tmp_path, monkeypatch, capsys):
    """Ctrl-C, or a SIGTERM (`kill`, `timeout`, a cancelled CI job), while the third case runs: the queued cases
    do not start (measured on a full check stopped at case 103 of 174: it ended 21.4 s later, having run the
    rest, before; 0.9 s now), the check's temporary folder goes, no report is written, and the exit code says
    which (before, a SIGTERM ended the process at once and left the folder behind)."""
    from parity.check import compare

    ran, folders, lock = [], [], threading.Lock()

    def stopped_at_the_third(case, ctx, backends):
        with lock:  # two cases run at once: exactly one of them is the third
            ran.append(case.id)
            third = len(ran) == 3
        folders.append(ctx.small_tree.parent)  # the check's temporary folder, there from here on
        if third:
            os.kill(os.getpid(), signal.SIGTERM) if stop == "sigterm" else _thread.interrupt_main()
        time.sleep(0.05)  # a case takes a while: the main thread takes the signal when the next one ends
        return {"status": "pass", "seconds": 0.05}

    def callers_own(signum, frame):  # what a caller of main() had: it must not see the signal, and come back
        ran.append("the caller's handler")

    monkeypatch.setattr(compare, "run_case", stopped_at_the_third)
    total = len(cases.select("resize"))
    previous = signal.signal(signal.SIGTERM, callers_own)
    previous_int = signal.signal(signal.SIGINT, signal.default_int_handler)  # Ctrl-C as in a terminal (a pytest
    try:  # worker may ignore SIGINT, and interrupt_main then does nothing)
        code = main(["check", "--only", "resize", "--out", str(tmp_path / "rep")])
        assert signal.getsignal(signal.SIGTERM) is callers_own
    finally:
        signal.signal(signal.SIGTERM, previous)
        signal.signal(signal.SIGINT, previous_int)
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert code == {"ctrl_c": 130, "sigterm": 143}[stop]
    assert last.startswith({"ctrl_c": "parity: interrupted after", "sigterm": "parity: terminated (SIGTERM); "
                                                                             "interrupted after"}[stop])
    assert last.endswith(f"of {total} cases; no report written") and len(ran) < total / 2, ran
    assert not (tmp_path / "rep").exists() and not folders[0].exists()


def test_store_entry_of_the_wrong_shape_is_redone(tmp_path, capsys):
    argv = ["train", *QUICK, "--set", "epochs=1", "--seeds", "1", "--store", str(tmp_path / "store")]
    assert main([*argv, "--out", str(tmp_path / "a")]) == 0
    (entry,) = (tmp_path / "store").glob("*.json")
    entry.write_text("[1, 2, 3]")
    capsys.readouterr()
    assert main([*argv, "--out", str(tmp_path / "b")]) == 0
    captured = capsys.readouterr()
    assert "is not a run record" in captured.err and "1 runs trained" in captured.out
    assert isinstance(json.loads(entry.read_text()), dict)


def test_train_report_names_the_body_it_ran(tmp_path):
    out = tmp_path / "rep"
    assert main(["train", *QUICK, "--set", "epochs=1", "--seeds", "1", "--no-store", "--out", str(out)]) == 0
    results = json.loads((out / "results.json").read_text())
    assert results["recipe"]["body"] == results["body"] == "efficientnet_lite0"  # torch_plain names resnet50
    assert results["summaries"][0]["accuracy"]["n"] == 1
