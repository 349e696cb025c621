"""Where reports may be written: never over a file or a folder parity did not write, never a partial report,
unique default names, readable permissions; and every path is checked before any work."""

import json
import os
import stat
from pathlib import Path

import pytest

from parity.train import executors
from parity.core import outputs
from parity.cli.app import main
from parity.core.outputs import MARKER, report_dir

QUICK = ["--quiet", "--seeds", "1", "--train-per-class", "5", "--test-per-class", "3"]


@pytest.fixture
def readonly_dir(tmp_path):
    """A folder nobody may write to: mode 0555 for a normal user; sysfs for root, who ignores mode bits."""
    if os.geteuid() == 0:
        yield Path("/sys/kernel")
        return
    folder = tmp_path / "readonly"
    folder.mkdir()
    folder.chmod(0o555)
    yield folder
    folder.chmod(0o755)


@pytest.fixture
def no_training(monkeypatch):
    """Any training run fails the test: used to prove a command refuses its input before it trains."""
    def refuse(*args, **kwargs):
        raise AssertionError("a run started before the input was checked")

    monkeypatch.setattr(executors, "_run_on_lane", refuse)


def _report(tmp_path, name="rep") -> Path:
    out = tmp_path / name
    assert main(["check", "--only", "loss", "--out", str(out)]) == 0
    return out


def test_existing_file_is_never_replaced(tmp_path, capsys):
    notes = tmp_path / "notes.txt"
    notes.write_text("my notes")
    assert main(["check", "--only", "loss", "--out", str(notes)]) == 2
    assert "is an existing file" in capsys.readouterr().err
    assert notes.read_text() == "my notes" and sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]


def test_foreign_folder_is_never_replaced(tmp_path, capsys):
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "thesis.tex").write_text("months of work")
    assert main(["check", "--only", "loss", "--out", str(folder)]) == 2
    assert "parity did not write" in capsys.readouterr().err
    assert [p.name for p in folder.iterdir()] == ["thesis.tex"]


def test_report_with_a_foreign_file_added_is_refused(tmp_path, capsys):
    out = _report(tmp_path)
    (out / "my-notes.md").write_text("keep me")
    assert main(["check", "--only", "loss", "--out", str(out)]) == 2
    assert "my-notes.md" in capsys.readouterr().err and (out / "my-notes.md").read_text() == "keep me"


def test_rerun_replaces_an_old_parity_report(tmp_path):
    out = _report(tmp_path)
    first = json.loads((out / "results.json").read_text())["created"]
    (out / "report.md").write_text("stale")
    assert main(["check", "--only", "loss", "--out", str(out)]) == 0
    assert (out / "report.md").read_text() != "stale" and json.loads((out / MARKER).read_text())["kind"] == "check"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rep"], first  # no trash or temporary folder left


def test_out_dot_is_refused_and_leaves_nothing(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["check", "--only", "loss", "--out", "."]) == 2
    assert "current folder" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_out_in_a_readonly_folder_is_refused_before_work(readonly_dir, tmp_path, no_training, capsys):
    argv = ["train", "--recipe", "torch_plain", *QUICK, "--store", str(tmp_path / "store")]
    assert main([*argv, "--out", str(readonly_dir / "rep")]) == 2
    assert "is not writable" in capsys.readouterr().err


def test_readonly_store_is_refused_before_work(readonly_dir, tmp_path, no_training, capsys):
    argv = ["train", "--recipe", "torch_plain", *QUICK, "--out", str(tmp_path / "rep")]
    assert main([*argv, "--store", str(readonly_dir)]) == 2
    assert "--store folder" in capsys.readouterr().err and not (tmp_path / "rep").exists()


def test_bad_margin_is_refused_before_work(tmp_path, no_training, capsys):
    argv = ["equivalence", "--recipe", "keras_thread_64", *QUICK, "--no-store", "--out", str(tmp_path / "rep")]
    assert main([*argv, "--margin", "-1"]) == 2
    assert "--margin takes a number above 0 and below 1" in capsys.readouterr().err


def test_default_names_are_unique_within_one_second(tmp_path, monkeypatch):
    monkeypatch.setattr(outputs, "default_out", lambda kind: tmp_path / f"{kind}-20261201-000000")
    landed = []
    for _ in range(3):
        with report_dir(None, "check") as pending:
            (pending.tmp / "report.md").write_text("x")
        landed.append(pending.path.name)
    assert landed == ["check-20261201-000000", "check-20261201-000000-2", "check-20261201-000000-3"]


def test_failed_report_leaves_nothing(tmp_path):
    with pytest.raises(RuntimeError):
        with report_dir(tmp_path / "rep", "check") as pending:
            (pending.tmp / "report.md").write_text("half")
            raise RuntimeError("disk full")
    assert list(tmp_path.iterdir()) == []


def test_report_folders_are_readable_by_others(tmp_path):
    old = os.umask(0o022)
    try:
        out = _report(tmp_path)
    finally:
        os.umask(old)
    assert stat.S_IMODE(out.stat().st_mode) == 0o755


def test_reports_index_lists_every_report_newest_first(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    first, second = _report(tmp_path, "reports/a"), _report(tmp_path, "reports/b")
    assert main(["reports"]) == 0
    text = (tmp_path / "reports" / "index.html").read_text()
    assert text.index("b/report.html") < text.index("a/report.html")  # newest first; in one second, by name descending
    assert (first / "report.html").exists() and (second / "report.html").exists()


def test_a_new_default_report_updates_the_index(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["check", "--only", "loss"]) == 0
    index = (tmp_path / "reports" / "index.html").read_text()
    (report,) = [p for p in (tmp_path / "reports").iterdir() if p.is_dir()]
    assert f"{report.name}/report.html" in index


def _curve_rows(n: int, broken: bool = False) -> list[dict]:
    """Rows of `n` figures of the divergence_curves family (`broken`: without the curve they need)."""
    return [{"figure": f"divergence_curves/kind{i}", "status": "pass", "component": "optim", "case": f"case {i}",
             "detail": {} if broken else {"curve": [1.0, 0.5 ** i, 1e-3], "curve_label": "max |a - b|"}}
            for i in range(n)]


def test_figures_drawn_in_processes_equal_those_drawn_here(tmp_path):
    from parity.reports import plots

    rows = _curve_rows(3)
    drawn = plots.draw_case_figures(rows, tmp_path)  # three figures: one process per core
    assert [d["figure"] for d in drawn] == [r["figure"] for r in rows]
    for row in rows:
        here = tmp_path / f"here-{plots.figure_file(row['figure'])}"
        plots._draw(row["figure"], [row], here)
        assert (tmp_path / plots.figure_file(row["figure"])).read_bytes() == here.read_bytes()


def test_an_interrupt_while_figures_are_drawn_ends_their_processes(tmp_path, monkeypatch):
    """Ctrl-C or SIGTERM (parity.cli.app raises both as KeyboardInterrupt) while the figure processes draw: they
    end with the interrupted process. Left running, they wrote into the report folder being removed and
    printed tracebacks after parity's last line (seen on a check terminated while it drew)."""
    import signal
    import subprocess
    import threading

    from parity.reports import plots

    started = []

    class SlowToDraw(subprocess.Popen):  # figures that take a while: each process waits a minute first
        def __init__(self, args, **kwargs):
            python, flag, script = args
            super().__init__([python, flag, "import time; time.sleep(60)\n" + script], **kwargs)
            started.append(self)

    monkeypatch.setattr(subprocess, "Popen", SlowToDraw)
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)  # Ctrl-C as in a terminal
    timer = threading.Timer(0.5, signal.pthread_kill, (threading.main_thread().ident, signal.SIGINT))  # a real
    try:  # signal, not interrupt_main: it must break into the blocking read of the drawings as Ctrl-C does
        timer.start()
        with pytest.raises(KeyboardInterrupt):
            plots.draw_case_figures(_curve_rows(3), tmp_path)
    finally:
        timer.cancel()
        signal.signal(signal.SIGINT, previous)
    assert len(started) == 2 and all(proc.poll() is not None for proc in started)
    assert not list(tmp_path.glob("*.png"))


def test_a_figure_that_cannot_be_drawn_fails_the_report(tmp_path):
    from parity.reports import plots

    with pytest.raises(RuntimeError, match="drawing the report's figures failed"):
        plots.draw_case_figures(_curve_rows(3, broken=True), tmp_path)
