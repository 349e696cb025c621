"""Recipes as TOML files: read with tomllib, every key checked before anything runs, written back as a file to
start from, and resolved wherever a command takes a recipe (a built-in name or a path to a .toml file).

A file sets `name`, `description`, optionally `base` (a built-in recipe or another file, relative to this one)
and any knobs; the knobs it leaves out come from `base`, so every knob must be set when there is none.
Knob values in TOML: names as strings, sizes as integers or "none", flags as booleans, `lr` as a number for
every layer group, [x] or "slice(x)" for fastai's slice(x), [start, stop] or "slice(start, stop)".
"""

from __future__ import annotations

import tomllib
from dataclasses import replace
from pathlib import Path

from parity.train import recipes
from parity.core.errors import ParityError, unknown

FILE_KEYS = ("name", "description", "base")
EXAMPLES_DIR = Path(__file__).parents[1] / "examples"


def is_file_ref(ref: str) -> bool:
    """A recipe reference names a file when it ends in .toml or contains a path separator."""
    return ref.endswith(".toml") or "/" in ref or "\\" in ref


def _knob_value(key: str, raw, where: str):
    kind = recipes.KNOBS[key].kind
    if kind == "size" and isinstance(raw, str) and raw.strip().lower() == "none":
        raw = None
    elif kind == "lr" and isinstance(raw, list):
        raw = tuple(raw)
    elif kind == "lr" and isinstance(raw, str):
        raw = recipes.parse_lr(raw)
    return recipes.check_knob(key, raw, where)


def _read_toml(path: Path) -> dict:
    if not path.is_file():
        raise ParityError(f"recipe file {str(path)!r} does not exist")
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ParityError(f"recipe file {str(path)!r} is not valid TOML: {exc}") from None


def load(path, seen: tuple = ()) -> recipes.Recipe:
    """The recipe a TOML file describes, checked knob by knob; errors name the file, the key and the value."""
    path = Path(path)
    if path.resolve() in seen:
        raise ParityError(f"recipe file {str(path)!r}: base files form a cycle")
    doc = _read_toml(path)
    where = f"recipe file {str(path)!r}"
    for key, raw in doc.items():
        if key not in recipes.KNOBS and key not in FILE_KEYS:
            raise unknown(f"{where}: key", key, [*FILE_KEYS, *recipes.KNOBS])
        if key in FILE_KEYS and not isinstance(raw, str):
            raise ParityError(f"{where}: key {key!r} takes a string, got {raw!r}")
    knobs = {k: _knob_value(k, v, f"{where}: key {k!r}") for k, v in doc.items() if k in recipes.KNOBS}
    base = doc.get("base")
    if base is None:
        missing = [k for k in recipes.KNOBS if k not in knobs and recipes.KNOBS[k].default is recipes.NO_DEFAULT]
        if missing:
            raise ParityError(f"{where}: without `base` every knob must be set; missing: {', '.join(missing)} "
                              f"(or add e.g. base = \"fastai_v1_fit\")")
        start = recipes.Recipe(name="", source="", **{k: recipes.KNOBS[k].default for k in recipes.KNOBS
                                                      if k not in knobs}, **knobs)
    else:
        try:
            start = resolve(base, relative_to=path.parent, seen=(*seen, path.resolve()))
        except ParityError as exc:
            raise ParityError(f"{where}: key 'base': {exc}") from None
    recipe = replace(start, name=doc.get("name", path.stem), source=doc.get("description", start.source), **knobs)
    return recipes.check_recipe(recipe, where)


def resolve(ref: str, relative_to: Path | None = None, seen: tuple = ()) -> recipes.Recipe:
    """A built-in recipe by name, or a recipe file by path (relative paths from `relative_to` if given)."""
    if is_file_ref(ref):
        path = Path(ref)
        if relative_to is not None and not path.is_absolute():
            path = relative_to / path
        return load(path, seen)
    return recipes.get_recipe(ref)


def _toml_value(value) -> str:
    if value is None:
        return '"none"'
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, tuple):
        return "[" + ", ".join(repr(float(v)) for v in value) + "]"
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, int):
        return str(value)
    return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'


def dumps(recipe: recipes.Recipe) -> str:
    """Every knob of `recipe` as a TOML file, one line of explanation above each, that load() reads back equal."""
    lines = ["# parity recipe; edit and run with: parity train --recipe FILE.toml", "",
             f"name = {_toml_value(recipe.name)}", f"description = {_toml_value(recipe.source)}", ""]
    for key, knob in recipes.KNOBS.items():
        lines += [f"# {knob.summary}", f"{key} = {_toml_value(getattr(recipe, key))}"]
    return "\n".join(lines) + "\n"


def examples() -> list[Path]:
    """The recipe files shipped with parity (parity/examples/*.toml)."""
    return sorted(EXAMPLES_DIR.glob("*.toml"))
