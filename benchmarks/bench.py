"""Benchmarks that later changes are compared against: whole-process wall times (median of several runs) of
`parity check`, of the default test suite, of one bisect under each executor, and the feature cache's speed-up;
and, on request, the CPU of the default test suite per test file (`tests-by-file`, one run: benchmarks.testcpu).
Writes bench.json and report.md into a report folder.

    python -m benchmarks.bench [--only check,tests,executors,cache,tests-by-file,overhead] [--runs 3]
                           [--data-dir PATH] [--out DIR]

`overhead` (benchmarks.overhead) needs --data-dir: an image-folder tree such as CIFAR-10's.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from parity.train import recipes
from parity.core.errors import ParityError
from parity.runtime.backends import DEFAULT_BACKENDS
from benchmarks import overhead

RECIPE = "keras_thread_64"  # the thread's Keras code: frozen body, BN in inference mode
BISECT = ["bisect", "--from", "fastai_v1_fit", "--to", "keras_thread_64", "--factors", "bn_policy,optimizer,lr",
          "--seeds", "2", "--train-per-class", "20", "--test-per-class", "10", "--quiet"]
TESTS = ["-m", "pytest", "-q", "-n", "2", "-m", "not slow and not ray"]  # the parallel part of `nox -s tests`
EXECUTORS = {"serial": ["--executor", "serial"], "processes --workers 2": ["--executor", "processes", "--workers", "2"],
             "ray": ["--executor", "ray"]}


def _timed(argv: list[str], runs: int, fresh_store: bool = False, report: bool = True) -> dict:
    """Median, min and max wall seconds of `argv` as a whole process, over `runs` runs (its report, and with
    `fresh_store` its result store, in a temporary folder); `results` is the last run's results.json."""
    times, results = [], None
    for _ in range(runs):
        with tempfile.TemporaryDirectory(prefix="parity-bench-") as tmp:
            extra = (["--store", str(Path(tmp) / "store")] if fresh_store else []) + \
                (["--out", str(Path(tmp) / "out")] if report else [])
            start = time.perf_counter()
            proc = subprocess.run([*argv, *extra], capture_output=True, text=True)
            times.append(time.perf_counter() - start)
            if report and (Path(tmp) / "out" / "results.json").is_file():
                results = json.loads((Path(tmp) / "out" / "results.json").read_text())
        if proc.returncode not in (0, 1):
            raise ParityError(f"{' '.join(argv)} exited {proc.returncode}: {proc.stderr[-500:]}")
    return {"command": " ".join(argv), "runs": runs, "median": round(statistics.median(times), 1),
            "min": round(min(times), 1), "max": round(max(times), 1), "results": results}


COMPARED = ("gap", "oat", "shapley", "ddmin", "interactions", "accuracy_from", "accuracy_to")


def check(runs: int) -> dict:
    row = _timed([sys.executable, "-m", "parity", "check"], runs)
    row["verdict"] = row.pop("results")["verdict"]
    return row


def tests(runs: int) -> dict:
    """The parallel part of `nox -s tests` (there the Ray tests run after it, beside the fastai 1 oracle tests:
    beside two pytest workers' backends a local Ray cluster reached the machine's 24 GB)."""
    row = _timed([sys.executable, *TESTS], runs, report=False)
    row.pop("results")
    return row


def tests_by_file(runs: int) -> dict:
    """One run of the parallel part of `nox -s tests` with benchmarks.testcpu: CPU seconds per test file and the
    dearest tests, each with the workers and fork servers it kept busy. `runs` is not used: it is one run."""
    import os

    from benchmarks import testcpu

    with tempfile.TemporaryDirectory(prefix="parity-bench-") as tmp:
        log = Path(tmp) / "tests.tsv"
        start = time.perf_counter()
        proc = subprocess.run([sys.executable, *TESTS, "-p", "benchmarks.testcpu"], capture_output=True, text=True,
                              env={**os.environ, testcpu.ENV: str(log)})
        wall = round(time.perf_counter() - start, 1)
        if proc.returncode != 0 or not log.is_file():
            raise ParityError(f"the tests exited {proc.returncode}: {proc.stdout[-500:]}")
        return {"wall": wall, **testcpu.summary(log)}


def executors(runs: int) -> dict:
    """The same small bisect (16 runs) under each executor, from an empty store each time."""
    out = {}
    for name, flags in EXECUTORS.items():
        out[name] = _timed([sys.executable, "-m", "parity", *BISECT, *flags], runs, fresh_store=True)
    base = out["serial"]
    for row in out.values():
        row["speedup_vs_serial"] = round(base["median"] / row["median"], 2)
        row["identical_to_serial"] = all(row["results"].get(k) == base["results"].get(k) for k in COMPARED)
    for row in out.values():
        row.pop("results")
    return out


def cache(spec, body: str, seeds: list[int]) -> list[dict]:
    """A frozen-body recipe over seeds with and without cached body features, in both default backends."""
    from parity.runtime import workers
    from parity.train.runner import run

    rows = []
    for framework in DEFAULT_BACKENDS:
        recipe = recipes.with_knobs(recipes.get_recipe(RECIPE), framework=framework)
        row = {"recipe": RECIPE, "framework": framework, "seeds": seeds}
        for label, use_cache in (("uncached", False), ("cached", True)):
            workers.shutdown()  # a fresh worker: the cached side pays for its one feature pass
            run(recipe, spec, seeds[0], body, use_cache=use_cache)  # warm-up: worker start and imports not timed
            workers.call(framework, "parity.train.training:forget_here")
            start = time.perf_counter()
            accs = [run(recipe, spec, s, body, use_cache=use_cache)["accuracy"] for s in seeds]
            row[f"{label}_seconds"] = round(time.perf_counter() - start, 2)
            row[f"{label}_accuracy"] = accs
        row["speedup"] = round(row["uncached_seconds"] / row["cached_seconds"], 2)
        row["identical"] = row["uncached_accuracy"] == row["cached_accuracy"]
        rows.append(row)
    return rows


def _markdown(results: dict) -> str:
    lines = ["# parity benchmarks", "", "Whole-process wall times in seconds (median, min, max over the runs).", ""]
    for name in ("check", "tests"):
        if name in results:
            r = results[name]
            lines.append(f"- `{name}`: median {r['median']} s (min {r['min']}, max {r['max']}, {r['runs']} runs)")
    if "executors" in results:
        lines += ["", "| executor | median s | min | max | speed-up vs serial | results identical to serial |",
                  "|---|---|---|---|---|---|"]
        lines += [f"| {k} | {v['median']} | {v['min']} | {v['max']} | {v['speedup_vs_serial']}x | "
                  f"{v['identical_to_serial']} |" for k, v in results["executors"].items()]
    if "tests-by-file" in results:
        r = results["tests-by-file"]
        lines += ["", f"The tests' CPU seconds per file, each test with the workers it kept busy (one run of "
                  f"{r['wall']} s; {r['total_cpu']} CPU-s in tests):", "", "| file | CPU s | tests |", "|---|---|---|"]
        lines += [f"| {f['file']} | {f['cpu']} | {f['tests']} |" for f in r["files"]]
        lines += ["", "| dearest tests | CPU s | wall s |", "|---|---|---|"]
        lines += [f"| `{t['test']}` | {t['cpu']:.1f} | {t['wall']:.1f} |" for t in r["tests"]]
    if "cache" in results:
        lines += ["", "| framework | uncached s | cached s | speed-up | identical accuracies |", "|---|---|---|---|---|"]
        lines += [f"| {r['framework']} | {r['uncached_seconds']} | {r['cached_seconds']} | {r['speedup']}x | "
                  f"{r['identical']} |" for r in results["cache"]]
    if "overhead" in results:
        lines += overhead.markdown(results["overhead"])
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    from parity.cli.args import parse_seeds
    from parity.components.datasets import DataSpec
    from parity.core.outputs import report_dir

    p = argparse.ArgumentParser(prog="python -m benchmarks.bench", description=__doc__.split("\n")[0])
    p.add_argument("--only", default="check,tests,executors,cache")
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--data-dir", type=Path)
    p.add_argument("--train-per-class", type=int, default=100)
    p.add_argument("--test-per-class", type=int, default=50)
    p.add_argument("--seeds", default="3")
    p.add_argument("--body", default="efficientnet_lite0")
    p.add_argument("--out", type=Path)
    args = p.parse_args(argv)
    try:
        wanted = [w.strip() for w in args.only.split(",") if w.strip()]
        timed = {"check": check, "tests": tests, "executors": executors, "tests-by-file": tests_by_file}
        unknown = sorted(set(wanted) - {*timed, "cache", "overhead"})
        if unknown or args.runs < 1:
            raise ParityError(f"--only takes {', '.join([*timed, 'cache', 'overhead'])} and --runs >= 1; got "
                              f"{args.only!r}, {args.runs}")
        if "overhead" in wanted and not (args.data_dir and args.data_dir.is_dir()):
            raise ParityError(f"--only overhead needs --data-dir, an image-folder tree (train/<class>/*, "
                              f"test/<class>/*); got {str(args.data_dir) if args.data_dir else 'none'!r}")
        results = {}
        for name, measure in timed.items():
            if name in wanted:
                results[name] = measure(args.runs)
                print(f"{name}: {json.dumps(results[name])}", flush=True)
        if "cache" in wanted:
            source = "folder" if args.data_dir else "digits"
            if args.data_dir and not args.data_dir.is_dir():
                raise ParityError(f"data folder {str(args.data_dir)!r} does not exist")
            tpc = min(args.train_per_class, 120) if source == "digits" else args.train_per_class
            spec = DataSpec(source, str(args.data_dir) if args.data_dir else None, tpc,
                            min(args.test_per_class, 50) if source == "digits" else args.test_per_class)
            results["cache"] = cache(spec, args.body, parse_seeds(args.seeds))
            print(f"cache: {json.dumps(results['cache'])}", flush=True)
        if "overhead" in wanted:
            results["overhead"] = overhead.overhead(_timed, args.runs, args.data_dir, args.train_per_class,
                                                    args.test_per_class)
    except ParityError as exc:
        print(f"parity bench: error: {exc}", file=sys.stderr)
        return 2
    with report_dir(args.out, "bench") as pending:
        (pending.tmp / "bench.json").write_text(json.dumps(results, indent=1))
        (pending.tmp / "report.md").write_text(_markdown(results))
    print(f"Report: {pending.path}/report.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
