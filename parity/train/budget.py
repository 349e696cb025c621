"""A sequential, budgeted attribution (`parity bisect --budget RUNS`): fewer runs for the same answer.

1. Screen: every factor one at a time from both ends (the 2n + 2 configurations of one_at_a_time) on the first
   START_SEEDS seeds.
2. A factor is screened out when it is clearly zero: both its one-at-a-time effects and their difference (its
   interaction with the rest) lie, 95% CIs and all, within +-SCREEN_SHARE of the gap. The others are active.
3. Shapley values over the active factors only, the screened ones held at A's values; what the screened
   factors do jointly (v(everything) - v(the active ones)) is reported with its CI, never dropped.
4. Seeds are added, one at a time and only to the configurations the answer needs, while a decision is still
   open: the leading factor's value against zero, its share of the gap against delta debugging's 80%, and the
   ranking of the top two. It stops when every decision is made, when the --seeds pool is used up, or when the
   next seed would pass the budget, and says which.

With a lower-fidelity bisection given (parity.train.fidelity, `--screen-at`), step 1 runs there instead, and
`confirm` (`--confirm K`) keeps at most the K largest screened effects active; the budget then counts the
full-size runs, the screen's are reported beside them.

Configurations, seeds and store keys are the full design's (the seeds are a prefix of --seeds, the store is
keyed by knobs and seed), so a budgeted bisect can be completed later into the full one, reading every run it
made from the store.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import replace

import numpy as np

from parity.core.errors import ParityError
from parity.core.results import Attribution
from parity.core.stats import accuracy_ci, summary_ci
from parity.train import recipes
from parity.train.bisect import (DDMIN_SHARE, EXACT_MAX, FRAMEWORK_API, FRAMEWORK_KERNELS, Bisection, answer,
                                 factor_values, one_at_a_time, planned, shapley_per_seed)

START_SEEDS = 3  # the screen's seeds: with 2 a 95% CI is 12.7 standard errors wide (t, 1 df), with 3 it is 4.3
SCREEN_SHARE = 0.1  # screened out: every screening CI within +-10% of the gap's mean


class Ledger:
    """The evaluator seen by every stage: each distinct (configuration, seed) is run once and counted."""

    def __init__(self, evaluate):
        self.evaluate, self.done = evaluate, {}

    @staticmethod
    def key(recipe, seed) -> tuple:
        return recipes.fingerprint(recipe), seed

    def map(self, requests: list) -> list:
        todo = [(r, s) for r, s in dict.fromkeys((r, s) for r, s in requests) if self.key(r, s) not in self.done]
        todo = list({self.key(r, s): (r, s) for r, s in todo}.values())
        many = getattr(self.evaluate, "map", None)
        results = many(todo) if many else [self.evaluate(r, s) for r, s in todo]
        for (r, s), result in zip(todo, results):
            self.done[self.key(r, s)] = result
        return [self.done[self.key(r, s)] for r, s in requests]

    def __call__(self, recipe, seed):
        return self.map([(recipe, seed)])[0]

    def new(self, requests: list) -> int:
        """How many of `requests` would run (not made yet)."""
        return len({self.key(r, s) for r, s in requests} - set(self.done))


def run_seconds(ledger: Ledger) -> list[float]:
    """The training seconds each run of a ledger recorded (a run read from the store keeps the time it took)."""
    return [r["seconds"] for r in ledger.done.values() if r.get("seconds") is not None]


def time_spent(ledger: Ledger, screen_ledger: Ledger, full_runs: int) -> dict:
    """What the answer cost in run time (the runs' own seconds, summed: one worker's time, whatever ran at once),
    the screen's apart, and the full design's estimate: its run count at the mean full-size run made here (an
    estimate: the full design's configurations are not these)."""
    full = run_seconds(ledger)
    out = {"seconds": sum(full), "timed_runs": len(full)}
    if screen_ledger is not ledger:
        out["screen_seconds"] = sum(run_seconds(screen_ledger))
    if full:
        out["full_design_seconds"] = full_runs * sum(full) / len(full)
    return out


def time_clause(b: dict) -> str:
    """'; run time ... of the full design's estimated ...', or '' when the runs recorded no time."""
    if not b.get("full_design_seconds"):
        return ""
    spent = b["seconds"] + b.get("screen_seconds", 0.0)
    screen = f" ({b['screen_seconds']:.0f} s of it screening)" if "screen_seconds" in b else ""
    return (f"; run time {spent:.0f} s{screen}, {100 * spent / b['full_design_seconds']:.0f}% of the full "
            f"design's estimated {b['full_design_seconds']:.0f} s (its runs at this answer's mean full-size run)")


def full_design_runs(bis: Bisection, permutations: int = 8) -> int:
    """Runs of the full design the budget is measured against: one-at-a-time and Shapley over every factor,
    on every seed of --seeds (delta debugging and interactions reuse those configurations or add more)."""
    known, _ = planned(bis, ("oat", "shapley"), permutations)
    return len(known) * len(bis.seeds)


def _at(bis: Bisection, seeds: list[int], ledger: Ledger, factors=None, b=None) -> Bisection:
    chosen = list(factors if factors is not None else bis.factors)
    after = {k: v for k, v in bis.after.items() if k in chosen and v in chosen}
    return Bisection(bis.a, b or bis.b, chosen, list(seeds), ledger, middle=bis.middle, after=after)


def screen_sets(bis: Bisection) -> list[frozenset]:
    """The configurations of the screen: none and every factor switched, each alone, each left out."""
    sets = [frozenset(), bis.everything] + [frozenset({f}) for f in bis.factors] + \
        [bis.everything - {f} for f in bis.factors]
    return [s for s in dict.fromkeys(sets) if bis.feasible(s)]


def screen_requests(bis: Bisection, spec) -> list[tuple]:
    """The screen's runs as (recipe, seed, data spec) requests: what `--plan` lists for a screened design."""
    return [(bis.config(c), seed, spec) for c in screen_sets(bis) for seed in bis.seeds[:START_SEEDS]]


def screen_runs(bis: Bisection) -> int:
    return len(screen_sets(bis)) * min(START_SEEDS, len(bis.seeds))


def _requests(bis: Bisection, sets) -> list:
    return [(bis.config(frozenset(s)), seed) for s in sets for seed in bis.seeds]


def clearly_zero(effects: dict, bound: float) -> bool:
    """Both one-at-a-time CIs and the CI of their difference inside +-bound (a factor that cannot be switched
    alone has no clear zero)."""
    cis = [effects.get("from_a"), effects.get("from_b"), effects.get("difference")]
    return all(ci is not None and ci["n"] > 1 and -bound < ci["low"] and ci["high"] < bound for ci in cis)


def _decisions(values: dict, gap: np.ndarray) -> dict:
    """The open questions, each True when decided: the leader's sign, its share against DDMIN_SHARE, the top
    two's ranking (per seed, by magnitude in the leader's direction)."""
    ranked = sorted(values, key=lambda f: -abs(np.nanmean(values[f])))
    lead = values[ranked[0]]
    sign = 1.0 if np.nanmean(lead) >= 0 else -1.0
    value = summary_ci(lead)
    share = summary_ci(lead / np.where(gap == 0, np.nan, gap))
    out = {"leader": ranked[0],
           "leader_not_zero": bool(value["n"] > 1 and (value["low"] > 0 or value["high"] < 0)),
           "share_vs_80": bool(share["n"] > 1 and (share["low"] > DDMIN_SHARE or share["high"] < DDMIN_SHARE))}
    if len(ranked) > 1:
        margin = summary_ci(sign * lead - np.abs(values[ranked[1]]))
        out["ranking"] = bool(margin["n"] > 1 and margin["low"] > 0)
    return out


def screen_effects(screen: Bisection) -> tuple[dict, float]:
    """One-at-a-time from both ends, each factor's interaction with the rest (the difference of the two) and
    the screening bound (SCREEN_SHARE of the screen's gap)."""
    oat = one_at_a_time(screen)
    bound = SCREEN_SHARE * abs(summary_ci(screen.gap())["mean"])
    base, top = screen.value(frozenset()), screen.value(screen.everything)
    for f in screen.factors:
        alone, without = frozenset({f}), screen.everything - {f}
        if screen.feasible(alone) and screen.feasible(without):
            oat[f]["difference"] = summary_ci((top - screen.value(without)) - (screen.value(alone) - base))
            # the screen's estimate of the factor's value: the mean of its two one-at-a-time effects per seed
            oat[f]["effect"] = summary_ci(((screen.value(alone) - base) + (top - screen.value(without))) / 2)
    return oat, bound


def active_factors(bis: Bisection, oat: dict, bound: float, confirm: int | None = None) -> list[str]:
    """The factors not clearly zero; with `confirm`, at most that many of them, the largest screened effects
    first (a factor that cannot be switched alone has no effect estimate and is kept)."""
    active = [f for f in bis.factors if not clearly_zero(oat[f], bound)]
    if confirm is not None and len(active) > confirm:
        size = {f: abs(oat[f]["effect"]["mean"]) if oat[f].get("effect") else math.inf for f in active}
        active = sorted(active, key=lambda f: -size[f])[:confirm]
    if FRAMEWORK_KERNELS in active and FRAMEWORK_API not in active:
        active.append(FRAMEWORK_API)  # the kernels part only follows the API part
    return [f for f in bis.factors if f in active]


def run_budgeted(bis: Bisection, budget: int | None, permutations: int = 8, low: Bisection | None = None,
                 confirm: int | None = None) -> dict:
    """The sequential design within `budget` runs (None: the full design's count); the result has
    run_bisect's fields (Shapley over the active factors) and a `budget` record: runs spent against the full
    design, the screen, why it stopped. With `low` (the same bisection at a lower fidelity: fewer images or
    epochs), the screen runs there and only the Shapley stage runs at full size; `confirm` caps the factors
    carried to full size (parity.train.fidelity)."""
    if len(bis.seeds) < START_SEEDS:
        raise ParityError(f"--budget screens on {START_SEEDS} seeds and adds more up to --seeds: give --seeds "
                          f"{START_SEEDS} or more, got {len(bis.seeds)}")
    full_runs = full_design_runs(bis, permutations)
    budget = full_runs if budget is None else budget
    ledger = Ledger(bis.evaluate)
    screen_ledger = Ledger(low.evaluate) if low is not None else ledger
    k = START_SEEDS
    screen = _at(low or bis, bis.seeds[:k], screen_ledger)
    need = screen_ledger.new(_requests(screen, screen_sets(screen)))
    if low is None and need > budget:
        raise ParityError(f"--budget {budget} is below the screen's {need} runs (every factor one at a time from "
                          f"both ends: {len(screen_sets(screen))} configurations x {k} seeds)")
    oat, bound = screen_effects(screen)
    active = active_factors(bis, oat, bound, confirm)
    stopped, per_seed, sampling, method, decided = None, {}, {}, "no factor is active", {}
    sampled = orderings = None
    while True:
        at = _at(bis, bis.seeds[:k], ledger)
        # the sub-game's B end: A with the active factors switched (named after B: only the knobs key a run)
        end = replace(at.config(at.closure(active)), name=bis.b.name) if active else None
        sub = _at(bis, bis.seeds[:k], ledger, active, end) if active else None
        if sub is not None and sampled is None:  # exact Shapley if the budget pays for it, else sampled orderings
            exact_cost = ledger.new(_requests(sub, [frozenset(c) for size in range(len(active) + 1)
                                                    for c in itertools.combinations(active, size)]))
            left = budget - len(ledger.done)
            sampled = len(active) > EXACT_MAX or exact_cost > left
            orderings = permutations if not sampled else min(permutations, left // max(1, (len(active) - 1) * k))
            if sampled and orderings < 2:
                stopped = (f"Shapley over the {len(active)} active factors needs more runs than the budget leaves "
                           f"({left}): the screen is the answer")
                per_seed = {}
                break
        if sub is not None:
            per_seed, sampling, method = shapley_per_seed(sub, orderings, sampled=sampled)
        gap = at.gap()
        decided = _decisions(per_seed, gap) if per_seed else {}
        if not per_seed or all(v for key, v in decided.items() if key != "leader"):
            stopped = "every decision is made" if per_seed else "every factor was screened out as clearly zero"
            break
        if k >= len(bis.seeds):
            stopped = f"the --seeds pool ({len(bis.seeds)} seeds) is used up with a decision still open"
            break
        seed = bis.seeds[k]  # the next seed, for the sub-game's configurations and both ends of the gap
        more = ledger.new([(sub.config(x), seed) for x in sub.runs]
                          + [(at.config(x), seed) for x in (frozenset(), at.everything)])
        if len(ledger.done) + more > budget:
            stopped = f"another seed would take {more} runs past the budget ({budget})"
            break
        k += 1
    decided = decided if per_seed else {}
    at = _at(bis, bis.seeds[:k], ledger)
    gap = at.gap()
    result = _result(bis, at, oat, active, per_seed, sampling, method, gap, permutations)
    residual = at.value(at.everything) - at.value(at.closure(active)) if active else gap
    result["budget"] = {
        "budget": budget, "runs": len(ledger.done), "full_design_runs": full_runs,
        "seeds_used": bis.seeds[:k], "screen_seeds": bis.seeds[:START_SEEDS], "stopped": stopped,
        "screen_bound": bound, "active": active, "confirm": confirm,
        "screened_out": {f: oat[f] for f in bis.factors if f not in active},
        "screened_joint": summary_ci(residual), "decisions": decided,
        **time_spent(ledger, screen_ledger, full_runs)}
    if low is not None:
        result["budget"]["screen_runs"] = len(screen_ledger.done)
        result["budget"]["screen_gap"] = summary_ci(screen.gap())
        result["budget"]["screen_effects"] = {f: oat[f].get("effect") for f in bis.factors}
    result["answer"] = answer(result) + " " + budget_sentence(result)
    return result


def _result(bis, at, oat, active, per_seed, sampling, method, gap, permutations) -> dict:
    factors = {}
    for f in [f for f in active if f in per_seed]:
        ci = summary_ci(per_seed[f])
        if sampling.get(f) and ci["n"] > 1:
            half = math.sqrt((ci["high"] - ci["mean"]) ** 2 + (1.96 ** 2) * sampling[f])
            ci.update(low=ci["mean"] - half, high=ci["mean"] + half)
        factors[f] = {"value": ci, "share": summary_ci(per_seed[f] / np.where(gap == 0, np.nan, gap))}
    runs = list(at.evaluate.done.values())
    result = {"from": bis.a.name, "to": bis.b.name, "factors": list(bis.factors), "seeds": list(at.seeds),
              "diff": factor_values(bis), "middle": bis.middle,
              "accuracy_from": accuracy_ci(at.value(frozenset())), "accuracy_to": accuracy_ci(at.value(at.everything)),
              "gap": summary_ci(gap), "oat": {f: {k: v for k, v in oat[f].items() if k in ("from_a", "from_b")}
                                               for f in bis.factors},
              "shapley": {"method": f"{method}; over the active factors only, the screened ones held at "
                                    f"{bis.a.name}'s values", "factors": factors} if factors else None,
              "configurations": len({key[0] for key in at.evaluate.done}), "runs": len(runs),
              "diverged_runs": sum(1 for r in runs if r["diverged"]),
              "unsupported_runs": sorted({r["unsupported"] for r in runs if r.get("unsupported")})}
    return Attribution.from_json({**result, "answer": ""}, "bisect result").to_json()


def budget_sentence(result: dict) -> str:
    b = result["budget"]
    screened = ", ".join(b["screened_out"]) or "none"
    why = f"clearly zero (within +-{100 * b['screen_bound']:.1f} pts)" + \
        (f" or beyond the {b['confirm']} largest" if b.get("confirm") else "")
    low = f" after {b['screen_runs']} screening runs at the lower fidelity" if "screen_runs" in b else ""
    return (f"Budgeted: {b['runs']} runs of the full design's {b['full_design_runs']} "
            f"({100 * b['runs'] / b['full_design_runs']:.0f}%), {len(b['seeds_used'])} seeds{low}{time_clause(b)}; "
            f"screened out as {why}: {screened}; stopped because {b['stopped']}.")
