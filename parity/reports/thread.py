"""The forum thread's question, answered: fastai 1 `cnn_learner` + `fit(3)` against the thread's Keras
code. Runs the thread's 2x2 (size=64 or not, default LR or lr=0.003) and both Keras variants, attributes the
gap fastai_v1_fit -> keras_thread_64 (bisect), and tests torch vs Keras on fastai's own recipe."""

from __future__ import annotations

from pathlib import Path

from parity.reports import attribution
from parity.train import recipes
from parity.train.bisect import Bisection, run_bisect
from parity.train.equivalence import equivalence, sentence, summarize
from parity.reports.render import pct

TWO_BY_TWO = ("fastai_v1_fit", "fastai_v1_fit_lr003", "fastai_v1_nosize", "fastai_v1_nosize_lr003")
KERAS = ("keras_thread", "keras_thread_64")
GAP = ("fastai_v1_fit", "keras_thread_64")  # 224 px runs with train_bn would dominate the hour
WHY_64 = ("The thread's Keras code resized to 224 px (`keras_thread`, in the runs table). A bisect mixes fastai's "
          "train_bn with 224 px inputs: every such run trains the whole body on 12x the pixels of a 64 px run, so the "
          "attribution runs against `keras_thread_64`, and the 224-vs-64 effect for Keras is the difference of the two "
          "Keras rows (both frozen, served from the feature cache).")


def run_thread(runner, bis: Bisection, eq_seeds: list[int], permutations: int, top: int, out: Path | None,
               attribute=None) -> int:
    """The 2x2 and the Keras runs, the bisect (the full design, or `attribute()`: a screened one), equivalence."""
    names = TWO_BY_TWO + KERAS
    results = runner.map([(recipes.get_recipe(n), s) for n in names for s in bis.seeds])
    table = []
    for k, name in enumerate(names):
        runs = results[k * len(bis.seeds):(k + 1) * len(bis.seeds)]
        table.append(summarize(name, recipes.get_recipe(name).framework, runs))
        print(f"{name}: {pct(table[-1]['accuracy'])}", flush=True)
    result = attribute() if attribute else run_bisect(bis, ("oat", "shapley", "ddmin", "interactions"), permutations,
                                                      top)
    print(result["answer"], flush=True)
    eq = equivalence(runner, recipes.get_recipe("keras_matched"), eq_seeds)
    print(sentence(eq), flush=True)
    written = attribution.write(out, "thread", "parity thread: fastai_v1_fit against the thread's Keras code", {
        "summaries": table, "runs_heading": "The thread's runs (same data, body and seeds for every row)",
        "bisect": result, "equivalence": {**eq, "sentence": sentence(eq)}, "notes": [WHY_64],
        "verdict": {"ok": None, "text": result["answer"]}, "data": runner.spec.key(), "body": runner.body,
        "seeds": bis.seeds, "versions": runner.versions})
    print(f"{runner.trained} runs trained, {runner.store.hits} read from the store. Report: {written}/report.html")
    return 0
