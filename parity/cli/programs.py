"""`parity capture PROGRAM.py [-- ARGS]` and programs wherever a command takes a recipe: a .py path is run up to
its first training call and read into a recipe (parity.capture); `recipes --diff` shows knob by knob where each
value came from."""

from __future__ import annotations

import shlex
from pathlib import Path

from parity.cli.args import check_out_arg
from parity.core.errors import ParityError
from parity.reports import recipes as recipe_report
from parity.train import recipefiles, recipes


def is_program(ref: str) -> bool:
    return ref.endswith(".py")


def captured(program: str, argv: list[str], name: str | None = None) -> recipes.Recipe:
    """The recipe a program describes; a program that cannot be captured whole is an error that shows what
    was read, labelled partial."""
    from parity.capture.program import CaptureError, capture, partial_lines, to_recipe

    try:
        return to_recipe(capture(Path(program), argv), name)
    except CaptureError as exc:
        shown = "\n" + "\n".join(partial_lines(exc.partial)) if exc.partial is not None else ""
        raise ParityError(f"{exc}{shown}") from None


def program_args(text: str | None, flag: str) -> list[str]:
    try:
        return shlex.split(text or "")
    except ValueError as exc:
        raise ParityError(f"{flag} must be the program's arguments as a shell would split them, got {text!r} "
                          f"({exc})") from None


def split_program_args(argv: list[str]) -> tuple[list[str], list[str]]:
    """`capture PROGRAM [options] -- ARGS`: (parity's own arguments, the program's). Only `capture` takes them."""
    if argv[:1] == ["capture"] and "--" in argv:
        cut = argv.index("--")
        return argv[:cut], argv[cut + 1:]
    return argv, []


def add_parsers(sub) -> None:
    cap = sub.add_parser("capture", help="run a fastai, Keras or PyTorch training program up to its first training "
                                         "call and write the recipe it describes, every knob with its provenance")
    cap.add_argument("program", metavar="PROGRAM.py", help="the training program, run as `python PROGRAM.py ARGS`")
    cap.epilog = "The program's own arguments follow `--`: parity capture train.py -- data/ --epochs 3"
    cap.add_argument("--name", help="the recipe's name (default: the program's file name)")
    cap.add_argument("--out", type=Path, help="report folder (default: a new folder under ./reports/); it holds "
                                              "recipe.toml")


def cmd_capture(args) -> int:
    check_out_arg(args.out)
    recipe = captured(args.program, args.args, args.name)
    rows = recipe_report.knob_rows([recipe], list(recipes.KNOBS))
    for line in recipe_report.text_table(rows, [recipe.name]):
        print(line)
    uncovered = recipe_report.uncovered_lines([recipe])
    print("\nSettings no knob covers (two programs may differ there; an attribution cannot cover them):"
          if uncovered else "\nEvery setting parity read has a knob.")
    for line in uncovered:
        print(f"  {line}")
    text = recipefiles.dumps(recipe)
    out = recipe_report.write(args.out, "capture", f"parity capture {Path(args.program).name}", [recipe], rows,
                              f"{recipe.name}: {recipe.source}", files={"recipe.toml": text})
    print(f"Recipe: {out}/recipe.toml\nReport: {out}/report.html")
    return 0


def cmd_recipes_diff(a: recipes.Recipe, b: recipes.Recipe, out) -> int:
    rows = recipe_report.diff_rows(a, b)
    verdict = (f"{a.name} and {b.name} differ in {len(rows)} knob{'s' if len(rows) != 1 else ''}: "
               + ", ".join(r["knob"] for r in rows) if rows else f"{a.name} and {b.name} have the same knobs")
    print(verdict)
    if rows:
        print("\n".join(recipe_report.text_table(rows, [a.name, b.name])))
    uncovered = recipe_report.uncovered_lines([a, b])
    if uncovered:
        print("Settings no knob covers (the programs may differ there too):")
        print("\n".join(f"  {line}" for line in uncovered))
    path = recipe_report.write(out, "recipes", f"parity recipes --diff {a.name} {b.name}", [a, b], rows, verdict)
    print(f"Report: {path}/report.html")
    return 0


HANDLERS = {"capture": cmd_capture}
