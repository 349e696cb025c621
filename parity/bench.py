"""Feature-cache benchmark: a frozen-body recipe trained over seeds with and without cached body features,
in both frameworks; writes the wall times, the speed-up and the (identical) accuracies to a report folder.

    python -m parity.bench [--data-dir PATH] [--train-per-class N] [--test-per-class N] [--seeds 3] [--out DIR]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from parity import recipes
from parity.errors import ParityError

RECIPE = "keras_thread_64"  # the thread's Keras code: frozen body, BN in inference mode


def measure(spec, body: str, seeds: list[int]) -> list[dict]:
    from parity import workers
    from parity.training import run

    rows = []
    for framework in ("torch", "keras_tf"):
        recipe = recipes.with_knobs(recipes.get_recipe(RECIPE), framework=framework)
        row = {"recipe": RECIPE, "framework": framework, "seeds": seeds}
        for label, use_cache in (("uncached", False), ("cached", True)):
            workers.shutdown()  # a fresh worker: the cached side pays for its one feature pass
            run(recipe, spec, seeds[0], body, use_cache=use_cache)  # warm-up: worker start and imports not timed
            workers.call(framework, "parity.training:forget_here")
            start = time.perf_counter()
            accs = [run(recipe, spec, s, body, use_cache=use_cache)["accuracy"] for s in seeds]
            row[f"{label}_seconds"] = round(time.perf_counter() - start, 2)
            row[f"{label}_accuracy"] = accs
        row["speedup"] = round(row["uncached_seconds"] / row["cached_seconds"], 2)
        row["identical"] = row["uncached_accuracy"] == row["cached_accuracy"]
        rows.append(row)
        print(f"{framework}: {len(seeds)} seeds uncached {row['uncached_seconds']} s, cached "
              f"{row['cached_seconds']} s (incl. the one feature pass): {row['speedup']}x, accuracies identical: "
              f"{row['identical']}", flush=True)
    return rows


def main(argv=None) -> int:
    from parity.args import parse_seeds
    from parity.datasets import DataSpec
    from parity.outputs import report_dir

    p = argparse.ArgumentParser(prog="python -m parity.bench", description=__doc__.split("\n")[0])
    p.add_argument("--data-dir", type=Path)
    p.add_argument("--train-per-class", type=int, default=100)
    p.add_argument("--test-per-class", type=int, default=50)
    p.add_argument("--seeds", default="3")
    p.add_argument("--body", default="efficientnet_lite0")
    p.add_argument("--out", type=Path)
    args = p.parse_args(argv)
    try:
        source = "folder" if args.data_dir else "digits"
        if args.data_dir and not args.data_dir.is_dir():
            raise ParityError(f"data folder {str(args.data_dir)!r} does not exist")
        tpc = min(args.train_per_class, 120) if source == "digits" else args.train_per_class
        spec = DataSpec(source, str(args.data_dir) if args.data_dir else None, tpc,
                        min(args.test_per_class, 50) if source == "digits" else args.test_per_class)
        rows = measure(spec, args.body, parse_seeds(args.seeds))
    except ParityError as exc:
        print(f"parity bench: error: {exc}", file=sys.stderr)
        return 2
    with report_dir(args.out, "bench") as pending:
        tmp = pending.tmp
        (tmp / "feature_cache.json").write_text(json.dumps({"data": spec.key(), "body": args.body, "rows": rows},
                                                           indent=1))
        lines = ["# Feature cache benchmark", "", f"Data {spec.key()}, body {args.body}, recipe {RECIPE}.", "",
                 "| framework | seeds | uncached (s) | cached (s) | speed-up | identical accuracies |",
                 "|---|---|---|---|---|---|"]
        lines += [f"| {r['framework']} | {len(r['seeds'])} | {r['uncached_seconds']} | {r['cached_seconds']} | "
                  f"{r['speedup']}x | {r['identical']} |" for r in rows]
        (tmp / "report.md").write_text("\n".join(lines) + "\n")
    print(f"Report: {pending.path}/report.md")
    return 0 if all(r["identical"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
