"""`parity recipes | train | equivalence | bisect | thread`: the training side of the command line."""

from __future__ import annotations

import ast
import os
from pathlib import Path

from parity import recipes
from parity.errors import ParityError, unknown

DEFAULT_BODY = "efficientnet_lite0"  # the ImageNet-pretrained body available offline


def _data_options(p, data_env: str) -> None:
    p.add_argument("--data", choices=("digits", "cifar10", "folder"),
                   help="data source (default: folder when --data-dir is given, else sklearn digits)")
    p.add_argument("--data-dir", type=Path, default=os.environ.get(data_env) or None,
                   help=f"image-folder tree train/<class>/*, test/<class>/* (env {data_env})")
    p.add_argument("--train-per-class", type=int, help="training images per class (default: all)")
    p.add_argument("--test-per-class", type=int, help="test images per class (default: all)")
    p.add_argument("--body", default=DEFAULT_BODY,
                   help=f"body for every recipe (default {DEFAULT_BODY}; resnet50 needs its weights downloaded once)")
    p.add_argument("--seeds", default="3", help="a count (3 = seeds 0,1,2) or a comma-separated list")
    p.add_argument("--store", type=Path, help="result store folder (default ~/.cache/parity/runs, env PARITY_STORE)")
    p.add_argument("--no-store", action="store_true", help="keep results in memory only")
    p.add_argument("--no-cache", action="store_true", help="never use cached body features")
    p.add_argument("--quiet", action="store_true", help="no progress bars (one line per finished run remains)")
    p.add_argument("--out", type=Path, help="report folder (default: a new folder under reports/)")


def add_parsers(sub, data_env: str) -> None:
    rec = sub.add_parser("recipes", help="list the training recipes, or diff two")
    rec.add_argument("--diff", nargs=2, metavar=("A", "B"), help="show the knobs that differ between A and B")
    train = sub.add_parser("train", help="train a recipe over seeds; accuracy per seed and mean with 95% CI")
    train.add_argument("--recipe", required=True)
    train.add_argument("--framework", choices=("torch", "keras"), help="override the recipe's framework")
    train.add_argument("--set", action="append", default=[], metavar="KNOB=VALUE", help="override a knob")
    _data_options(train, data_env)
    eq = sub.add_parser("equivalence", help="torch vs Keras end accuracy of one recipe: paired TOST")
    eq.add_argument("--recipe", default="keras_matched")
    eq.add_argument("--margin", type=float, default=0.03, help="equivalence margin in accuracy (0.03 = 3 points)")
    _data_options(eq, data_env)
    bis = sub.add_parser("bisect", help="attribute the accuracy gap between two recipes to their differing knobs")
    bis.add_argument("--from", dest="a", required=True, metavar="A")
    bis.add_argument("--to", dest="b", required=True, metavar="B")
    bis.add_argument("--factors", help="comma-separated knobs to attribute (the other differing knobs stay at A's)")
    bis.add_argument("--methods", default="oat,ddmin,shapley,interactions")
    bis.add_argument("--permutations", type=int, default=8, help="orderings sampled beyond 8 factors")
    bis.add_argument("--top", type=int, default=4, help="leading factors whose pairwise interactions are run")
    _data_options(bis, data_env)
    thread = sub.add_parser("thread", help="the forum thread: fastai_v1_fit vs the thread's Keras code, the 2x2, "
                                           "and torch-vs-Keras equivalence of fastai's recipe")
    thread.add_argument("--permutations", type=int, default=4)
    thread.add_argument("--top", type=int, default=3)
    thread.add_argument("--equivalence-seeds", type=int, default=5)
    _data_options(thread, data_env)


def parse_seeds(text: str) -> list[int]:
    try:
        if "," not in text:
            count = int(text)
            if count < 1:
                raise ValueError
            return list(range(count))
        seeds = [int(s) for s in text.split(",") if s.strip()]
    except ValueError:
        raise ParityError(f"--seeds must be a positive count or a comma-separated list of integers, got {text!r}")
    if len(set(seeds)) != len(seeds) or not seeds:
        raise ParityError(f"--seeds lists a seed twice or none: {text!r}")
    return seeds


def parse_set(items: list[str]) -> dict:
    out = {}
    for item in items:
        if "=" not in item:
            raise ParityError(f"--set wants KNOB=VALUE, got {item!r}")
        key, raw = item.split("=", 1)
        if key not in recipes.KNOBS:
            raise unknown("recipe knob", key, recipes.KNOBS)
        try:
            value = ast.literal_eval(raw)
        except (ValueError, SyntaxError):
            value = raw
        out[key] = value
    return out


def _spec(args):
    from parity.cli import _check_data_dir
    from parity.datasets import DataSpec

    source = args.data or ("folder" if args.data_dir else "digits")
    if source == "folder":
        _check_data_dir(args.data_dir)
    return DataSpec(source, str(args.data_dir) if args.data_dir else None, args.train_per_class, args.test_per_class)


def _runner(args):
    from parity import models
    from parity.store import ResultStore, default_store_dir
    from parity.training import Runner

    if args.body not in models.PORTABLE_BODIES:
        raise unknown("body (portable to both frameworks)", args.body, models.PORTABLE_BODIES)
    store = ResultStore(None if args.no_store else (args.store or default_store_dir()))
    return Runner(_spec(args), args.body, store, use_cache=not args.no_cache, progress=not args.quiet)


def _out(args, command: str) -> Path:
    from parity.report import default_out_dir

    return args.out or default_out_dir(command)


def cmd_recipes(args) -> int:
    if args.diff:
        a, b = (recipes.get_recipe(n) for n in args.diff)
        diff = recipes.diff(a, b)
        if not diff:
            print(f"{a.name} and {b.name} have the same knobs")
            return 0
        width = max(len(k) for k in diff)
        print(f"{'knob'.ljust(width)}  {a.name}  ->  {b.name}")
        for knob, (va, vb) in diff.items():
            print(f"{knob.ljust(width)}  {recipes.fmt_value(va)}  ->  {recipes.fmt_value(vb)}")
        return 0
    for r in recipes.RECIPES.values():
        print(f"{r.name:24s} {r.framework:6s} {r.source}")
    return 0


def _print_summary(s: dict) -> None:
    from parity.attribution import pct

    for seed, acc in zip(s["seeds"], s["per_seed"]):
        print(f"  seed {seed}: " + ("diverged (non-finite loss)" if acc is None else f"{100 * acc:.2f}%"))
    print(f"{s['recipe']} [{s['framework']}]: {pct(s['accuracy'])}" +
          (f"; {s['diverged']} diverged" if s["diverged"] else ""))


def cmd_train(args) -> int:
    from parity import attribution
    from parity.equivalence import summarize

    seeds = parse_seeds(args.seeds)
    overrides = parse_set(args.set)
    if args.framework:
        overrides["framework"] = args.framework
    recipe = recipes.get_recipe(args.recipe)
    recipe = recipes.with_knobs(recipe, **overrides) if overrides else recipe
    runner = _runner(args)
    results = [runner(recipe, s) for s in seeds]
    summary = {**summarize(recipe.name, recipe.framework, results), "seeds": seeds}
    _print_summary(summary)
    out = attribution.write(_out(args, "train"), f"parity train {recipe.name}",
                            [("Accuracy", attribution.runs_markdown([summary]))],
                            {"recipe": recipes.as_dict(recipe), "data": runner.spec.key(), "summary": summary,
                             "runs": results, "versions": runner.versions}, None)
    print(f"{runner.trained} runs trained, {len(results) - runner.trained} read from the store. Report: {out}/report.md")
    return 0


def cmd_equivalence(args) -> int:
    from parity import attribution
    from parity.equivalence import equivalence, sentence

    runner = _runner(args)
    result = equivalence(runner, recipes.get_recipe(args.recipe), parse_seeds(args.seeds), args.margin)
    for s in result["summary"]:
        _print_summary({**s, "seeds": result["seeds"]})
    print(sentence(result))
    out = attribution.write(_out(args, "equivalence"), f"parity equivalence {args.recipe}",
                            [("", [sentence(result)]), ("Accuracy", attribution.runs_markdown(result["summary"]))],
                            {"equivalence": result, "data": runner.spec.key(), "versions": runner.versions}, None)
    print(f"Report: {out}/report.md")
    return 0 if result["test"]["equivalent"] else 1


def bisection(args, runner, a: str, b: str, only=None):
    from parity.bisect import Bisection, factors

    ra, rb = recipes.get_recipe(a), recipes.get_recipe(b)
    return Bisection(ra, rb, factors(ra, rb, only, runner.spec.source == "folder"), parse_seeds(args.seeds), runner)


def cmd_bisect(args) -> int:
    from parity import attribution
    from parity.bisect import run_bisect

    runner = _runner(args)
    only = [f.strip() for f in args.factors.split(",")] if args.factors else None
    bis = bisection(args, runner, args.a, args.b, only)
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    result = run_bisect(bis, methods, args.permutations, args.top)
    print(result["answer"])
    print("\n".join(attribution.bisect_markdown(result)[2:]))
    held = [k for k in recipes.diff(bis.a, bis.b) if k not in bis.factors]
    notes = [f"Knobs held at {bis.a.name}'s values (not attributed): {', '.join(held)}."] if held else []
    out = attribution.write(_out(args, "bisect"), f"parity bisect {args.a} -> {args.b}",
                            [("", attribution.bisect_markdown(result) + notes)],
                            {"bisect": result, "data": runner.spec.key(), "body": runner.body,
                             "versions": runner.versions}, result)
    print(f"{runner.trained} runs trained, {result['runs'] - runner.trained} read from the store. Report: {out}/report.md")
    return 0


def cmd_thread(args) -> int:
    from parity.thread import run_thread

    return run_thread(args, _runner(args), _out(args, "thread"))


HANDLERS = {"recipes": cmd_recipes, "train": cmd_train, "equivalence": cmd_equivalence, "bisect": cmd_bisect,
            "thread": cmd_thread}

