"""parity's own overhead: one run of `torch_plain` (Lite0 body) through `parity train` against a plain program
training the same model (benchmarks.plain), whole processes, torch and Keras on TensorFlow, body frozen and
train_bn. The ratio parity / plain is the overhead (below 1: parity is faster, e.g. its feature cache).
"""

from __future__ import annotations

import sys
from pathlib import Path

PAIRS = [("torch", "frozen"), ("torch", "train_bn"), ("keras_tf", "frozen"), ("keras_tf", "train_bn")]
PLAIN = {"torch": "benchmarks.plain.torch_program", "keras_tf": "benchmarks.plain.keras_program"}
TARGET = 1.10  # issue 32: parity's run time over the plain program's


def commands(framework: str, policy: str, data_dir: Path, train_per_class: int, test_per_class: int) -> dict:
    per_class = ["--train-per-class", str(train_per_class), "--test-per-class", str(test_per_class)]
    return {"plain": [sys.executable, "-m", PLAIN[framework], str(data_dir), "--bn-policy", policy, *per_class],
            "parity": [sys.executable, "-m", "parity", "train", "--recipe", "torch_plain", "--framework", framework,
                       "--body", "efficientnet_lite0", "--set", f"bn_policy={policy}", "--data-dir", str(data_dir),
                       *per_class, "--seeds", "1", "--no-store", "--quiet"]}


def overhead(timed, runs: int, data_dir: Path, train_per_class: int, test_per_class: int) -> list[dict]:
    """One row per pair: both commands' medians (the plain program's runs, then parity's) and parity / plain."""
    rows = []
    for framework, policy in PAIRS:
        argv = commands(framework, policy, data_dir, train_per_class, test_per_class)
        plain = timed(argv["plain"], runs, report=False)
        ours = timed(argv["parity"], runs, report=True)
        rows.append({"framework": framework, "bn_policy": policy, "plain": plain["median"],
                     "plain_range": [plain["min"], plain["max"]], "parity": ours["median"],
                     "parity_range": [ours["min"], ours["max"]], "ratio": round(ours["median"] / plain["median"], 2),
                     "within_target": ours["median"] / plain["median"] <= TARGET, "runs": runs,
                     "commands": {k: " ".join(v) for k, v in argv.items()}})
        print(f"overhead {framework} {policy}: plain {plain['median']} s, parity {ours['median']} s, "
              f"{rows[-1]['ratio']}x", flush=True)
    return rows


def markdown(rows: list[dict]) -> list[str]:
    lines = ["", f"parity's overhead: one `torch_plain` run against a plain program (target <= {TARGET}x):", "",
             "| framework | bn_policy | plain s (min-max) | parity s (min-max) | parity / plain |",
             "|---|---|---|---|---|"]
    lines += [f"| {r['framework']} | {r['bn_policy']} | {r['plain']} ({r['plain_range'][0]}-{r['plain_range'][1]})"
              f" | {r['parity']} ({r['parity_range'][0]}-{r['parity_range'][1]}) | {r['ratio']}x"
              f"{'' if r['within_target'] else ' (over target)'} |" for r in rows]
    return lines
