"""Where the test suite's CPU goes, test by test: a pytest plugin (`pytest -p benchmarks.testcpu`, with the file to
append to in PARITY_TEST_CPU) that reads, at the start and the end of every test, the CPU time of the process
that runs it and of all its descendants (its backend workers, their fork servers and forks: where most of a
test's work is done), from /proc. `summary` sums the lines per test file. Linux only. `python -m benchmarks.bench
--only tests-by-file` runs the default suite with it.

A descendant that dies is counted as long as a process in the tree reaps it (its time moves to the reaper's
children's time); one reaped by init (a worker whose fork server died first) takes its time out of the tree,
and the test that ended it shows less, down to a negative figure."""

from __future__ import annotations

import os
import time
from collections import defaultdict
from pathlib import Path

ENV = "PARITY_TEST_CPU"


def runs_tests(config) -> bool:
    """False only in pytest-xdist's controller, which hands tests to its workers and runs none."""
    return hasattr(config, "workerinput") or not getattr(config.option, "numprocesses", None)


def tree_cpu(root: int) -> float:
    """CPU seconds of `root` and its live descendants, each with the time of the children it has reaped."""
    ticks = os.sysconf("SC_CLK_TCK")
    children: dict[int, list[int]] = defaultdict(list)
    times: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:  # ended meanwhile
            continue
        pid = int(entry)
        children[int(fields[1])].append(pid)
        times[pid] = sum(int(t) for t in fields[11:15])  # utime, stime, cutime, cstime
    total, stack = 0, [root]
    while stack:
        pid = stack.pop()
        total += times.get(pid, 0)
        stack.extend(children.get(pid, ()))
    return total / ticks


_OUT: list[Path] = []
_STARTED: dict[str, tuple[float, float]] = {}


def pytest_configure(config) -> None:
    if os.environ.get(ENV) and runs_tests(config):
        _OUT.append(Path(os.environ[ENV]))


def pytest_runtest_logstart(nodeid, location) -> None:
    if _OUT:
        _STARTED[nodeid] = (time.perf_counter(), tree_cpu(os.getpid()))


def pytest_runtest_logfinish(nodeid, location) -> None:
    if _OUT and nodeid in _STARTED:
        wall, cpu = _STARTED.pop(nodeid)
        line = f"{time.perf_counter() - wall:.3f}\t{tree_cpu(os.getpid()) - cpu:.3f}\t{nodeid}\n"
        with open(_OUT[0], "a") as out:  # one short write in append mode: lines of two workers do not mix
            out.write(line)


def summary(path: Path, top: int = 15) -> dict:
    """{total_cpu, total_wall, files: [{file, cpu, wall, tests}] dearest first, tests: the `top` dearest}."""
    rows = []
    for line in Path(path).read_text().splitlines():
        wall, cpu, nodeid = line.split("\t", 2)
        rows.append({"test": nodeid, "cpu": float(cpu), "wall": float(wall)})
    files: dict[str, dict] = {}
    for row in rows:
        name = row["test"].split("::", 1)[0]
        entry = files.setdefault(name, {"file": name, "cpu": 0.0, "wall": 0.0, "tests": 0})
        entry["cpu"] += row["cpu"]
        entry["wall"] += row["wall"]
        entry["tests"] += 1
    ordered = sorted(files.values(), key=lambda f: -f["cpu"])
    for entry in ordered:
        entry["cpu"], entry["wall"] = round(entry["cpu"], 1), round(entry["wall"], 1)
    return {"total_cpu": round(sum(r["cpu"] for r in rows), 1), "total_wall": round(sum(r["wall"] for r in rows), 1),
            "files": ordered, "tests": sorted(rows, key=lambda r: -r["cpu"])[:top]}
