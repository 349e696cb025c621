"""`parity recipes | train | equivalence | bisect | thread`: the training side of the command line.

Every argument and every path a command will write is checked before the first run trains.
"""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path

from parity import recipes
from parity.args import (check_data_dir, check_out_arg, check_store_arg, default_data_dir, parse_seeds, parse_set,
                         positive)
from parity.backends import parse_backends
from parity.errors import Interrupted, ParityError, unknown
from parity.render import pct

DEFAULT_BODY = "efficientnet_lite0"  # the ImageNet-pretrained body available offline


def _data_options(p) -> None:
    p.add_argument("--data", choices=("digits", "cifar10", "folder"),
                   help="data source (default: folder when --data-dir is given, else sklearn digits)")
    p.add_argument("--data-dir", type=Path, default=default_data_dir(),
                   help="image-folder tree train/<class>/*, test/<class>/* (env PARITY_DATA_DIR)")
    p.add_argument("--train-per-class", type=int, help="training images per class (default: all)")
    p.add_argument("--test-per-class", type=int, help="test images per class (default: all)")
    p.add_argument("--body", default=DEFAULT_BODY,
                   help=f"body for every recipe (default {DEFAULT_BODY}; resnet50 needs its weights downloaded once)")
    p.add_argument("--seeds", default="3", help="a count (3 = seeds 0,1,2) or a comma-separated list")
    p.add_argument("--store", type=Path, help="result store folder (default ~/.cache/parity/runs, env PARITY_STORE)")
    p.add_argument("--no-store", action="store_true", help="keep results in memory only")
    p.add_argument("--no-cache", action="store_true", help="never use cached body features")
    p.add_argument("--quiet", action="store_true", help="no progress bars (one line per finished run remains)")
    p.add_argument("--out", type=Path, help="report folder (default: a new folder under ./reports/)")
    p.add_argument("--executor", default="processes", help="serial, processes (default) or ray")
    p.add_argument("--workers", type=int, help="runs at once with --executor processes (default: the cores)")
    p.add_argument("--ray-address", help="a Ray cluster (default with --executor ray: a local Ray on this machine)")
    p.add_argument("--device", default="cpu", help="cpu (default), cuda, or auto (cuda when the torch backend sees one)")
    p.add_argument("--plan", action="store_true",
                   help="print the runs this would make, how many are stored, and the estimated wall time; run none")


def add_parsers(sub) -> None:
    rec = sub.add_parser("recipes", help="list the training recipes, or diff two")
    rec.add_argument("--diff", nargs=2, metavar=("A", "B"), help="show the knobs that differ between A and B")
    train = sub.add_parser("train", help="train a recipe over seeds; accuracy per seed and mean with 95%% CI")
    train.add_argument("--recipe", required=True)
    train.add_argument("--framework", choices=("torch", "keras_tf", "keras_torch"),
                       help="override the recipe's framework (its backend)")
    train.add_argument("--set", action="append", default=[], metavar="KNOB=VALUE", help="override a knob")
    _data_options(train)
    eq = sub.add_parser("equivalence", help="torch vs Keras end accuracy of one recipe: paired TOST")
    eq.add_argument("--recipe", default="keras_matched")
    eq.add_argument("--margin", type=float, default=0.03, help="equivalence margin in accuracy (0.03 = 3 points)")
    eq.add_argument("--backends", default="torch,keras_tf", help="the two backends to compare (default torch,keras_tf)")
    _data_options(eq)
    bis = sub.add_parser("bisect", help="attribute the accuracy gap between two recipes to their differing knobs")
    bis.add_argument("--from", dest="a", required=True, metavar="A")
    bis.add_argument("--to", dest="b", required=True, metavar="B")
    bis.add_argument("--factors", help="comma-separated knobs to attribute (the other differing knobs stay at A's)")
    bis.add_argument("--methods", default="oat,ddmin,shapley,interactions")
    bis.add_argument("--permutations", type=int, default=8, help="orderings sampled beyond 8 factors")
    bis.add_argument("--top", type=int, default=4, help="leading factors whose pairwise interactions are run")
    bis.add_argument("--via", metavar="BACKEND", help="split the framework factor through this backend (e.g. "
                     "keras_torch between torch and keras_tf: Keras' API part, then TensorFlow's kernels part)")
    _data_options(bis)
    thread = sub.add_parser("thread", help="the forum thread: fastai_v1_fit vs the thread's Keras code, the 2x2, "
                                           "and torch-vs-Keras equivalence of fastai's recipe")
    thread.add_argument("--permutations", type=int, default=4)
    thread.add_argument("--top", type=int, default=3)
    thread.add_argument("--equivalence-seeds", type=int, default=5)
    _data_options(thread)


def _spec(args):
    from parity.datasets import DataSpec

    source = args.data or ("folder" if args.data_dir else "digits")
    if source == "folder":
        check_data_dir(args.data_dir)
    return DataSpec(source, str(args.data_dir) if args.data_dir else None, args.train_per_class, args.test_per_class)


def _prepare(args) -> dict:
    """Check everything a training command will need, before any work: returns seeds and the data spec."""
    from parity import models

    from parity import executors

    seeds = parse_seeds(args.seeds)
    spec = _spec(args)
    if args.body not in models.PORTABLE_BODIES:
        raise unknown("--body (portable to both frameworks)", args.body, models.PORTABLE_BODIES)
    if args.executor not in executors.EXECUTORS:
        raise unknown("--executor", args.executor, executors.EXECUTORS)
    if args.device not in executors.DEVICES:
        raise unknown("--device", args.device, executors.DEVICES)
    if args.workers is not None and args.workers < 1:
        raise ParityError(f"--workers must be at least 1, got {args.workers}")
    if not args.plan:
        check_out_arg(args.out)
    check_store_arg(args.store, args.no_store)
    return {"seeds": seeds, "spec": spec}


def _runner(args, spec):
    from parity import executors
    from parity.store import ResultStore, default_store_dir
    from parity.runner import Runner

    store = ResultStore(None if args.no_store else (args.store or default_store_dir()))
    device = executors.resolve_device(args.device)
    executor = executors.make(args.executor, args.workers, args.ray_address, progress=not args.quiet)
    return Runner(spec, args.body, store, use_cache=not args.no_cache, progress=not args.quiet, executor=executor,
                  device=device)


@contextmanager
def interruptible(runner):
    """Ctrl-C during runs: one line saying how many finished runs are kept, and no report."""
    try:
        yield
    except KeyboardInterrupt:
        kept = (f"kept in the store {str(runner.store.directory)!r}" if runner.store.directory is not None
                else "not kept (--no-store)")
        raise Interrupted(f"interrupted: {runner.trained} run(s) finished in this session and are {kept}; "
                          f"no report written") from None


def _show_plan(runner, requests: list, note: str = "") -> int:
    from parity import planner

    print(planner.text(planner.plan(runner, requests, note)))
    return 0


def _common(runner, seeds) -> dict:
    return {"data": runner.spec.key(), "body": runner.body, "seeds": seeds, "versions": runner.versions,
            "execution": {"executor": runner.executor.name, "workers": runner.executor.workers,
                          "device": runner.device}}


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


def _print_summary(s: dict, seeds) -> None:
    for seed, acc in zip(seeds, s["per_seed"]):
        print(f"  seed {seed}: " + ("diverged (non-finite loss)" if acc is None else f"{100 * acc:.2f}%"))
    print(f"{s['recipe']} [{s['framework']}]: {pct(s['accuracy'])}" +
          (f"; {s['diverged']} diverged" if s["diverged"] else ""))


def _trained_line(runner, total: int, out: Path) -> str:
    return (f"{runner.trained} runs trained, {total - runner.trained} read from the store. "
            f"Report: {out}/report.html")


def cmd_train(args) -> int:
    from parity import attribution
    from parity.equivalence import summarize

    overrides = parse_set(args.set)
    if args.framework:
        overrides["framework"] = args.framework
    recipe = recipes.get_recipe(args.recipe)
    recipe = recipes.with_knobs(recipe, **overrides) if overrides else recipe
    ready = _prepare(args)
    runner = _runner(args, ready["spec"])
    if args.plan:
        return _show_plan(runner, [(recipe, s) for s in ready["seeds"]])
    with interruptible(runner):
        results = runner.map([(recipe, s) for s in ready["seeds"]])
    summary = summarize(recipe.name, recipe.framework, results)
    _print_summary(summary, ready["seeds"])
    knobs = {**recipes.as_dict(recipe), "body": runner.body}  # the body this run used, not the recipe's original
    out = attribution.write(args.out, "train", f"parity train {recipe.name}", {
        "summaries": [summary], "verdict": {"ok": None, "text": f"{recipe.name} [{recipe.framework}] on "
                                            f"{runner.body}: {pct(summary['accuracy'])}"},
        "recipe": knobs, "runs": results, **_common(runner, ready["seeds"])})
    print(_trained_line(runner, len(results), out))
    return 0


def cmd_equivalence(args) -> int:
    from parity import attribution
    from parity.equivalence import equivalence, sentence

    recipe = recipes.get_recipe(args.recipe)
    margin = positive(args.margin, "--margin")
    backends = parse_backends(args.backends)
    if len(backends) != 2:
        raise ParityError(f"--backends: an equivalence test compares two backends, got {args.backends!r}")
    ready = _prepare(args)
    if len(ready["seeds"]) < 2:
        raise ParityError(f"--seeds: an equivalence test needs at least 2 seeds, got {args.seeds!r}")
    runner = _runner(args, ready["spec"])
    if args.plan:
        return _show_plan(runner, [(recipes.with_knobs(recipe, framework=b), s) for b in backends
                                   for s in ready["seeds"]])
    with interruptible(runner):
        result = equivalence(runner, recipe, ready["seeds"], margin, backends)
    for s in result["summary"]:
        _print_summary(s, ready["seeds"])
    print(sentence(result))
    out = attribution.write(args.out, "equivalence", f"parity equivalence {args.recipe}", {
        "equivalence": {**result, "sentence": sentence(result)},
        "verdict": {"ok": bool(result["test"]["equivalent"]), "text": sentence(result)},
        **_common(runner, ready["seeds"])})
    print(f"Report: {out}/report.html")
    return 0 if result["test"]["equivalent"] else 1


def cmd_bisect(args) -> int:
    from parity import attribution
    from parity.backends import get_backend
    from parity.bisect import METHODS, between, planned, run_bisect

    only = [f.strip() for f in args.factors.split(",")] if args.factors else None
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    for m in methods:
        if m not in METHODS:
            raise unknown("bisect method", m, METHODS)
    ready = _prepare(args)
    runner = _runner(args, ready["spec"])
    if args.via:
        get_backend(args.via)
    bis = between(recipes.get_recipe(args.a), recipes.get_recipe(args.b), only, ready["seeds"], runner,
                  decoded=runner.spec.source == "folder", middle=args.via)
    if args.plan:
        sets, adaptive = planned(bis, methods, args.permutations, args.top)
        return _show_plan(runner, [(bis.config(s), seed) for s in sets for seed in bis.seeds],
                          f"Delta debugging and interactions may add up to {adaptive} configurations "
                          f"({adaptive * len(bis.seeds)} runs), chosen as they go.")
    with interruptible(runner):
        result = run_bisect(bis, methods, args.permutations, args.top)
    print(result["answer"])
    print("\n".join(attribution.bisect_lines(result)[2:]))
    held = [k for k in recipes.diff(bis.a, bis.b) if k not in bis.factors and not (k == "framework" and bis.middle)]
    notes = [f"Knobs held at {bis.a.name}'s values (not attributed): {', '.join(held)}."] if held else []
    if bis.middle:
        notes.append(f"The framework factor is split through {bis.middle}: framework:api is {bis.a.framework} -> "
                     f"{bis.middle} (Keras' API and defaults), framework:kernels is {bis.middle} -> {bis.b.framework} "
                     f"(the kernels). The kernels part only ever follows the API part.")
    if result["unsupported_runs"]:
        notes.append("Configurations a backend cannot express (counted as missing): "
                     + "; ".join(result["unsupported_runs"]))
    out = attribution.write(args.out, "bisect", f"parity bisect {args.a} -> {args.b}", {
        "bisect": result, "notes": notes, "verdict": {"ok": None, "text": result["answer"]},
        **_common(runner, ready["seeds"])})
    print(_trained_line(runner, result["runs"], out))
    return 0


def cmd_thread(args) -> int:
    from parity.bisect import between
    from parity.thread import GAP, run_thread

    ready = _prepare(args)
    eq_seeds = parse_seeds(str(args.equivalence_seeds), "--equivalence-seeds")
    runner = _runner(args, ready["spec"])
    bis = between(recipes.get_recipe(GAP[0]), recipes.get_recipe(GAP[1]), None, ready["seeds"], runner,
                  decoded=runner.spec.source == "folder")
    if args.plan:
        from parity.bisect import planned
        from parity.thread import KERAS, TWO_BY_TWO

        sets, adaptive = planned(bis, ("oat", "shapley", "ddmin", "interactions"), args.permutations, args.top)
        matched = recipes.get_recipe("keras_matched")
        requests = ([(recipes.get_recipe(n), s) for n in TWO_BY_TWO + KERAS for s in bis.seeds]
                    + [(bis.config(c), s) for c in sets for s in bis.seeds]
                    + [(recipes.with_knobs(matched, framework=b), s) for b in ("torch", "keras_tf") for s in eq_seeds])
        return _show_plan(runner, requests, f"Delta debugging and interactions may add up to {adaptive} "
                                            f"configurations.")
    with interruptible(runner):
        return run_thread(runner, bis, eq_seeds, args.permutations, args.top, args.out)


HANDLERS = {"recipes": cmd_recipes, "train": cmd_train, "equivalence": cmd_equivalence, "bisect": cmd_bisect,
            "thread": cmd_thread}
