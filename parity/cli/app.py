"""The `parity` command line: `check` runs the parity cases, `list` shows them, `capture` reads a training
program into a recipe, `recipes` lists and diffs training recipes, `train` runs one over seeds, `equivalence`
tests torch against Keras on one recipe, `bisect` attributes the accuracy gap between two recipes, `thread`
runs the forum thread's comparison, `diff` compares two runs, `reports` rebuilds the reports index.
Exit 0: success; 1: a check failed, equivalence was not shown or a diff found changed verdicts; 2: bad usage
or input; 130: interrupted (Ctrl-C); 143: terminated (SIGTERM), cleaned up as after Ctrl-C.
"""

from __future__ import annotations

import os
import sys

# TensorFlow's C++ logging (oneDNN notices, CPU feature lines) goes to stderr at import unless this is set first;
# errors still show. Set here, before anything can import TensorFlow.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("ABSL_MIN_LOG_LEVEL", "2")

import argparse  # noqa: E402
import signal  # noqa: E402
import threading  # noqa: E402
from contextlib import contextmanager  # noqa: E402
from pathlib import Path  # noqa: E402

from parity.check.cases import all_cases, select
from parity.check.compare import check_cases
from parity.check.context import CheckContext
from parity.cli import commands, programs
from parity.cli.args import check_data_dir, check_out_arg, default_data_dir  # noqa: E402
from parity.core import runinfo  # noqa: E402
from parity.core.errors import Interrupted, ParityError, Terminated  # noqa: E402
from parity.reports import diff
from parity.reports.index import entries, write_index
from parity.reports.report import COLUMNS, PROBLEMS, summary, table_rows, write_report
from parity.runtime import workers
from parity.runtime.backends import DEFAULT_BACKENDS, parse_backends, versions
from parity.selftest import faultlist, faults, run as selftest

STATUS_COLOURS = {"pass": "32", "FAIL": "31", "ERROR": "31", "NON-FINITE": "31", "STALE": "33", "skipped": "2"}


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="parity", description="Cross-framework parity suite for transfer learning (PyTorch/fastai vs "
        "TensorFlow/Keras): mirrored components, differential checks, gap attribution and reports.",
        epilog="Exit codes: 0 success; 1 a check failed, equivalence was not shown or a diff found changed "
        "verdicts; 2 bad usage or input; 130 interrupted. Reports go to ./reports/ unless --out says otherwise.")
    sub = parser.add_subparsers(dest="command", required=True)
    check = sub.add_parser("check", help="run parity cases, print a table, write a report")
    check.add_argument("--only", help="comma-separated components, case ids or id patterns (see `parity list`)")
    check.add_argument("--out", type=Path, help="report folder (default: a new folder under ./reports/)")
    check.add_argument("--data-dir", type=Path, default=default_data_dir(),
                       help="image-folder tree (train/<class>/*, test/<class>/*); env PARITY_DATA_DIR")
    check.add_argument("--seed", type=int, default=0)
    check.add_argument("--backends", help="comma-separated backends to compare pairwise: torch, keras_tf, keras_torch "
                                          "(default torch,keras_tf)")
    listing = sub.add_parser("list", help="list the registered parity cases")
    listing.add_argument("--only", help="comma-separated components, case ids or id patterns")
    reports = sub.add_parser("reports", help="write reports/index.html listing every report, newest first")
    reports.add_argument("--dir", type=Path, default=Path("reports"), help="the folder of reports (default ./reports)")
    st = sub.add_parser("selftest", help="plant each catalogued fault, run its component's cases, report which "
                                         "faults the suite detects and localises")
    st.add_argument("--only", help="comma-separated components whose faults to plant")
    st.add_argument("--faults", help="comma-separated fault ids (see parity/selftest/faultlist.py)")
    st.add_argument("--out", type=Path, help="report folder (default: a new folder under ./reports/)")
    st.add_argument("--seed", type=int, default=0)
    diff = sub.add_parser("diff", help="compare two runs of the same kind (report folders or results.json)")
    diff.add_argument("run_a", metavar="RUN_A")
    diff.add_argument("run_b", metavar="RUN_B")
    diff.add_argument("--factor", type=float, default=2.0,
                      help="check runs: list cases whose error moved by more than this factor (default 2)")
    diff.add_argument("--out", type=Path, help="report folder (default: a new folder under ./reports/)")
    commands.add_parsers(sub)
    return parser


def _colour(text: str, status: str, width: int) -> str:
    code = STATUS_COLOURS.get(status)
    return f"\033[{code}m{text.ljust(width)}\033[0m" if code and sys.stdout.isatty() else text.ljust(width)


def _print_table(rows: list[dict]) -> None:
    cells = [list(COLUMNS)] + table_rows(rows)
    widths = [max(len(r[i]) for r in cells) for i in range(len(COLUMNS))]
    for r in cells:
        line = [c.ljust(w) for c, w in zip(r[:-1], widths)] + [_colour(r[-1], r[-1], widths[-1])]
        print("  ".join(line).rstrip())


def cmd_check(args) -> int:
    cases = select(args.only)
    backends = parse_backends(args.backends)
    check_data_dir(args.data_dir)
    check_out_arg(args.out)
    if args.seed < 0:
        raise ParityError(f"--seed must be >= 0, got {args.seed}")
    ctx = CheckContext(seed=args.seed, data_dir=args.data_dir)
    rows: list = [None] * len(cases)
    try:
        for done, (i, row) in enumerate(check_cases(cases, ctx, backends), 1):
            rows[i] = row
            print(f"[{done}/{len(cases)}] {cases[i].id}: {row['status']} ({row['seconds']:.1f} s)",
                  file=sys.stderr, flush=True)
    except KeyboardInterrupt:
        finished = sum(r is not None for r in rows)
        raise Interrupted(f"interrupted after {finished} of {len(cases)} cases; no report written") from None
    finally:
        ctx.close()
    _print_table(rows)
    out = write_report(args.out, rows, versions(), args.seed, args.data_dir, backends)
    s = summary(rows)
    print(f"\n{s['matched_passed']} matched passed, {s['matched_failed']} matched failed, "
          f"{s['divergences_measured']} divergences measured, {s['divergences_stale_or_broken']} stale or broken, "
          f"{s['skipped']} skipped. Report: {out}/report.html")
    return 0 if s["matched_failed"] == 0 and s["divergences_stale_or_broken"] == 0 else 1


def cmd_selftest(args) -> int:
    chosen = faultlist.select(args.only, args.faults)
    check_out_arg(args.out)
    if args.seed < 0:
        raise ParityError(f"--seed must be >= 0, got {args.seed}")
    workers.plan(len(DEFAULT_BACKENDS) + 1)
    components = sorted({f.component for f in chosen if not f.oracle})
    cases = [c for c in all_cases() if c.component in components]
    oracles = selftest.oracle_nodes(chosen)
    print(f"{len(chosen)} faults over {', '.join(components)}; first the {len(cases)} cases"
          + (f" and {len(oracles)} oracle tests" if oracles else "") + " with no fault planted",
          file=sys.stderr, flush=True)
    try:
        baseline = selftest.baseline(chosen, cases, args.seed)
        results = []
        for k, fault in enumerate(chosen, 1):
            results.append(selftest.run_fault(fault, args.seed))
            r = results[-1]
            print(f"[{k}/{len(chosen)}] {fault.id}: {r['verdict']}" + (f" ({r['reason']})" if r["reason"] else ""),
                  file=sys.stderr, flush=True)
    except KeyboardInterrupt:
        raise Interrupted("interrupted; every planted fault was undone; no report written") from None
    left = {b: workers.call(b, workers.target_of(faults.patched_here)) for b, *_ in workers.started()}
    if any(left.values()):
        raise ParityError(f"faults left planted after the self-test: {left}")
    rates = selftest.rates(results)
    failing = [i for i, row in baseline.items() if row["status"] in (*PROBLEMS, "unrun")]
    ok = not rates["unexpected_misses"] and not failing
    text = selftest.sentence(rates)
    out = selftest.write(args.out, {"selftest": {"results": results, "rates": rates, "seed": args.seed,
                                                 "backends": list(DEFAULT_BACKENDS), "baseline_failures": failing},
                                    "verdict": {"ok": ok, "text": text}, "versions": versions()})
    print(f"{text} Report: {out}/report.html")
    return 0 if ok else 1


def cmd_list(args) -> int:
    for case in select(args.only):
        print(f"{case.id:58s} {case.kind:10s} {case.tol:22s} {case.name}")
    return 0


def cmd_reports(args) -> int:
    if not args.dir.is_dir():
        raise ParityError(f"--dir {str(args.dir)!r} is not a folder")
    path = write_index(args.dir)
    print(f"{len(entries(args.dir))} reports listed in {path}")
    return 0


def cmd_diff(args) -> int:
    check_out_arg(args.out)
    result = diff.diff_runs(args.run_a, args.run_b, args.factor)
    out = diff.write(args.out, result)
    print((out / "report.md").read_text(), end="")
    print(f"Report: {out}/report.html")
    return 1 if result["changed"] else 0


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    runinfo.begin(argv)
    try:
        with _sigterm_as_interrupt():
            argv, program_argv = programs.split_program_args(argv)
            args = _parser().parse_args(argv)
            args.args = program_argv
            handlers = {"check": cmd_check, "list": cmd_list, "reports": cmd_reports, "diff": cmd_diff,
                        "selftest": cmd_selftest,
                        **commands.HANDLERS}
            return handlers[args.command](args)
    except ParityError as exc:
        print(f"parity: error: {exc}", file=sys.stderr)
        return 2
    except Interrupted as exc:
        return _interrupted(str(exc), isinstance(exc.__context__, Terminated))
    except KeyboardInterrupt as exc:
        return _interrupted("interrupted; no report written", isinstance(exc, Terminated))
    except BrokenPipeError:  # `parity ... | head`: the reader left; say nothing more
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141


def _interrupted(message: str, terminated: bool) -> int:
    print(f"parity: {'terminated (SIGTERM); ' if terminated else ''}{message}", file=sys.stderr)
    return 128 + signal.SIGTERM if terminated else 130


def _raise_terminated(signum, frame):
    signal.signal(signal.SIGTERM, signal.SIG_DFL)  # a second SIGTERM during the clean-up ends the process
    raise Terminated


@contextmanager
def _sigterm_as_interrupt():
    """SIGTERM takes Ctrl-C's way out while a command runs (without this, a `timeout` or a cancelled job ended
    a check at once and left its temporary folder behind). Only the main thread can set a handler; the one
    there before comes back afterwards (main() also runs inside tests)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL if previous is None else previous)
