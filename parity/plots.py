"""Pictures for the report (matplotlib, Agg backend, imported only when a report is written)."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def _pyplot():
    """matplotlib's pyplot on the file-only Agg backend (imported when a report is written, not before)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def resize_matrix_heatmaps(rows: list[dict], path: Path) -> bool:
    """One heatmap per size pair of the cross-method mean |difference| (0-255 levels); False if none ran."""
    plt = _pyplot()
    matrices = [r for r in rows if r["case"].startswith("matrix ") and r["detail"].get("methods")]
    if not matrices:
        return False
    fig, axes = plt.subplots(1, len(matrices), figsize=(6.2 * len(matrices), 5.6), squeeze=False)
    for ax, row in zip(axes[0], matrices):
        names, values = row["detail"]["methods"], np.array(row["detail"]["mean_abs"])
        im = ax.imshow(values, cmap="magma_r")
        ax.set_xticks(range(len(names)), names, rotation=70, fontsize=7)
        ax.set_yticks(range(len(names)), names, fontsize=7)
        ax.set_title(f"resize {row['detail']['size_pair']}: mean |a-b| (levels)", fontsize=9)
        for i in range(len(names)):
            for j in range(len(names)):
                ax.text(j, i, f"{values[i, j]:.1f}" if values[i, j] >= 0.05 else "0", ha="center", va="center",
                        fontsize=5, color="white" if values[i, j] > values.max() / 2 else "black")
        fig.colorbar(im, ax=ax, fraction=0.046)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def layer_error_plots(rows: list[dict], path: Path) -> bool:
    """Per body, max |torch - keras| / max |ref| of every layer against depth, with the float32 noise floor."""
    plt = _pyplot()
    layered = [r for r in rows if r["detail"].get("layers")]
    bodies = sorted({r["case"].split(" ")[0] for r in layered})
    if not bodies:
        return False
    fig, axes = plt.subplots(1, len(bodies), figsize=(5 * len(bodies), 3.8), squeeze=False)
    for ax, body in zip(axes[0], bodies):
        for k, row in enumerate(r for r in layered if r["case"].split(" ")[0] == body):
            layers = row["detail"]["layers"]
            depth = range(len(layers))
            err = [max(layer["max_rel"], 1e-9) for layer in layers]
            line, = ax.semilogy(depth, err, label=row["case"].split(" ", 1)[1], lw=1)
            ax.semilogy(depth, [max(layer.get("noise_rel", 0), 1e-9) for layer in layers], ls=":", lw=0.8,
                        color=line.get_color())
        for tol in sorted({r["tol"] for r in layered if r["case"].split(" ")[0] == body}):
            ax.axhline(tol, color="grey", ls="--", lw=0.8)
        ax.set_title(f"{body}: per-layer error (solid), float32 noise (dotted), tolerances (dashed)", fontsize=8)
        ax.set_xlabel("layer (execution order)", fontsize=8)
        ax.set_ylabel("max |a-b| / max |ref| (1e-9 = bitwise)", fontsize=8)
        ax.legend(fontsize=6)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def divergence_curves(rows: list[dict], path: Path) -> bool:
    """Every divergence that carries a per-step curve, one log-scale panel per kind of curve."""
    plt = _pyplot()
    curves = [r for r in rows if r["detail"].get("curve")]
    labels = sorted({r["detail"]["curve_label"] for r in curves})
    if not curves:
        return False
    fig, axes = plt.subplots(1, len(labels), figsize=(8 * len(labels), 4.5), squeeze=False)
    for ax, label in zip(axes[0], labels):
        for row in (r for r in curves if r["detail"]["curve_label"] == label):
            values = [max(v, 1e-12) for v in row["detail"]["curve"]]
            ax.semilogy(range(1, len(values) + 1), values, label=row["case"], lw=1.2)
        ax.set_xlabel("step")
        ax.set_ylabel(label)
        ax.legend(fontsize=7)
    fig.suptitle("How far each default moves things, step by step (same inputs)", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def waterfall(result: dict, path: Path) -> bool:
    """Shapley waterfall: accuracy of recipe A, each factor's value with its CI, accuracy of recipe B."""
    if "shapley" not in result:
        return False
    plt = _pyplot()
    items = sorted(result["shapley"]["factors"].items(), key=lambda kv: -abs(kv[1]["value"]["mean"]))
    level = 100 * result["accuracy_from"]["mean"]
    fig, ax = plt.subplots(figsize=(max(6.0, 1.0 + 0.8 * len(items)), 4.2))
    ax.bar(0, level, color="#4c72b0")
    for i, (name, f) in enumerate(items, 1):
        step, low, high = (100 * f["value"][k] for k in ("mean", "low", "high"))
        ax.bar(i, step, bottom=level, color="#55a868" if step >= 0 else "#c44e52")
        if np.isfinite(low) and np.isfinite(high):
            ax.errorbar(i, level + step, yerr=[[step - low], [high - step]], color="black", capsize=3)
        level += step
    ax.bar(len(items) + 1, 100 * result["accuracy_to"]["mean"], color="#8172b2")
    ax.set_xticks(range(len(items) + 2), [result["from"], *[n for n, _ in items], result["to"]], rotation=35,
                  ha="right", fontsize=8)
    ax.set_ylabel("test accuracy (%)")
    ax.set_title("Shapley attribution of the accuracy gap (95% CI over seeds)", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True
