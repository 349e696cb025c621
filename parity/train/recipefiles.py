"""Recipes as TOML files: read with tomllib, every key checked before anything runs, written back as a file to
start from, and resolved wherever a command takes a recipe (a built-in name or a path to a .toml file).

A file sets `name`, `description`, optionally `base` (a built-in recipe or another file, relative to this one)
and any knobs; the knobs it leaves out come from `base`, so every knob must be set when there is none.
Knob values in TOML: names as strings, sizes as integers or "none", flags as booleans, `lr` as a number for
every layer group, [x] or "slice(x)" for fastai's slice(x), [start, stop] or "slice(start, stop)".
"""

from __future__ import annotations

import json
import tomllib
from dataclasses import replace
from pathlib import Path

from parity.train import recipes
from parity.core.errors import ParityError, unknown

FILE_KEYS = ("name", "description", "base")
CAPTURE_KEY = "capture"  # the [capture] table of a recipe `parity capture` wrote: its provenance
CAPTURE_FIELDS = {"program": str, "argv": list, "stopped_at": str, "weights": list, "approximate": list,
                  "uncovered": list, "provenance": dict}
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
        if key not in recipes.KNOBS and key not in FILE_KEYS and key != CAPTURE_KEY:
            raise unknown(f"{where}: key", key, [*FILE_KEYS, CAPTURE_KEY, *recipes.KNOBS])
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
    origin = _origin(doc[CAPTURE_KEY], where) if CAPTURE_KEY in doc else None
    recipe = replace(start, name=doc.get("name", path.stem), source=doc.get("description", start.source),
                     origin=origin, **knobs)
    return recipes.check_recipe(recipe, where)


def _origin(table, where: str) -> recipes.Origin:
    """The [capture] table as an Origin; a field of the wrong type is an error naming it."""
    if not isinstance(table, dict):
        raise ParityError(f"{where}: key 'capture' takes a table ([capture]), got {table!r}")
    for key, raw in table.items():
        if key not in CAPTURE_FIELDS:
            raise unknown(f"{where}: [capture] key", key, CAPTURE_FIELDS)
        if not isinstance(raw, CAPTURE_FIELDS[key]):
            raise ParityError(f"{where}: [capture] key {key!r} takes a {CAPTURE_FIELDS[key].__name__}, got {raw!r}")
    uncovered = table.get("uncovered", [])
    if not all(isinstance(u, dict) and set(u) == {"setting", "detail"} for u in uncovered):
        raise ParityError(f"{where}: [capture] uncovered takes {{ setting = ..., detail = ... }} tables, got "
                          f"{uncovered!r}")
    provenance = table.get("provenance", {})
    return recipes.Origin(program=table.get("program", ""), argv=tuple(table.get("argv", ())),
                          stopped_at=table.get("stopped_at", ""),
                          provenance=tuple((k, provenance[k]) for k in recipes.KNOBS if k in provenance),
                          approximate=tuple(table.get("approximate", ())),
                          uncovered=tuple((u["setting"], u["detail"]) for u in uncovered),
                          weights=tuple(table.get("weights", ())))


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
    return json.dumps(str(value))  # a TOML basic string: JSON's escapes (\\, \", \n, \uXXXX) are TOML's


def dumps(recipe: recipes.Recipe) -> str:
    """Every knob of `recipe` as a TOML file, one line of explanation above each, that load() reads back equal.
    A captured recipe also says above each knob where its value came from, and ends with its [capture] table."""
    origin = recipe.origin
    head = (["# parity recipe captured by `parity capture` from " + origin.program + "; every knob says where it "
             "came from.", "# Knobs marked APPROXIMATE hold parity's nearest value; the settings under [capture] "
             "uncovered have no knob: two programs may differ there and an attribution cannot cover them."]
            if origin else ["# parity recipe; edit and run with: parity train --recipe FILE.toml"])
    lines = [*head, "", f"name = {_toml_value(recipe.name)}", f"description = {_toml_value(recipe.source)}", ""]
    for key, knob in recipes.KNOBS.items():
        lines.append(f"# {knob.summary}")
        if origin:
            mark = "APPROXIMATE, " if key in origin.approximate else ""
            lines.append(f"# from: {mark}{origin.source_of(key) or 'not read from the program'}")
        lines.append(f"{key} = {_toml_value(getattr(recipe, key))}")
    if origin:
        lines += ["", f"[{CAPTURE_KEY}]", f"program = {_toml_value(origin.program)}",
                  f"argv = [{', '.join(_toml_value(a) for a in origin.argv)}]",
                  f"stopped_at = {_toml_value(origin.stopped_at)}",
                  f"weights = [{', '.join(_toml_value(w) for w in origin.weights)}]",
                  f"approximate = [{', '.join(_toml_value(k) for k in origin.approximate)}]", "uncovered = ["]
        lines += [f"    {{ setting = {_toml_value(s)}, detail = {_toml_value(d)} }}," for s, d in origin.uncovered]
        lines += ["]", "", f"[{CAPTURE_KEY}.provenance]"]
        lines += [f"{k} = {_toml_value(v)}" for k, v in origin.provenance]
    return "\n".join(lines) + "\n"


def examples() -> list[Path]:
    """The recipe files shipped with parity (parity/examples/*.toml)."""
    return sorted(EXAMPLES_DIR.glob("*.toml"))
