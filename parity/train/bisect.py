"""Gap attribution between two recipes: the knobs that differ are the factors; a configuration switches a
subset of them from recipe A's value to recipe B's, and its value is the test accuracy over several seeds
(the same seeds in every configuration, so differences are paired).

Methods: one-at-a-time from both ends, delta debugging (a 1-minimal set of factors that closes most of the
gap), Shapley values (exact over up to EXACT_MAX factors, permutation-sampled beyond) and pairwise
interactions of the leading factors. Every run goes through the result store, so methods share runs and an
interrupted bisect resumes.

The framework factor can take a third value: given a middle backend (keras_torch between torch and keras_tf),
it splits into FRAMEWORK_API (torch -> keras_torch: Keras' API and defaults on torch's kernels) and
FRAMEWORK_KERNELS (keras_torch -> keras_tf: TensorFlow's kernels), and the second only ever follows the first
(there is no torch API on TensorFlow kernels). Shapley values then average over the orderings that keep that
precedence, so the two parts still add up to the framework's share of the gap.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from parity.train import recipes
from parity.core.results import Attribution
from parity.core.errors import ParityError, unknown
from parity.core.stats import accuracy_ci, summary_ci

METHODS = ("oat", "ddmin", "shapley", "interactions")
EXACT_MAX = 8
FRAMEWORK_API, FRAMEWORK_KERNELS = "framework:api", "framework:kernels"
DDMIN_SHARE = 0.8  # delta debugging looks for a smallest set closing at least this share of the gap


# knobs a run does not take from the recipe: the body is the run's (--body), the same on both sides
NOT_FACTORS = ("body",)


def factors(a: recipes.Recipe, b: recipes.Recipe, only: list[str] | None = None,
            decoded: bool = True) -> list[str]:
    """The knobs that differ (framework included); `only` keeps a subset, the rest stay at A's values.
    Without image files to decode (`decoded` False), the decoder is not a factor."""
    differing = [k for k in recipes.diff(a, b) if k not in NOT_FACTORS and (decoded or k != "decoder")]
    if not differing:
        raise ParityError(f"recipes {a.name!r} and {b.name!r} have the same knobs: there is no gap to attribute")
    if only:
        for name in only:
            if name not in recipes.KNOBS:
                raise unknown("recipe knob", name, recipes.KNOBS)
            if name not in differing:
                raise ParityError(f"knob {name!r} is the same in {a.name!r} and {b.name!r} "
                                  f"(differing: {', '.join(differing)})")
        differing = [k for k in differing if k in only]
    return differing


@dataclass
class Bisection:
    a: recipes.Recipe
    b: recipes.Recipe
    factors: list[str]
    seeds: list[int]
    evaluate: Callable[[recipes.Recipe, int], dict]  # (recipe, seed) -> run result (store-backed)
    runs: dict = field(default_factory=dict)  # frozenset -> [result per seed]
    middle: str | None = None  # the framework's middle value when it is split (FRAMEWORK_API, FRAMEWORK_KERNELS)
    after: dict = field(default_factory=dict)  # {factor: the factor it may only follow}

    def feasible(self, switched) -> bool:
        return all(first in switched for second, first in self.after.items() if second in switched)

    def closure(self, switched) -> frozenset:
        """The smallest feasible set containing `switched` (adds what a factor must follow)."""
        out = set(switched)
        for second, first in self.after.items():
            if second in out:
                out.add(first)
        return frozenset(out)

    def config(self, switched: frozenset) -> recipes.Recipe:
        if not self.feasible(switched):
            raise ParityError(f"configuration {sorted(switched)} switches a factor without the one it follows")
        label = "+".join(sorted(switched)) or "none"
        knobs = {k: getattr(self.b, k) for k in switched if k in recipes.KNOBS}
        if FRAMEWORK_API in switched:
            knobs["framework"] = self.b.framework if FRAMEWORK_KERNELS in switched else self.middle
        return recipes.with_knobs(self.a, name=f"{self.a.name}[->{self.b.name}: {label}]", **knobs)

    def prefetch(self, sets) -> None:
        """Run every configuration in `sets` not run yet, all seeds, as one wave through the evaluator's
        executor (an evaluator without `map` runs them one by one)."""
        todo = list(dict.fromkeys(frozenset(s) for s in sets if frozenset(s) not in self.runs
                                  and self.feasible(frozenset(s))))
        if not todo:
            return
        requests = [(self.config(s), seed) for s in todo for seed in self.seeds]
        many = getattr(self.evaluate, "map", None)
        results = many(requests) if many else [self.evaluate(r, seed) for r, seed in requests]
        n = len(self.seeds)
        for k, s in enumerate(todo):
            self.runs[s] = results[k * n:(k + 1) * n]

    def results(self, switched) -> list[dict]:
        switched = frozenset(switched)
        self.prefetch([switched])
        return self.runs[switched]

    def value(self, switched) -> np.ndarray:
        """Accuracy per seed; a diverged run counts as NaN (and is reported), never as chance accuracy."""
        return np.array([r["accuracy"] if r["accuracy"] is not None else math.nan for r in self.results(switched)])

    @property
    def everything(self) -> frozenset:
        return frozenset(self.factors)

    def gap(self) -> np.ndarray:
        return self.value(self.everything) - self.value(frozenset())


def between(a: recipes.Recipe, b: recipes.Recipe, only: list[str] | None, seeds: list[int], evaluate,
            decoded: bool = True, middle: str | None = None) -> Bisection:
    """The bisection from recipe A to recipe B over the knobs that differ (or `only` those); with a `middle`
    backend, the framework factor splits into its API part and its kernels part."""
    chosen = factors(a, b, only, decoded)
    if middle is None:
        return Bisection(a, b, chosen, list(seeds), evaluate)
    if "framework" not in chosen:
        raise ParityError(f"a middle backend ({middle!r}) splits the framework factor, but {a.name!r} and {b.name!r} "
                          f"{'run on the same framework' if a.framework == b.framework else 'leave it out'}")
    if middle in (a.framework, b.framework):
        raise ParityError(f"the middle backend {middle!r} must differ from both ends ({a.framework}, {b.framework})")
    split = [f for f in chosen if f != "framework"] + [FRAMEWORK_API, FRAMEWORK_KERNELS]
    return Bisection(a, b, split, list(seeds), evaluate, middle=middle, after={FRAMEWORK_KERNELS: FRAMEWORK_API})


def one_at_a_time(bis: Bisection) -> dict:
    """Per factor: the change from switching it alone at A's end, and from switching it back alone at B's."""
    bis.prefetch([frozenset(), bis.everything] + [{f} for f in bis.factors]
                 + [bis.everything - {f} for f in bis.factors])
    base, top = bis.value(frozenset()), bis.value(bis.everything)
    out = {}
    for f in bis.factors:  # a factor that may only follow another cannot be switched alone (None)
        alone, without = frozenset({f}), bis.everything - {f}
        out[f] = {"from_a": summary_ci(bis.value(alone) - base) if bis.feasible(alone) else None,
                  "from_b": summary_ci(top - bis.value(without)) if bis.feasible(without) else None}
    return out


def ddmin(bis: Bisection, share: float = DDMIN_SHARE) -> dict:
    """Zeller's delta debugging on the factor set: a 1-minimal subset whose switch closes >= share of the
    mean gap (tested on the seed mean). Returns the set, what it closes, and the tests it took."""
    gap = float(np.nanmean(bis.gap()))
    base = float(np.nanmean(bis.value(frozenset())))

    def closes(subset) -> bool:
        moved = float(np.nanmean(bis.value(bis.closure(subset)))) - base
        return gap != 0 and moved / gap >= share

    current, n, tests = list(bis.factors), 2, 0
    while len(current) >= 2:
        chunks = [current[i::n] for i in range(n)]
        bis.prefetch([bis.closure(c) for c in chunks]  # one wave per round: every test the round may make
                     + [bis.closure([f for f in current if f not in c]) for c in chunks])
        reduced = False
        for chunk in chunks:
            tests += 1
            if closes(chunk):
                current, n, reduced = chunk, 2, True
                break
        if not reduced:
            for chunk in chunks:
                complement = [f for f in current if f not in chunk]
                tests += 1
                if complement and closes(complement):
                    current, n, reduced = complement, max(n - 1, 2), True
                    break
        if not reduced:
            if n >= len(current):
                break
            n = min(2 * n, len(current))
    current = sorted(bis.closure(current))
    closed = (bis.value(frozenset(current)) - bis.value(frozenset())) / np.where(bis.gap() == 0, np.nan, bis.gap())
    return {"set": current, "share_target": share, "closes": summary_ci(closed), "tests": tests}


def _weight(n: int, size: int) -> float:
    return math.factorial(size) * math.factorial(n - size - 1) / math.factorial(n)


def shapley_per_seed(bis: Bisection, permutations: int = 8, seed: int = 0,
                     sampled: bool = False) -> tuple[dict, dict, str]:
    """({factor: Shapley value per seed}, {factor: the sampling variance of its mean}, how it was computed);
    `sampled` samples orderings even at EXACT_MAX factors or fewer (a budget that cannot pay for 2^n)."""
    n = len(bis.factors)
    per_seed = {f: np.zeros(len(bis.seeds)) for f in bis.factors}
    sampling_var = {f: 0.0 for f in bis.factors}
    exact = n <= EXACT_MAX and not sampled
    if exact:  # every configuration, as one wave
        bis.prefetch(frozenset(s) for size in range(n + 1) for s in itertools.combinations(bis.factors, size))
    if bis.after and exact:  # precedence: average over every ordering that keeps it
        orders = [p for p in itertools.permutations(bis.factors) if _keeps_precedence(bis, p)]
        for order in orders:
            for f, marginal in _marginals(bis, order):
                per_seed[f] += marginal / len(orders)
        method = f"exact over the {len(orders)} orderings of {n} factors in which {_precedence_text(bis)}"
    elif exact:
        for f in bis.factors:
            others = [g for g in bis.factors if g != f]
            for size in range(n):
                for subset in itertools.combinations(others, size):
                    s = frozenset(subset)
                    per_seed[f] += _weight(n, size) * (bis.value(s | {f}) - bis.value(s))
        method = f"exact over {n} factors ({2 ** n} configurations)"
    else:
        rng = np.random.default_rng(seed)
        marginals = {f: [] for f in bis.factors}
        orders = [_with_precedence(bis, [bis.factors[i] for i in rng.permutation(n)]) for _ in range(permutations)]
        bis.prefetch(frozenset(order[:k]) for order in orders for k in range(n + 1))  # every prefix, one wave
        for order in orders:
            for f, marginal in _marginals(bis, order):
                marginals[f].append(marginal)
        for f in bis.factors:
            m = np.array(marginals[f])  # (permutations, seeds)
            per_seed[f] = m.mean(axis=0)
            sampling_var[f] = float(np.nanvar(np.nanmean(m, axis=1), ddof=1) / len(m)) if len(m) > 1 else 0.0
        method = f"sampled: {permutations} random orderings of {n} factors"
    return per_seed, sampling_var, method


def shapley(bis: Bisection, permutations: int = 8, seed: int = 0) -> dict:
    """Each factor's Shapley value in accuracy (sums to the gap per seed). Exact for <= EXACT_MAX factors;
    beyond, the mean marginal contribution over sampled orderings, whose sampling error joins the seed
    error in the CI."""
    per_seed, sampling_var, method = shapley_per_seed(bis, permutations, seed)
    gap = bis.gap()
    out = {}
    for f in bis.factors:
        ci = summary_ci(per_seed[f])
        if sampling_var[f] and ci["n"] > 1:
            half = ci["high"] - ci["mean"]
            half = math.sqrt(half ** 2 + (1.96 ** 2) * sampling_var[f])
            ci.update(low=ci["mean"] - half, high=ci["mean"] + half)
        share = summary_ci(per_seed[f] / np.where(gap == 0, np.nan, gap))
        out[f] = {"value": ci, "share": share}
    return {"method": method, "factors": out}


def _marginals(bis: Bisection, order):
    """(factor, its marginal contribution per seed) along one ordering."""
    switched = frozenset()
    for f in order:
        yield f, bis.value(switched | {f}) - bis.value(switched)
        switched = switched | {f}


def _keeps_precedence(bis: Bisection, order) -> bool:
    return all(order.index(first) < order.index(second) for second, first in bis.after.items())


def _with_precedence(bis: Bisection, order: list[str]) -> list[str]:
    """Swap a pair that breaks its precedence: uniform over the orderings that keep it (the swap pairs them)."""
    order = list(order)
    for second, first in bis.after.items():
        i, j = order.index(first), order.index(second)
        if j < i:
            order[i], order[j] = order[j], order[i]
    return order


def _precedence_text(bis: Bisection) -> str:
    return " and ".join(f"{first} comes before {second}" for second, first in bis.after.items())


def interactions(bis: Bisection, leading: list[str]) -> dict:
    """Pairwise interaction at A's end, v(ij) - v(i) - v(j) + v(none), for the leading factors."""
    pairs = [(f, g) for f, g in itertools.combinations(leading, 2) if bis.feasible({f}) and bis.feasible({g})]
    bis.prefetch([{f, g} for f, g in pairs] + [{f} for f, g in pairs] + [{g} for f, g in pairs] + [frozenset()])
    base = bis.value(frozenset())
    out = {}
    for f, g in itertools.combinations(leading, 2):
        if not (bis.feasible({f}) and bis.feasible({g})):
            continue  # one of the two only follows the other: the pair has no interaction term
        term = bis.value({f, g}) - bis.value({f}) - bis.value({g}) + base
        ci = summary_ci(term)
        out[f"{f} x {g}"] = {**ci, "matters": bool(ci["n"] > 1 and (ci["low"] > 0 or ci["high"] < 0))}
    return out


def planned(bis: Bisection, methods=METHODS, permutations: int = 8, top: int = 4) -> tuple[list, int]:
    """(the configurations known before any run, how many more the adaptive methods may add at most)."""
    n = len(bis.factors)
    sets = [frozenset(), bis.everything]
    if "oat" in methods:
        sets += [frozenset({f}) for f in bis.factors] + [bis.everything - {f} for f in bis.factors]
    if "shapley" in methods and n <= EXACT_MAX:
        sets += [frozenset(s) for size in range(n + 1) for s in itertools.combinations(bis.factors, size)]
    elif "shapley" in methods:
        rng = np.random.default_rng(0)
        orders = [_with_precedence(bis, [bis.factors[i] for i in rng.permutation(n)]) for _ in range(permutations)]
        sets += [frozenset(o[:k]) for o in orders for k in range(n + 1)]
    known = [s for s in dict.fromkeys(sets) if bis.feasible(s)]
    adaptive = (math.comb(min(top, n), 2) * 3 if "interactions" in methods else 0) + \
        (2 * n * max(1, math.ceil(math.log2(max(n, 2)))) if "ddmin" in methods else 0)
    return known, adaptive


def factor_values(bis: Bisection) -> dict:
    """{factor: [its value at A, at B]} as text (the framework's split parts through the middle backend)."""
    diff = {k: [recipes.fmt_value(v) for v in pair] for k, pair in recipes.diff(bis.a, bis.b).items()}
    if bis.middle:
        diff[FRAMEWORK_API] = [bis.a.framework, bis.middle]
        diff[FRAMEWORK_KERNELS] = [bis.middle, bis.b.framework]
    return {k: v for k, v in diff.items() if k in bis.factors}


def run_bisect(bis: Bisection, methods=METHODS, permutations: int = 8, top: int = 4) -> dict:
    for m in methods:
        if m not in METHODS:
            raise unknown("bisect method", m, METHODS)
    result = {"from": bis.a.name, "to": bis.b.name, "factors": list(bis.factors), "seeds": list(bis.seeds),
              "diff": factor_values(bis), "middle": bis.middle,
              "accuracy_from": accuracy_ci(bis.value(frozenset())),
              "accuracy_to": accuracy_ci(bis.value(bis.everything)),
              "gap": summary_ci(bis.gap())}
    if "oat" in methods:
        result["oat"] = one_at_a_time(bis)
    if "shapley" in methods:
        result["shapley"] = shapley(bis, permutations)
    if "ddmin" in methods:
        result["ddmin"] = ddmin(bis)
    if "interactions" in methods:
        if "shapley" in result:
            ranked = sorted(bis.factors, key=lambda f: -abs(result["shapley"]["factors"][f]["value"]["mean"]))
        elif "oat" in result:
            ranked = sorted(bis.factors, key=lambda f: -abs((result["oat"][f]["from_a"] or {"mean": 0.0})["mean"]))
        else:
            ranked = list(bis.factors)
        result["interactions"] = interactions(bis, ranked[:top])
    all_runs = [r for rs in bis.runs.values() for r in rs]
    result["configurations"] = len(bis.runs)
    result["runs"] = len(all_runs)
    result["diverged_runs"] = sum(1 for r in all_runs if r["diverged"])
    result["unsupported_runs"] = sorted({r["unsupported"] for r in all_runs if r.get("unsupported")})
    result["answer"] = answer(result)
    result = Attribution.from_json(result, "bisect result").to_json()  # every method's field, None where not asked
    return result


def _pts(x: float) -> str:
    return f"{100 * x:+.1f}"


def answer(result: dict) -> str:
    """The report's first sentence: which factors explain how much of the gap, with CIs."""
    gap = result["gap"]
    head = (f"Going from {result['from']} ({100 * result['accuracy_from']['mean']:.1f}%) to {result['to']} "
            f"({100 * result['accuracy_to']['mean']:.1f}%) changes accuracy by {_pts(gap['mean'])} points "
            f"(95% CI {_pts(gap['low'])} to {_pts(gap['high'])}, {gap['n']} seeds)")
    if gap["n"] > 1 and gap["low"] <= 0 <= gap["high"]:
        head += "; that gap is within seed noise, so no factor can be said to explain it"
    if not result.get("shapley"):
        return head + "."
    items = sorted(result["shapley"]["factors"].items(), key=lambda kv: -abs(kv[1]["value"]["mean"]))
    clear = [(f, v) for f, v in items if v["value"]["n"] > 1 and (v["value"]["low"] > 0 or v["value"]["high"] < 0)]
    if not clear:
        return head + "; no single factor's share is distinguishable from zero at this seed count."
    parts = [f"{f} {100 * v['share']['mean']:.0f}% of it ({_pts(v['value']['mean'])} pts, CI "
             f"{_pts(v['value']['low'])} to {_pts(v['value']['high'])})" for f, v in clear]
    rest = [f for f, _ in items if f not in dict(clear)]
    tail = f"; {', '.join(rest)} stay within noise" if rest else ""
    return f"{head}: {'; '.join(parts)}{tail}."
