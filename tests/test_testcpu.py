"""benchmarks.testcpu, the plugin behind `python -m benchmarks.bench --only tests-by-file`: a test is charged the CPU of
the processes it keeps busy, its own and its children's, and the lines sum per file."""

import subprocess
import sys
from pathlib import Path

from benchmarks import bench, testcpu

ROOT = Path(__file__).resolve().parents[1]  # benchmarks/ is not installed: the child finds it here

BUSY = '''
import subprocess
from pathlib import Path, sys

CHILD = []

def test_busy_in_a_child_that_stays():  # like a backend worker: it works for the test, and lives on
    CHILD.append(subprocess.Popen([sys.executable, "-c", "x = 0\\nfor i in range(10_000_000): x += i\\n"
                                   "print('done', flush=True)\\nimport time; time.sleep(60)"],
                                  stdout=subprocess.PIPE, text=True))
    assert CHILD[0].stdout.readline() == "done\\n"

def test_idle():
    pass

def test_ending_the_child():
    CHILD[0].kill()
    CHILD[0].wait()
'''


def test_a_test_is_charged_the_cpu_of_the_child_it_keeps_busy(tmp_path):
    """The child is alive when its test ends (counted as a descendant), and reaped in a later test (its time
    then moves into the reaper's own figures, and that test is not charged it again)."""
    (tmp_path / "test_probe.py").write_text(BUSY)
    log = tmp_path / "cpu.tsv"
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "benchmarks.testcpu",
                           "test_probe.py"], cwd=tmp_path, capture_output=True, text=True,
                          env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT), testcpu.ENV: str(log)})
    assert proc.returncode == 0, proc.stdout[-1000:]
    cpu = {row["test"].split("::")[1]: row["cpu"] for row in testcpu.summary(log)["tests"]}
    assert cpu["test_busy_in_a_child_that_stays"] > 0.2, cpu
    assert cpu["test_idle"] < 0.1 and cpu["test_ending_the_child"] < 0.1, cpu


def test_lines_sum_per_file_dearest_first(tmp_path):
    log = tmp_path / "cpu.tsv"
    log.write_text("1.0\t2.5\ttests/a.py::x\n0.5\t0.5\ttests/b.py::y\n2.0\t1.0\ttests/b.py::z[p-q]\n"
                   "0.1\t-0.2\ttests/a.py::w\n")
    result = testcpu.summary(log, top=2)
    assert result["files"] == [{"file": "tests/a.py", "cpu": 2.3, "wall": 1.1, "tests": 2},
                               {"file": "tests/b.py", "cpu": 1.5, "wall": 2.5, "tests": 2}]
    assert [t["test"] for t in result["tests"]] == ["tests/a.py::x", "tests/b.py::z[p-q]"]
    assert result["total_cpu"] == 3.8


def test_bench_names_what_it_can_measure(capsys):
    assert bench.main(["--only", "tests,disk"]) == 2
    assert "--only takes check, tests, executors, tests-by-file, cache" in capsys.readouterr().err

