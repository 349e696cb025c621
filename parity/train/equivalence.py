"""End-accuracy equivalence: one recipe trained in two backends over the same seeds (same starting weights,
batches and LRs per seed), compared by a paired TOST within an accuracy margin."""

from __future__ import annotations

from parity.train import recipes
from parity.runtime.backends import DEFAULT_BACKENDS
from parity.core.stats import accuracy_ci, tost_paired

DEFAULT_MARGIN = 0.03  # accuracy points as a fraction: 3 points


def per_backend(runner, recipe: recipes.Recipe, seeds, backends=DEFAULT_BACKENDS) -> dict:
    """{backend: [run result per seed]}, submitted as one wave."""
    requests = [(recipes.with_knobs(recipe, framework=b), s) for b in backends for s in seeds]
    results = runner.map(requests)
    return {b: results[k * len(seeds):(k + 1) * len(seeds)] for k, b in enumerate(backends)}


def summarize(recipe_name: str, framework: str, results: list[dict]) -> dict:
    accs = [r["accuracy"] for r in results]
    return {"recipe": recipe_name, "framework": framework, "per_seed": accs,
            "accuracy": accuracy_ci([a for a in accs if a is not None]), "diverged": sum(a is None for a in accs)}


def equivalence(runner, recipe: recipes.Recipe, seeds, margin: float = DEFAULT_MARGIN,
                backends=DEFAULT_BACKENDS) -> dict:
    """Paired TOST of backends[0] against backends[1] on `recipe` over `seeds`."""
    a, b = backends
    runs = per_backend(runner, recipe, seeds, backends)
    pairs = [(x["accuracy"], y["accuracy"]) for x, y in zip(runs[a], runs[b])
             if x["accuracy"] is not None and y["accuracy"] is not None]
    test = tost_paired([p[0] for p in pairs], [p[1] for p in pairs], margin)
    return {"recipe": recipe.name, "seeds": list(seeds), "test": test, "backends": [a, b],
            "summary": [summarize(recipe.name, fw, rs) for fw, rs in runs.items()]}


def sentence(result: dict) -> str:
    t = result["test"]
    a, b = result.get("backends", DEFAULT_BACKENDS)
    verdict = "equivalent" if t["equivalent"] else "NOT shown equivalent"
    return (f"{result['recipe']}: {a} - {b} accuracy = {100 * t['mean_diff']:+.2f} points (90% CI "
            f"{100 * t['ci'][0]:+.2f} to {100 * t['ci'][1]:+.2f}, {t['n']} paired seeds); TOST p = "
            f"{t['p_value']:.3g} against a +-{100 * t['margin']:.1f}-point margin: {verdict}.")
