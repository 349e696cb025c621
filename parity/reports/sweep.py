"""`parity sweep`: one knob or data size over a list of values, for one or more recipes, over seeds, through
the same executor and store as bisect. Accuracy per value per recipe with CIs, each recipe's paired gap to
the first, and (with bisect points) how the leading factors' Shapley values move along the sweep."""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

from parity.components.datasets import DataSpec
from parity.core.errors import ParityError, unknown
from parity.core.stats import ACCURACY_CI, accuracy_ci, summary_ci
from parity.reports import plots
from parity.reports.publish import publish
from parity.reports.render import pts
from parity.train import recipes

DATA_SIZES = ("train_per_class", "test_per_class")  # sweepable fields of the data spec


@dataclass(frozen=True)
class Sweep:
    over: str  # a recipe knob or a DATA_SIZES field
    values: tuple
    recipes: tuple  # Recipe, the first is the one gaps are measured from
    seeds: tuple
    spec: DataSpec

    def point(self, recipe: recipes.Recipe, value) -> tuple[recipes.Recipe, DataSpec]:
        """The recipe and the data of one sweep point."""
        if self.over in DATA_SIZES:
            return recipe, replace(self.spec, **{self.over: value})
        return recipes.with_knobs(recipe, name=recipe.name, **{self.over: value}), self.spec

    def requests(self) -> list[tuple]:
        """(recipe, seed, data) for every value, recipe and seed, in that nesting (summarise reads this order)."""
        out = []
        for value in self.values:
            for recipe in self.recipes:
                point, spec = self.point(recipe, value)
                out += [(point, seed, spec) for seed in self.seeds]
        return out


def parse_over(text: str) -> tuple[str, tuple]:
    """'train_per_class=50,150,500' -> ('train_per_class', (50, 150, 500)); every value checked now."""
    if "=" not in text:
        raise ParityError(f"--over wants KNOB=V1,V2,... (a recipe knob or {', '.join(DATA_SIZES)}), got {text!r}")
    name, raw = (part.strip() for part in text.split("=", 1))
    items = [v.strip() for v in _split_values(raw) if v.strip()]
    if len(items) < 2:
        raise ParityError(f"--over {text!r}: a sweep needs at least two values")
    if name in DATA_SIZES:
        values = []
        for item in items:
            if not item.isdigit() or int(item) < 1:
                raise ParityError(f"--over {name}: every value must be a positive integer, got {item!r}")
            values.append(int(item))
    elif name in recipes.KNOBS:
        values = [recipes.parse_knob(name, item, where=f"--over {name}") for item in items]
    else:
        raise unknown("--over: recipe knob or data size", name, [*recipes.KNOBS, *DATA_SIZES])
    if len(set(map(repr, values))) != len(values):
        raise ParityError(f"--over {text!r} lists a value twice")
    return name, tuple(values)


def _split_values(raw: str) -> list[str]:
    """Commas split values, except inside slice(...) or (...)."""
    out, depth, current = [], 0, ""
    for ch in raw:
        depth += ch == "("
        depth -= ch == ")"
        if ch == "," and depth == 0:
            out.append(current)
            current = ""
        else:
            current += ch
    return out + [current]


def parse_at(text: str | None, sweep_over: str, values: tuple) -> tuple:
    """--bisect-at: values of the sweep (as written in --over) at which to run the attribution."""
    if not text:
        return ()
    wanted = [v.strip() for v in _split_values(text) if v.strip()]
    by_text = {recipes.fmt_value(v): v for v in values} | {str(v): v for v in values}
    missing = [w for w in wanted if w not in by_text]
    if missing:
        raise ParityError(f"--bisect-at {missing[0]!r} is not one of the --over {sweep_over} values: "
                          f"{', '.join(recipes.fmt_value(v) for v in values)}")
    return tuple(by_text[w] for w in wanted)


def summarise(sweep: Sweep, results: list[dict]) -> dict:
    """Accuracy per (value, recipe) and, per value, each later recipe's paired gap to the first."""
    n_seeds, names = len(sweep.seeds), [r.name for r in sweep.recipes]
    points = []
    k = 0
    for value in sweep.values:
        accs = {}
        for name in names:
            runs = results[k:k + n_seeds]
            k += n_seeds
            accs[name] = [math.nan if r.get("accuracy") is None else r["accuracy"] for r in runs]
        base = accs[names[0]]
        points.append({
            "value": value, "label": recipes.fmt_value(value),
            "accuracy": {n: accuracy_ci(a) for n, a in accs.items()},
            "per_seed": accs,
            "gap": {n: summary_ci([b - a for a, b in zip(base, accs[n])]) for n in names[1:]},
            "diverged": {n: sum(1 for a in accs[n] if not math.isfinite(a)) for n in names}})
    return {"over": sweep.over, "values": [recipes.fmt_value(v) for v in sweep.values], "recipes": names,
            "seeds": list(sweep.seeds), "points": points, "sentences": sentences(names, points, sweep.over)}


def sentences(names: list[str], points: list[dict], over: str) -> list[str]:
    """One sentence per later recipe: its gap to the first at each end of the sweep, and where the sign turns."""
    out = []
    for name in names[1:]:
        gaps = [(p["label"], p["gap"][name]) for p in points]
        signs = [_sign(g) for _, g in gaps]
        text = (f"{name} - {names[0]}: {pts(gaps[0][1], 1)} points at {over}={gaps[0][0]}, "
                f"{pts(gaps[-1][1], 1)} at {over}={gaps[-1][0]}")
        turns = [gaps[i + 1][0] for i in range(len(signs) - 1)
                 if signs[i] and signs[i + 1] and signs[i] != signs[i + 1]]
        if turns:
            text += f"; the sign flips (both CIs clear of zero) by {over}={turns[0]}"
        elif signs[0] and not signs[-1]:
            text += "; the gap is no longer clear of zero at the end"
        out.append(text + ".")
    return out


def _sign(ci: dict) -> int:
    """+1 / -1 when the CI excludes zero, else 0."""
    if not ci or ci.get("n", 0) < 2:
        return 0
    return 1 if ci["low"] > 0 else (-1 if ci["high"] < 0 else 0)


def shapley_along(bisects: list[tuple], top: int = 4) -> dict:
    """{factor: [Shapley CI at each bisect point]} for the factors leading anywhere along the sweep."""
    lead: dict[str, float] = {}
    for _, result in bisects:
        for f, v in (result.get("shapley") or {}).get("factors", {}).items():
            lead[f] = max(lead.get(f, 0.0), abs(v["value"]["mean"]))
    chosen = sorted(lead, key=lambda f: -lead[f])[:top]
    return {"at": [recipes.fmt_value(v) for v, _ in bisects],
            "factors": {f: [(r.get("shapley") or {}).get("factors", {}).get(f, {}).get("value") for _, r in bisects]
                        for f in chosen}}


def _pct_cell(ci: dict, diverged: int) -> str:
    if not ci.get("n"):
        return "all diverged"
    text = f"{100 * ci['mean']:.1f}%" + (f" [{100 * ci['low']:.1f}, {100 * ci['high']:.1f}]" if ci["n"] > 1 else "")
    return text + (f" ({diverged} diverged)" if diverged else "")


def html_context(results: dict, figures: list[dict]) -> dict:
    sweep = {"shapley_along": None, **results["sweep"]}  # along the sweep only with --bisect-at
    return {"title": results["title"], "results": results, "sweep": sweep, "figures": figures,
            "ci_method": ACCURACY_CI, "pct_cell": _pct_cell}


def write(out, title: str, results: dict):
    def draw(folder) -> list[dict]:
        s = results["sweep"]
        plots.sweep(s, folder / "sweep.png")
        figures = [{"file": "sweep.png", "caption": f"Accuracy along {s['over']} per recipe, and each recipe's "
                    f"paired gap to {s['recipes'][0]} (95% CIs over seeds)"}]
        if s.get("shapley_along"):
            plots.shapley_along(s, folder / "shapley_along.png")
            figures.append({"file": "shapley_along.png", "caption": "Shapley values of the leading factors at "
                            "each bisect point (95% CIs)"})
        return figures

    return publish(out, "sweep", {"title": title, **results}, "sweep", html_context, draw)
