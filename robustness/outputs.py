"""What a robustness run writes: robustness.json and robustness.csv (one row per condition), a table of AUC by
perturbation and level as a heat map, and AUC against level per perturbation as a line plot."""

from __future__ import annotations

import csv
import io
import math
from pathlib import Path

from core.atomic import atomic_path, write_json_atomic, write_text_atomic
from robustness.evaluation import CLEAN

COLUMNS = (
    "perturbation",
    "level",
    "parameter",
    "videos",
    "scored",
    "auc",
    "log_loss",
    "balanced_log_loss",
    "fake_log_loss",
    "real_log_loss",
    "auc_with_fallbacks",
    "mean_abs_score_change",
    "max_abs_score_change",
    "videos_without_face",
    "videos_that_lost_their_face",
    "frames_without_face",
    "frames_read",
)


def write_outputs(out: Path, rows: list[dict], settings: dict) -> dict[str, Path]:
    paths = {
        "json": out / "robustness.json",
        "csv": out / "robustness.csv",
        "heatmap": out / "robustness_auc_table.png",
        "lines": out / "robustness_auc_by_level.png",
    }
    write_json_atomic(paths["json"], {"settings": settings, "conditions": rows})
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    write_text_atomic(paths["csv"], buffer.getvalue())
    plot_table(rows, paths["heatmap"])
    plot_lines(rows, paths["lines"])
    return paths


def _auc_grid(rows: list[dict]) -> tuple[list[str], list[int], dict[tuple[str, int], float], float]:
    perturbations = list(dict.fromkeys(row["perturbation"] for row in rows if row["perturbation"] != CLEAN))
    levels = sorted({row["level"] for row in rows if row["perturbation"] != CLEAN})
    grid = {(row["perturbation"], row["level"]): row["auc"] for row in rows}
    clean = next((row["auc"] for row in rows if row["perturbation"] == CLEAN), float("nan"))
    return perturbations, levels, grid, clean


def plot_table(rows: list[dict], path: Path) -> None:
    import matplotlib.pyplot as plt

    perturbations, levels, grid, clean = _auc_grid(rows)
    values = [[grid.get((name, level), float("nan")) for level in levels] for name in perturbations]
    figure, axes = plt.subplots(figsize=(1.2 * len(levels) + 3.5, 0.55 * len(perturbations) + 1.8))
    image = axes.imshow(values, cmap="RdYlGn", vmin=0.5, vmax=1.0, aspect="auto")
    axes.set_xticks(range(len(levels)), [str(level) for level in levels])
    axes.set_yticks(range(len(perturbations)), [name.replace("_", " ") for name in perturbations])
    axes.set_xlabel("level (1 mild .. 5 severe)")
    for row_index, row_values in enumerate(values):
        for column, value in enumerate(row_values):
            axes.text(
                column,
                row_index,
                "–" if math.isnan(value) else f"{value:.3f}",
                ha="center",
                va="center",
                fontsize=9,
            )
    axes.set_title(f"video AUC under each perturbation (clean: {clean:.3f})")
    figure.colorbar(image, ax=axes, label="AUC")
    _save(figure, path)


def plot_lines(rows: list[dict], path: Path) -> None:
    import matplotlib.pyplot as plt

    perturbations, levels, grid, clean = _auc_grid(rows)
    figure, axes = plt.subplots(figsize=(7, 4.5))
    for name in perturbations:
        axes.plot(
            [0, *levels],
            [clean] + [grid.get((name, level), float("nan")) for level in levels],
            marker="o",
            label=name.replace("_", " "),
        )
    axes.set_xticks([0, *levels], ["clean", *map(str, levels)])
    axes.set_xlabel("level")
    axes.set_ylabel("video AUC")
    axes.grid(alpha=0.3)
    axes.legend(fontsize=8)
    _save(figure, path)


def _save(figure, path: Path) -> None:
    import matplotlib.pyplot as plt

    with atomic_path(path) as tmp:
        figure.savefig(tmp, dpi=100, bbox_inches="tight")
    plt.close(figure)
