"""Pictures for the report (matplotlib, Agg backend, imported only when a report is written)."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def resize_matrix_heatmaps(rows: list[dict], path: Path) -> bool:
    """One heatmap per size pair of the cross-method mean |difference| (0-255 levels); False if none ran."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

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
