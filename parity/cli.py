"""The `parity` command line: `check` runs the parity cases, `list` shows them, `recipes` lists and diffs
training recipes, `train` runs one over seeds, `equivalence` tests torch against Keras on one recipe,
`bisect` attributes the accuracy gap between two recipes, `thread` runs the forum thread's comparison.
Exit 0: success; 1: a check failed or equivalence was not shown; 2: bad usage or input.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from parity.errors import ParityError

DATA_DIR_ENV = "PARITY_DATA_DIR"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="parity", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    check = sub.add_parser("check", help="run parity cases, print a table, write a report")
    check.add_argument("--only", help="comma-separated components (see `parity list`)")
    check.add_argument("--out", type=Path, help="report folder (default: a new folder under reports/)")
    check.add_argument("--data-dir", type=Path, default=os.environ.get(DATA_DIR_ENV) or None,
                       help=f"image-folder tree (train/<class>/*, test/<class>/*); env {DATA_DIR_ENV}")
    check.add_argument("--seed", type=int, default=0)
    listing = sub.add_parser("list", help="list the registered parity cases")
    listing.add_argument("--only", help="comma-separated components")
    from parity import commands

    commands.add_parsers(sub, DATA_DIR_ENV)
    return parser


def _print_table(rows: list[dict]) -> None:
    from parity.report import COLUMNS, table_rows

    cells = [list(COLUMNS)] + table_rows(rows)
    widths = [max(len(r[i]) for r in cells) for i in range(len(COLUMNS))]
    for r in cells:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip())


def _check_data_dir(path: Path | None) -> None:
    if path is not None and not Path(path).is_dir():
        raise ParityError(f"data folder {str(path)!r} does not exist")


def cmd_check(args) -> int:
    from parity.compare import run_case
    from parity.context import CheckContext
    from parity.frameworks import versions
    from parity.registry import select
    from parity.report import default_out_dir, summary, write_report

    cases = select(args.only)
    _check_data_dir(args.data_dir)
    out = args.out or default_out_dir("check")
    ctx = CheckContext(seed=args.seed, data_dir=args.data_dir)
    try:
        rows = []
        for i, case in enumerate(cases, 1):
            print(f"[{i}/{len(cases)}] {case.id}", file=sys.stderr, flush=True)
            rows.append(run_case(case, ctx))
    finally:
        ctx.close()
    _print_table(rows)
    write_report(out, rows, versions(), args.seed)
    s = summary(rows)
    print(f"\n{s['matched_passed']} matched passed, {s['matched_failed']} matched failed, "
          f"{s['divergences_measured']} divergences measured, {s['divergences_stale_or_broken']} stale or broken, "
          f"{s['skipped']} skipped. Report: {out}/report.md")
    return 0 if s["matched_failed"] == 0 and s["divergences_stale_or_broken"] == 0 else 1


def cmd_list(args) -> int:
    from parity.registry import select

    for case in select(args.only):
        print(f"{case.id:60s} {case.kind:10s} tol={case.tol}")
    return 0


def main(argv=None) -> int:
    args = _parser().parse_args(argv)
    try:
        from parity import commands

        handlers = {"check": cmd_check, "list": cmd_list, **commands.HANDLERS}
        return handlers[args.command](args)
    except ParityError as exc:
        print(f"parity: error: {exc}", file=sys.stderr)
        return 2
