"""End-accuracy equivalence: one recipe trained in torch and in Keras over the same seeds (same starting
weights, batches and LRs per seed), compared by a paired TOST within an accuracy margin."""

from __future__ import annotations

from parity import recipes
from parity.stats import accuracy_ci, tost_paired

DEFAULT_MARGIN = 0.03  # accuracy points as a fraction: 3 points


def per_framework(runner, recipe: recipes.Recipe, seeds) -> dict:
    """{framework: [run result per seed]}."""
    return {fw: [runner(recipes.with_knobs(recipe, framework=fw), s) for s in seeds] for fw in ("torch", "keras")}


def summarize(recipe_name: str, framework: str, results: list[dict]) -> dict:
    accs = [r["accuracy"] for r in results]
    return {"recipe": recipe_name, "framework": framework, "per_seed": accs,
            "accuracy": accuracy_ci([a for a in accs if a is not None]), "diverged": sum(a is None for a in accs)}


def equivalence(runner, recipe: recipes.Recipe, seeds, margin: float = DEFAULT_MARGIN) -> dict:
    runs = per_framework(runner, recipe, seeds)
    pairs = [(t["accuracy"], k["accuracy"]) for t, k in zip(runs["torch"], runs["keras"])
             if t["accuracy"] is not None and k["accuracy"] is not None]
    test = tost_paired([p[0] for p in pairs], [p[1] for p in pairs], margin)
    return {"recipe": recipe.name, "seeds": list(seeds), "test": test,
            "summary": [summarize(recipe.name, fw, rs) for fw, rs in runs.items()]}


def sentence(result: dict) -> str:
    t = result["test"]
    verdict = "equivalent" if t["equivalent"] else "NOT shown equivalent"
    return (f"{result['recipe']}: torch - Keras accuracy = {100 * t['mean_diff']:+.2f} points (90% CI "
            f"{100 * t['ci'][0]:+.2f} to {100 * t['ci'][1]:+.2f}, {t['n']} paired seeds); TOST p = "
            f"{t['p_value']:.3g} against a +-{100 * t['margin']:.1f}-point margin: {verdict}.")
