"""`parity recipes | train | equivalence | bisect | thread`: the training side of the command line.

Every argument and every path a command will write is checked before the first run trains.
"""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path

from parity.cli import programs
from parity.cli.args import (check_bounds, check_data_dir, check_out_arg, check_store_arg, default_data_dir,
                              parse_seeds, parse_set)
from parity.components import models
from parity.components.datasets import DataSpec, check_per_class
from parity.core.errors import Interrupted, ParityError, unknown
from parity.reports import attribution, sweep
from parity.reports.recipes import uncovered_lines
from parity.reports.render import pct
from parity.reports.thread import GAP, KERAS, TWO_BY_TWO, run_thread
from parity.runtime.backends import DEFAULT_BACKENDS, frameworks, get_backend, parse_backends
from parity.train import budget, executors, fidelity, planner, recipefiles, recipes, training
from parity.train.bisect import METHODS, between, factors, planned, run_bisect
from parity.train.equivalence import equivalence, sentence, summarize
from parity.train.runner import AtSpec, Runner
from parity.train.store import ResultStore, default_store_dir

DEFAULT_BODY = "efficientnet_lite0"  # the ImageNet-pretrained body available offline
DEFAULT_METHODS = "oat,ddmin,shapley,interactions"


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
    p.add_argument("--device", default="cpu", help="cpu (default), cuda (an error when a backend of the command sees no "
                   "GPU), or auto (cuda when every backend of the command sees one)")
    p.add_argument("--plan", action="store_true",
                   help="print the runs this would make, how many are stored, and the estimated wall time; run none")


def add_parsers(sub) -> None:
    programs.add_parsers(sub)
    rec = sub.add_parser("recipes", help="list the training recipes, show one (as a TOML file to start from), or "
                                         "diff two; a recipe is a built-in name or a path to a .toml file")
    rec.add_argument("--diff", nargs=2, metavar=("A", "B"), help="show the knobs that differ between A and B, with "
                     "where each value came from for captured recipes and programs; writes a report")
    rec.add_argument("--out", type=Path, help="with --diff: report folder (default: a new folder under ./reports/)")
    rec.add_argument("--show", metavar="RECIPE", help="print every knob of RECIPE")
    rec.add_argument("--format", choices=("text", "toml"), default="text",
                     help="--show as a table (text, default) or as a recipe file (toml)")
    train = sub.add_parser("train", help="train a recipe over seeds; accuracy per seed and mean with 95%% CI")
    train.add_argument("--recipe", required=True, help="a built-in recipe name or a recipe .toml file")
    train.add_argument("--framework", choices=frameworks(),
                       help="override the recipe's framework (its backend)")
    train.add_argument("--set", action="append", default=[], metavar="KNOB=VALUE", help="override a knob")
    _data_options(train)
    eq = sub.add_parser("equivalence", help="torch vs Keras end accuracy of one recipe: paired TOST")
    eq.add_argument("--recipe", default="keras_matched", help="a built-in recipe name or a recipe .toml file")
    eq.add_argument("--margin", type=float, default=0.03, help="equivalence margin in accuracy (0.03 = 3 points)")
    eq.add_argument("--backends", default="torch,keras_tf", help="the two backends to compare (default torch,keras_tf)")
    _data_options(eq)
    bis = sub.add_parser("bisect", help="attribute the accuracy gap between two recipes to their differing knobs")
    bis.add_argument("--from", dest="a", required=True, metavar="A",
                     help="a built-in recipe name, a .toml file, or a training program (.py, captured first)")
    bis.add_argument("--to", dest="b", required=True, metavar="B",
                     help="a built-in recipe name, a .toml file, or a training program (.py, captured first)")
    bis.add_argument("--from-args", metavar="'ARGS'", help="a --from program's own arguments, quoted as one")
    bis.add_argument("--to-args", metavar="'ARGS'", help="a --to program's own arguments, quoted as one")
    bis.add_argument("--set-from", action="append", default=[], metavar="KNOB=VALUE", help="override a knob of A")
    bis.add_argument("--set-to", action="append", default=[], metavar="KNOB=VALUE", help="override a knob of B")
    bis.add_argument("--factors", help="comma-separated knobs to attribute (the other differing knobs stay at A's)")
    bis.add_argument("--methods", default=DEFAULT_METHODS)
    bis.add_argument("--permutations", type=int, default=8, help="orderings sampled beyond 8 factors")
    bis.add_argument("--top", type=int, default=4, help="leading factors whose pairwise interactions are run")
    bis.add_argument("--budget", type=int, metavar="RUNS",
                     help="a sequential design within RUNS runs: screen every factor one at a time on 3 seeds, "
                          "Shapley over those not clearly zero, more seeds (up to --seeds) only while a decision "
                          "is open; the same seeds and store keys as the full design")
    bis.add_argument("--screen-at", metavar="KEY=N,...",
                     help="run the screen at a lower fidelity (train_per_class=N, test_per_class=N, epochs=N) and "
                          "confirm only the leading factors at full size (the budgeted design; --budget then counts "
                          "full-size runs)")
    bis.add_argument("--confirm", type=int, metavar="K", help="with --screen-at or --budget: carry at most the K "
                     f"largest screened factors to full size (default with --screen-at: {fidelity.CONFIRM})")
    bis.add_argument("--via", metavar="BACKEND", help="split the framework factor through this backend (e.g. "
                     "keras_torch between torch and keras_tf: Keras' API part, then TensorFlow's kernels part)")
    _data_options(bis)
    sw = sub.add_parser("sweep", help="one knob or data size over a list of values for one or more recipes: "
                                      "accuracy per value with CIs, paired gaps to the first recipe, a plot")
    sw.add_argument("--recipes", required=True, help="comma-separated built-in names or .toml files; gaps are "
                                                     "measured from the first")
    sw.add_argument("--over", required=True, metavar="KNOB=V1,V2,...",
                    help="a recipe knob (e.g. epochs=1,3,6, lr=1e-3,3e-3) or train_per_class / test_per_class")
    sw.add_argument("--bisect-at", metavar="V1,V2,...", help="also attribute the gap between the first two recipes "
                                                             "at these values (one-at-a-time and Shapley)")
    sw.add_argument("--factors", help="with --bisect-at: comma-separated knobs to attribute (default: all that differ)")
    sw.add_argument("--permutations", type=int, default=8, help="with --bisect-at: orderings sampled beyond 8 factors")
    sw.add_argument("--screen-at", metavar="KEY=N,...", help="with --bisect-at: screen each point's factors at a "
                    "lower fidelity (train_per_class=N, test_per_class=N, epochs=N), confirm the leading ones there")
    sw.add_argument("--confirm", type=int, metavar="K", help=f"with --screen-at: factors carried to full size "
                    f"(default {fidelity.CONFIRM})")
    _data_options(sw)
    thread = sub.add_parser("thread", help="the forum thread: fastai_v1_fit vs the thread's Keras code, the 2x2, "
                                           "and torch-vs-Keras equivalence of fastai's recipe")
    thread.add_argument("--permutations", type=int, default=4)
    thread.add_argument("--top", type=int, default=3)
    thread.add_argument("--equivalence-seeds", type=int, default=5)
    thread.add_argument("--screen-at", metavar="KEY=N,...", help="screen the bisect's factors at a lower fidelity "
                        "(train_per_class=N, test_per_class=N, epochs=N) and confirm the leading ones at full size")
    thread.add_argument("--confirm", type=int, metavar="K", help=f"with --screen-at: factors carried to full size "
                        f"(default {fidelity.CONFIRM})")
    _data_options(thread)


def _spec(args):
    source = args.data or ("folder" if args.data_dir else "digits")
    if source == "folder":
        check_data_dir(args.data_dir)
    spec = DataSpec(source, str(args.data_dir) if args.data_dir else None, args.train_per_class, args.test_per_class)
    check_per_class(spec)
    return spec


def _prepare(args, to_run: list = (), least_seeds: int = 1) -> dict:
    """Check everything a training command will need, before any work: returns seeds and the data spec.
    `to_run`: recipes whose data (class count, image sizes) is checked here, not in the middle of the runs."""
    check_bounds(args)
    seeds = parse_seeds(args.seeds, least=least_seeds)
    spec = _spec(args)
    if args.body not in models.PORTABLE_BODIES:
        raise unknown("--body (portable to both frameworks)", args.body, models.PORTABLE_BODIES)
    if args.executor not in executors.EXECUTORS:
        raise unknown("--executor", args.executor, executors.EXECUTORS)
    if args.device not in executors.DEVICES:
        raise unknown("--device", args.device, executors.DEVICES)
    executors.check_workers(args.executor, args.workers)
    if not args.plan:
        check_out_arg(args.out)
    check_store_arg(args.store, args.no_store)
    for recipe in to_run:
        try:
            training.prepare(recipe, spec, args.body)
        except ParityError as exc:  # e.g. n_classes against the data: name the file the knob came from
            raise ParityError(f"recipe file {_FROM_FILE[recipe.name]!r}: {exc}" if recipe.name in _FROM_FILE
                              else str(exc)) from None
    return {"seeds": seeds, "spec": spec}


def _runner(args, spec, backends):
    device = executors.resolve_device(args.device, backends)  # before the store folder is made
    store = ResultStore(None if args.no_store else (args.store or default_store_dir()))
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
    print(planner.text(planner.plan(runner, requests, note)))
    return 0


def _common(runner, seeds) -> dict:
    return {"data": runner.spec.key(), "body": runner.body, "seeds": seeds, "versions": runner.versions,
            "execution": {"executor": runner.executor.name, "workers": runner.executor.workers,
                          "device": runner.device}}


_FROM_FILE: dict[str, str] = {}  # recipe name -> the file it came from, for errors found later (the data)


def recipe_arg(ref: str, overrides: dict | None = None, argv: list[str] | None = None) -> recipes.Recipe:
    """A command's recipe: a built-in name, a .toml file or a program (.py, captured with `argv`), with --set
    overrides applied."""
    recipe = programs.captured(ref, argv or []) if programs.is_program(ref) else recipefiles.resolve(ref)
    if recipefiles.is_file_ref(ref):
        _FROM_FILE[recipe.name] = ref
    return recipes.with_knobs(recipe, **overrides) if overrides else recipe


def cmd_recipes(args) -> int:
    if args.show:
        recipe = recipe_arg(args.show)
        if args.format == "toml":
            print(recipefiles.dumps(recipe), end="")
        else:
            print(f"{recipe.name}: {recipe.source}")
            for knob, value in recipe.knobs().items():
                print(f"  {knob.ljust(11)} {recipes.fmt_value(value)}")
        return 0
    if args.diff:
        check_out_arg(args.out)
        a, b = (recipe_arg(n) for n in args.diff)
        return programs.cmd_recipes_diff(a, b, args.out)
    for r in recipes.RECIPES.values():
        print(f"{r.name:24s} {r.framework:11s} {r.source}")
    for path in recipefiles.examples():  # shipped recipe files: run them by path
        r = recipefiles.load(path)
        print(f"{r.name:24s} {r.framework:11s} {path}")
    return 0


def _print_summary(s: dict, seeds) -> None:
    for seed, acc in zip(seeds, s["per_seed"]):
        print(f"  seed {seed}: " + ("diverged (non-finite loss)" if acc is None else f"{100 * acc:.2f}%"))
    print(f"{s['recipe']} [{s['framework']}]: {pct(s['accuracy'])}" +
          (f"; {s['diverged']} diverged" if s["diverged"] else ""))


def all_runs(result: dict) -> int:
    """A bisect's runs, a lower-fidelity screen's included."""
    return result["runs"] + ((result.get("budget") or {}).get("screen_runs") or 0)


def _trained_line(runner, total: int, out: Path) -> str:
    return (f"{runner.trained} runs trained, {total - runner.trained} read from the store. "
            f"Report: {out}/report.html")


def cmd_train(args) -> int:
    overrides = parse_set(args.set)
    if args.framework:
        overrides["framework"] = args.framework
    recipe = recipe_arg(args.recipe, overrides)
    ready = _prepare(args, [recipe])
    runner = _runner(args, ready["spec"], [recipe.framework])
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
    recipe = recipe_arg(args.recipe)
    backends = parse_backends(args.backends)
    if len(backends) != 2:
        raise ParityError(f"--backends: an equivalence test compares two backends, got {args.backends!r}")
    ready = _prepare(args, [recipe], least_seeds=2)  # a paired test needs two differences
    runner = _runner(args, ready["spec"], backends)
    if args.plan:
        return _show_plan(runner, [(recipes.with_knobs(recipe, framework=b), s) for b in backends
                                   for s in ready["seeds"]])
    with interruptible(runner):
        result = equivalence(runner, recipe, ready["seeds"], args.margin, backends)
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
    only = [f.strip() for f in args.factors.split(",")] if args.factors else None
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    for m in methods:
        if m not in METHODS:
            raise unknown("bisect method", m, METHODS)
    for flag, ref, text in (("--from-args", args.a, args.from_args), ("--to-args", args.b, args.to_args)):
        if text is not None and not programs.is_program(ref):
            raise ParityError(f"{flag} passes arguments to a program, but {ref!r} is not one (.py)")
    a = recipe_arg(args.a, parse_set(args.set_from, "--set-from"), programs.program_args(args.from_args, "--from-args"))
    b = recipe_arg(args.b, parse_set(args.set_to, "--set-to"), programs.program_args(args.to_args, "--to-args"))
    ready = _prepare(args, [a, b])
    if args.via:
        get_backend(args.via)
    sequential = args.budget is not None or args.screen_at is not None
    if sequential and args.methods != DEFAULT_METHODS:
        raise ParityError(f"--budget and --screen-at run their own sequential design (a screen, then Shapley over "
                          f"the factors that matter); they take no --methods, got {args.methods!r}")
    _confirm_needs_a_screen(args, sequential)
    checked = screen_checked(args, a, b, only, ready["spec"])
    runner = _runner(args, ready["spec"], [a.framework, b.framework] + ([args.via] if args.via else []))
    bis = between(a, b, only, ready["seeds"], runner,
                  decoded=runner.spec.source == "folder", middle=args.via)
    low = screened(bis, checked, runner)
    if args.plan and sequential:
        within = f"--budget {args.budget}" if args.budget else "the full design"
        return _show_plan(runner, budget.screen_requests(*(low[:2] if low else (bis, runner.spec))),
                          f"The screen above{' at ' + low[2].text() if low else ''}; then Shapley over the active "
                          f"factors and more seeds at full size, within {within}'s runs "
                          f"(the full design is {budget.full_design_runs(bis, args.permutations)}).")
    if args.plan:
        sets, adaptive = planned(bis, methods, args.permutations, args.top)
        return _show_plan(runner, [(bis.config(s), seed) for s in sets for seed in bis.seeds],
                          f"Delta debugging and interactions may add up to {adaptive} configurations "
                          f"({adaptive * len(bis.seeds)} runs), chosen as they go.")
    with interruptible(runner):
        if low:
            result = fidelity.run_screened(bis, low, runner.spec, args.permutations, args.confirm, args.budget)
        elif sequential:
            result = budget.run_budgeted(bis, args.budget, args.permutations, confirm=args.confirm)
        else:
            result = run_bisect(bis, methods, args.permutations, args.top)
    print(result["answer"])
    print("\n".join(attribution.bisect_lines(result)[2:]))
    held = [k for k in recipes.diff(bis.a, bis.b) if k not in bis.factors and not (k == "framework" and bis.middle)]
    notes = [f"Knobs held at {bis.a.name}'s values (not attributed): {', '.join(held)}."] if held else []
    if bis.middle:
        notes.append(f"The framework factor is split through {bis.middle}: framework:api is {bis.a.framework} -> "
                     f"{bis.middle} (Keras' API and defaults), framework:kernels is {bis.middle} -> {bis.b.framework} "
                     f"(the kernels). The kernels part only ever follows the API part.")
    uncovered = uncovered_lines([bis.a, bis.b])
    if uncovered:
        notes.append("Settings of the programs that no knob covers, so this attribution cannot cover them: "
                     + "; ".join(uncovered) + ".")
        print("Not covered by this attribution (no knob): " + "; ".join(uncovered))
    if result["unsupported_runs"]:
        notes.append("Configurations a backend cannot express (counted as missing): "
                     + "; ".join(result["unsupported_runs"]))
    out = attribution.write(args.out, "bisect", f"parity bisect {args.a} -> {args.b}", {
        "bisect": result, "notes": notes, "verdict": {"ok": None, "text": result["answer"]},
        **_common(runner, ready["seeds"])})
    print(_trained_line(runner, all_runs(result), out))
    return 0


def _point_bisect(args, bis, spec, low) -> dict:
    """One sweep point's attribution: the full design, or with --screen-at the screened one."""
    if not low:
        return run_bisect(bis, ("oat", "shapley"), args.permutations)
    return fidelity.run_screened(bis, low, spec, args.permutations, args.confirm)


def _confirm_needs_a_screen(args, screening: bool | None = None) -> None:
    """--confirm caps what a screen carries to full size: it needs a screen (--screen-at; for bisect --budget too)."""
    if args.confirm is not None and not (args.screen_at is not None if screening is None else screening):
        with_budget = " or --budget" if screening is not None else ""
        raise ParityError(f"--confirm {args.confirm} caps the factors a screen carries to full size: give "
                          f"--screen-at{with_budget}")


def screen_checked(args, a, b, only, spec) -> tuple | None:
    """With --screen-at: (the Fidelity, the data spec at it), checked against both ends and the data before any
    run or folder is made."""
    if getattr(args, "screen_at", None) is None:
        return None
    fid = fidelity.parse_screen_at(args.screen_at)
    chosen = factors(a, b, only, decoded=spec.source == "folder")
    low_spec = fidelity.check(fid, spec, chosen, {a.name: a.epochs, b.name: b.epochs})
    check_per_class(low_spec)
    for recipe in fidelity.ends(a, b, fid):
        training.prepare(recipe, low_spec, args.body)
    return fid, low_spec


def screened(bis, checked, runner) -> tuple | None:
    """(the bisection at the screen's fidelity, its data spec, the Fidelity) for a checked --screen-at."""
    if checked is None:
        return None
    fid, low_spec = checked
    return fidelity.lower(bis, fid, AtSpec(runner, low_spec)), low_spec, fid


def _sweep_setup(args):
    """The sweep, its bisect points and attributed factors, every value and path checked before any run."""
    over, values = sweep.parse_over(args.over)
    chosen = [recipe_arg(r.strip()) for r in args.recipes.split(",") if r.strip()]
    if not chosen:
        raise ParityError(f"--recipes names no recipe: {args.recipes!r}")
    if len({r.name for r in chosen}) != len(chosen):
        raise ParityError(f"--recipes lists a recipe name twice: {args.recipes!r}")
    at = sweep.parse_at(args.bisect_at, over, values)
    if at and len(chosen) < 2:
        raise ParityError("--bisect-at attributes the gap between the first two --recipes; give at least two")
    if (args.screen_at is not None or args.confirm is not None) and not at:
        raise ParityError("--screen-at and --confirm shape the attribution of --bisect-at points; give --bisect-at")
    _confirm_needs_a_screen(args)
    if over in sweep.DATA_SIZES and getattr(args, over) is not None:
        raise ParityError(f"--over {over} sweeps what --{over.replace('_', '-')} sets; give one of them")
    ready = _prepare(args)
    sw = sweep.Sweep(over, values, tuple(chosen), tuple(ready["seeds"]), ready["spec"])
    checked = set()
    for recipe, _, spec in sw.requests():  # class counts and image sizes of every point, before any run
        if (recipe, spec) not in checked:
            checked.add((recipe, spec))
            training.prepare(recipe, spec, args.body)
    only = [f.strip() for f in args.factors.split(",")] if args.factors else None
    checks = {}
    for value in at:  # each bisect point's screen, checked against that point's recipes and data size
        (a, spec), (b, _) = sw.point(sw.recipes[0], value), sw.point(sw.recipes[1], value)
        checks[value] = screen_checked(args, a, b, only, spec)
    return sw, at, only, checks


def cmd_sweep(args) -> int:
    sw, at, only, checks = _sweep_setup(args)
    runner = _runner(args, sw.spec, [r.framework for r in sw.recipes])
    points = []
    for value in at:
        (a, spec), (b, _) = sw.point(sw.recipes[0], value), sw.point(sw.recipes[1], value)
        bis = between(a, b, only, list(sw.seeds), AtSpec(runner, spec), decoded=spec.source == "folder")
        points.append((value, bis, spec, screened(bis, checks[value], runner)))
    if args.plan:
        extra = [(bis.config(c), s, spec) for _, bis, spec, low in points if not low
                 for c in planned(bis, ("oat", "shapley"), args.permutations, 0)[0] for s in bis.seeds]
        extra += [r for *_, low in points if low for r in budget.screen_requests(*low[:2])]
        return _show_plan(runner, sw.requests() + extra, "With --screen-at, each bisect point's screen is listed; "
                          "its full-size confirmation follows from what the screen finds." if args.screen_at else "")
    with interruptible(runner):
        result = sweep.summarise(sw, runner.map(sw.requests()))
        bisects = [(value, _point_bisect(args, bis, spec, low)) for value, bis, spec, low in points]
    if bisects:
        result["bisects"] = [{"at": recipes.fmt_value(v), **r} for v, r in bisects]
        result["shapley_along"] = sweep.shapley_along(bisects)
    text = (result["sentences"][0] if result["sentences"] else
            f"{sw.recipes[0].name} along {sw.over}: " + ", ".join(
                f"{p['label']}: {100 * p['accuracy'][sw.recipes[0].name]['mean']:.1f}%" for p in result["points"]))
    for line in result["sentences"]:
        print(line)
    out = sweep.write(args.out, f"parity sweep {', '.join(r.name for r in sw.recipes)} over {sw.over}", {
        "sweep": result, "verdict": {"ok": None, "text": text}, **_common(runner, list(sw.seeds))})
    total = len(sw.requests()) + sum(all_runs(r) for _, r in bisects)
    print(_trained_line(runner, total, out))
    return 0


def cmd_thread(args) -> int:
    ready = _prepare(args)
    eq_seeds = parse_seeds(str(args.equivalence_seeds), "--equivalence-seeds", least=2)
    _confirm_needs_a_screen(args)
    gap = recipes.get_recipe(GAP[0]), recipes.get_recipe(GAP[1])
    checked = screen_checked(args, *gap, None, ready["spec"])
    runner = _runner(args, ready["spec"], DEFAULT_BACKENDS)
    bis = between(*gap, None, ready["seeds"], runner, decoded=runner.spec.source == "folder")
    low = screened(bis, checked, runner)
    if args.plan:
        matched = recipes.get_recipe("keras_matched")
        requests = ([(recipes.get_recipe(n), s) for n in TWO_BY_TWO + KERAS for s in bis.seeds]
                    + [(recipes.with_knobs(matched, framework=b), s) for b in DEFAULT_BACKENDS for s in eq_seeds])
        if low:
            requests += budget.screen_requests(*low[:2])
            return _show_plan(runner, requests, f"The bisect's screen at {low[2].text()} is listed; its full-size "
                                                f"confirmation follows from what the screen finds.")
        sets, adaptive = planned(bis, ("oat", "shapley", "ddmin", "interactions"), args.permutations, args.top)
        requests += [(bis.config(c), s) for c in sets for s in bis.seeds]
        return _show_plan(runner, requests, f"Delta debugging and interactions may add up to {adaptive} "
                                            f"configurations.")
    attribute = (lambda: fidelity.run_screened(bis, low, runner.spec, args.permutations, args.confirm)) if low else None
    with interruptible(runner):
        return run_thread(runner, bis, eq_seeds, args.permutations, args.top, args.out, attribute)


HANDLERS = {**programs.HANDLERS, "recipes": cmd_recipes, "train": cmd_train, "equivalence": cmd_equivalence,
            "bisect": cmd_bisect,
            "sweep": cmd_sweep, "thread": cmd_thread}
