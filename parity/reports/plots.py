"""Pictures for the reports (matplotlib on the Agg backend, imported only when a report is written).

Cases name the figure they feed (`Case.figure = 'family/key'`); each family draws one PNG per key, sized to
be read at 100% zoom inside a 1400 px wide page (at most 1150 px wide, fonts of 9 pt and more).
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np

DPI = 100
FLOOR = 1e-10  # errors of exactly 0 (bitwise equal) are drawn here on log axes


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams.update({"font.size": 10, "axes.titlesize": 11, "axes.labelsize": 10, "legend.fontsize": 9})
    return plt


def _save(fig, path: Path) -> None:
    fig.tight_layout()
    fig.savefig(path, dpi=DPI)
    fig.clf()
    _pyplot().close(fig)


def layer_errors(key: str, rows: list[dict], path: Path) -> str:
    """One body: each case's per-layer error against depth, its float32 noise, the tolerances, and the first
    layer over tolerance marked."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(11.5, 4.8))
    for row in rows:
        layers = row["detail"]["layers"]
        depth = np.arange(len(layers))
        err = [max(layer["max_rel"], FLOOR) for layer in layers]
        line, = ax.semilogy(depth, err, lw=1.4, label=row["case"])
        ax.semilogy(depth, [max(layer["noise_rel"] or 0.0, FLOOR) for layer in layers], ls=":", lw=1.0,
                    color=line.get_color())
        first = row["detail"].get("first_over_tol")
        if first is not None:
            i = next(k for k, layer in enumerate(layers) if layer["layer"] == first)
            ax.plot(i, err[i], "x", color="#c0392b", ms=10, mew=2.5)
            ax.annotate(f"first over tolerance: {first}", (i, err[i]), xytext=(8, 8), textcoords="offset points",
                        color="#c0392b")
    for tol, name in sorted({(r["tol"], r["tol_name"]) for r in rows}):
        ax.axhline(tol, color="#555", ls="--", lw=1.0)
        ax.text(0, tol * 1.25, f"tolerance {name} = {tol:g}", color="#555", fontsize=9)
    ax.set_title(f"{key}: torch vs Keras, layer by layer (solid: error, dotted: float32 noise vs float64)")
    ax.set_xlabel("layer index in execution order (every conv and BN output)")
    ax.set_ylabel("max |torch - keras| / max |ref|  (relative, log)")
    ax.set_ylim(bottom=FLOOR / 2)
    ax.legend(loc="lower right", ncol=2)
    ax.grid(True, which="major", alpha=0.3)
    _save(fig, path)
    return f"{key}: relative error of every layer output; {FLOOR:g} means bitwise equal"


def resize_matrix(key: str, rows: list[dict], path: Path) -> str:
    """The cross-method matrix of one size pair: mean |a - b| in 0-255 levels."""
    plt = _pyplot()
    row = rows[0]
    names, values = row["detail"]["methods"], np.array(row["detail"]["mean_abs"])
    fig, ax = plt.subplots(figsize=(8.6, 7.4))
    im = ax.imshow(values, cmap="magma_r")
    ax.set_xticks(range(len(names)), names, rotation=60, ha="right")
    ax.set_yticks(range(len(names)), names)
    for i in range(len(names)):
        for j in range(len(names)):
            ax.text(j, i, f"{values[i, j]:.1f}" if values[i, j] >= 0.05 else "0", ha="center", va="center",
                    fontsize=8, color="white" if values[i, j] > values.max() / 2 else "black")
    fig.colorbar(im, ax=ax, fraction=0.046, label="mean |a - b| (0-255 levels)")
    ax.set_title(f"resize {key}: every method against every other")
    _save(fig, path)
    return f"resize {key}: mean absolute difference between methods, in grey levels"


def divergence_curves(key: str, rows: list[dict], path: Path) -> str:
    """Every divergence of one kind that carries a per-step curve."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(11.0, 4.6))
    for row in rows:
        values = [max(v, FLOOR) for v in row["detail"]["curve"]]
        ax.semilogy(range(1, len(values) + 1), values, label=row["case"], lw=1.4)
    label = rows[0]["detail"]["curve_label"]
    ax.set_xlabel("step")
    ax.set_ylabel(f"{label} (log)")
    ax.set_title(f"{key}: how far each default moves things, step by step, from the same inputs")
    ax.legend(fontsize=8)
    ax.grid(True, alpha=0.3)
    _save(fig, path)
    return f"{key}: {label}"


FIGURES = {"layer_errors": layer_errors, "resize_matrix": resize_matrix, "divergence_curves": divergence_curves}


def figure_file(figure: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", figure) + ".png"


def _draw(figure: str, members: list[dict], path: Path) -> str:
    family, key = figure.split("/", 1)
    return FIGURES[family](key, members, path)


def draw_case_figures(rows: list[dict], folder: Path) -> list[dict]:
    """One PNG per figure key that has rows with data: [{file, figure, component, caption}]. A full check's
    nine figures took ~10 s of matplotlib one after another, at the end of the run with nothing else left to
    do: they are drawn in a process per core."""
    keys = []
    for row in rows:
        if row.get("figure") and row["status"] not in ("skipped", "ERROR") and row["figure"] not in keys:
            keys.append(row["figure"])
    members = {figure: [r for r in rows if r.get("figure") == figure and r["status"] not in ("skipped", "ERROR")]
               for figure in keys}
    jobs = [(figure, members[figure], folder / figure_file(figure)) for figure in keys]
    captions = _in_processes(jobs) if len(jobs) > 2 else [_draw(*job) for job in jobs]
    return [{"file": figure_file(figure), "figure": figure, "component": members[figure][0]["component"],
             "caption": caption} for figure, caption in zip(keys, captions)]


def _in_processes(jobs: list[tuple]) -> list[str]:
    """_draw(*job) for every job, split over a fresh interpreter per core (started as the backend workers are,
    with `python -c`: nothing of this process, threads included, is inherited), captions in job order."""
    import os
    import pickle
    import subprocess
    import sys

    n = min(len(jobs), os.cpu_count() or 1)
    shares = [list(range(i, len(jobs), n)) for i in range(n)]
    script = ("import pickle, sys; from parity.reports.plots import _draw; "
              "sys.stdout.buffer.write(pickle.dumps([_draw(*job) for job in pickle.load(sys.stdin.buffer)]))")
    procs = []
    try:
        for _ in shares:  # all started first: a share larger than a pipe's buffer waits for its reader's imports
            procs.append(subprocess.Popen([sys.executable, "-c", script], stdin=subprocess.PIPE,
                                          stdout=subprocess.PIPE))
        for proc, share in zip(procs, shares):
            proc.stdin.write(pickle.dumps([jobs[i] for i in share]))
            proc.stdin.close()
        outs = [proc.stdout.read() for proc in procs]
    except BaseException:  # Ctrl-C, SIGTERM: the drawing ends with this process, before the report folder goes
        for proc in procs:  # (left running, it wrote into the removed folder and printed tracebacks afterwards)
            proc.kill()
            proc.wait()
        raise
    failed = [proc.returncode for proc in procs if proc.wait() != 0]  # every process waited for
    if failed:
        raise RuntimeError(f"drawing the report's figures failed (exit {failed[0]}); see the traceback above")
    captions: list = [None] * len(jobs)
    for share, out in zip(shares, outs):
        for i, caption in zip(share, pickle.loads(out)):
            captions[i] = caption
    return captions


def waterfall(result: dict, path: Path) -> bool:
    """Shapley waterfall: accuracy of recipe A, each factor's value with its CI, accuracy of recipe B."""
    if not result.get("shapley"):
        return False
    plt = _pyplot()
    items = sorted(result["shapley"]["factors"].items(), key=lambda kv: -abs(kv[1]["value"]["mean"]))
    level = 100 * result["accuracy_from"]["mean"]
    fig, ax = plt.subplots(figsize=(min(11.0, max(6.5, 1.6 + 0.85 * len(items))), 4.8))
    ax.bar(0, level, color="#4c72b0")
    for i, (name, f) in enumerate(items, 1):
        step, low, high = (100 * f["value"][k] for k in ("mean", "low", "high"))
        ax.bar(i, step, bottom=level, color="#55a868" if step >= 0 else "#c44e52")
        if math.isfinite(low) and math.isfinite(high):
            ax.errorbar(i, level + step, yerr=[[step - low], [high - step]], color="black", capsize=3)
        level += step
    ax.bar(len(items) + 1, 100 * result["accuracy_to"]["mean"], color="#8172b2")
    levels = np.cumsum([100 * result["accuracy_from"]["mean"]] + [100 * f["value"]["mean"] for _, f in items])
    low = min(levels.min(), 100 * result["accuracy_to"]["mean"])
    high = max(levels.max(), 100 * result["accuracy_to"]["mean"])
    ax.set_ylim(max(0.0, low - 0.25 * (high - low) - 2), min(100.0, high + 0.15 * (high - low) + 2))
    ax.set_xticks(range(len(items) + 2), [result["from"], *[n for n, _ in items], result["to"]], rotation=30,
                  ha="right")
    ax.set_ylabel("test accuracy (%)")
    ax.set_title("Shapley attribution of the accuracy gap (bars: 95% CI over seeds)")
    ax.grid(True, axis="y", alpha=0.3)
    _save(fig, path)
    return True


def _sweep_axis(ax, values: list, labels: list[str], name: str) -> list:
    """x positions of a sweep's values: the values on a log axis when they are positive numbers spanning 8x or
    more, on a linear axis when numbers, else evenly spaced categories."""
    numeric = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)
    if numeric and min(values) > 0 and max(values) / min(values) >= 8:
        ax.set_xscale("log")
    xs = list(values) if numeric else list(range(len(values)))
    ax.set_xticks(xs, labels)
    ax.minorticks_off()
    ax.set_xlabel(name + (" (log scale)" if ax.get_xscale() == "log" else ""))
    return xs


def sweep(result: dict, path: Path) -> None:
    """Left: accuracy per recipe along the swept value; right: each recipe's paired gap to the first (95% CIs)."""
    plt = _pyplot()
    points, names = result["points"], result["recipes"]
    values, labels = [p["value"] for p in points], [p["label"] for p in points]
    fig, (left, right) = plt.subplots(1, 2, figsize=(11.5, 4.6))
    for ax, title in ((left, "test accuracy (%)"), (right, f"paired gap to {names[0]} (points)")):
        xs = _sweep_axis(ax, values, labels, result["over"])
        ax.set_ylabel(title)
        ax.grid(True, alpha=0.3)
    for i, name in enumerate(names):  # one colour per recipe in both panels
        _ci_line(left, xs, [p["accuracy"][name] for p in points], name, f"C{i}")
        if i:
            _ci_line(right, xs, [p["gap"][name] for p in points], f"{name} - {names[0]}", f"C{i}")
    right.axhline(0.0, color="black", lw=0.8)
    left.legend(loc="best")
    right.legend(loc="best")
    fig.suptitle(f"Sweep over {result['over']} ({len(result['seeds'])} seeds; bars: 95% CI)")
    _save(fig, path)


def _ci_line(ax, xs: list, cis: list[dict], label: str, color: str | None = None) -> None:
    mean = np.array([100 * c["mean"] for c in cis])
    low = np.array([100 * c["low"] if math.isfinite(c["low"]) else np.nan for c in cis])
    high = np.array([100 * c["high"] if math.isfinite(c["high"]) else np.nan for c in cis])
    line = ax.plot(xs, mean, marker="o", label=label, color=color)[0]
    ok = np.isfinite(low) & np.isfinite(high)
    if ok.any():
        ax.errorbar(np.asarray(xs)[ok], mean[ok], yerr=[mean[ok] - low[ok], high[ok] - mean[ok]], fmt="none",
                    color=line.get_color(), capsize=3)


def shapley_along(result: dict, path: Path) -> None:
    """Shapley value of each leading factor at each bisect point of a sweep."""
    plt = _pyplot()
    along = result["shapley_along"]
    at = [p["value"] for p in result["points"] if p["label"] in along["at"]]
    fig, ax = plt.subplots(figsize=(8.5, 4.4))
    xs = _sweep_axis(ax, at, along["at"], result["over"])
    for factor, cis in along["factors"].items():
        _ci_line(ax, xs, [c or {"mean": math.nan, "low": math.nan, "high": math.nan} for c in cis], factor)
    ax.axhline(0.0, color="black", lw=0.8)
    ax.set_ylabel("Shapley value (points)")
    ax.set_title(f"Attribution of {result['recipes'][1]} - {result['recipes'][0]} along the sweep")
    ax.grid(True, alpha=0.3)
    ax.legend(loc="best")
    _save(fig, path)
