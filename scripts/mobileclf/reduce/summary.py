"""Summarise the reduction grid and choose the smallest model that keeps the accuracy.

Seed 000, section 2.3 and Fig. 9: accuracy and parameter count per (filters, neurons)
cell, a heatmap, and a far smaller model for the phone. The paper picks the cell by eye;
here the rule is explicit (:func:`choose_cell`) so that reruns and other datasets get the
same judgement.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from mobileclf.errors import UserError
from mobileclf.reduce.grid import Cell

TABLE_COLUMNS = [
    "filters",
    "neurons",
    "mean_accuracy",
    "std_accuracy",
    "n_folds",
    "n_params",
    "tflite_bytes",
    "pareto",
    "chosen",
]


class ReductionError(UserError):
    """The grid's results cannot be summarised (missing cells or folds)."""


def read_blocks(paths: list[str | Path]) -> pd.DataFrame:
    """All block rows; a cell found in two blocks keeps the first path's rows."""
    frames = []
    seen: set[Cell] = set()
    for path in paths:
        rows = pd.read_csv(path)
        cells = set(zip(rows.filters.astype(int), rows.neurons.astype(int), strict=True))
        keep = [(f, n) not in seen for f, n in zip(rows.filters, rows.neurons, strict=True)]
        frames.append(rows[keep])
        seen |= cells
    if not frames:
        return pd.DataFrame(
            columns=["filters", "neurons", "fold", "accuracy", "n_params", "tflite_bytes"]
        )
    return pd.concat(frames, ignore_index=True)


def summarise(rows: pd.DataFrame, cells: list[Cell], expected_folds: int) -> pd.DataFrame:
    """One row per grid cell: mean/std accuracy over folds (population std, as the CV
    tables), n_folds, parameters and float32 TFLite bytes. Rows of cells outside the
    grid (left in reused blocks) are dropped; a grid cell without rows is an error."""
    rows = rows.assign(filters=rows.filters.astype(int), neurons=rows.neurons.astype(int))
    records = []
    for filters, neurons in cells:
        group = rows[(rows.filters == filters) & (rows.neurons == neurons)]
        if group.empty:
            raise ReductionError(
                f"no results for filters={filters}, neurons={neurons}; rerun the workflow"
            )
        accuracy = group.accuracy.astype(float)
        records.append(
            dict(
                filters=filters,
                neurons=neurons,
                mean_accuracy=float(accuracy.mean()),
                std_accuracy=float(accuracy.std(ddof=0)),
                n_folds=int(accuracy.notna().sum()),
                n_params=int(group.n_params.iloc[0]),
                tflite_bytes=int(group.tflite_bytes.iloc[0]),
            )
        )
    table = pd.DataFrame(records)
    incomplete = table[table.n_folds != expected_folds]
    if len(incomplete):
        raise ReductionError(
            f"{len(incomplete)} cells lack folds (expected {expected_folds}), e.g. "
            f"filters={incomplete.filters.iloc[0]}, neurons={incomplete.neurons.iloc[0]}; "
            "rerun the workflow"
        )
    table["pareto"] = pareto_mask(table)
    table["chosen"] = False
    return table


def pareto_mask(table: pd.DataFrame) -> np.ndarray:
    """Cells no other cell beats: none has fewer-or-equal parameters with higher-or-equal
    accuracy and is strictly better in one of the two."""
    params = table.n_params.to_numpy()
    accuracy = table.mean_accuracy.to_numpy()
    mask = np.ones(len(table), dtype=bool)
    for i in range(len(table)):
        dominated = (
            (params <= params[i])
            & (accuracy >= accuracy[i])
            & ((params < params[i]) | (accuracy > accuracy[i]))
        )
        mask[i] = not dominated.any()
    return mask


def choose_cell(table: pd.DataFrame, tolerance: float) -> pd.Series:
    """The fewest parameters whose mean accuracy is within ``tolerance`` accuracy points
    (percent) of the best cell's; ties: higher accuracy, then fewer filters, fewer neurons.

    With tolerance 1.0 and a best cell of 96.0%, any cell at >= 95.0% qualifies.
    """
    if table.empty:
        raise ReductionError("the reduction grid is empty")
    best = float(table.mean_accuracy.max())
    # accuracies are fractions; a tiny epsilon keeps 95.0 vs 96.0 - 1.0 from floating-point doubt
    eligible = table[table.mean_accuracy >= best - tolerance / 100.0 - 1e-9]
    ranked = eligible.sort_values(
        ["n_params", "mean_accuracy", "filters", "neurons"],
        ascending=[True, False, True, True],
        kind="stable",
    )
    return ranked.iloc[0]


def plot_heatmap(table: pd.DataFrame, chosen: pd.Series, path: str | Path, title: str) -> None:
    """Seed 000, Fig. 9: mean CV accuracy per filters × neurons; the chosen cell is boxed."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Rectangle

    wide = table.pivot(index="filters", columns="neurons", values="mean_accuracy") * 100
    rows, columns = wide.shape
    figure, axis = plt.subplots(
        figsize=(max(5.0, 0.45 * columns + 2.5), max(4.0, 0.4 * rows + 1.8))
    )
    values = wide.to_numpy(dtype=float)
    image = axis.imshow(values, cmap="viridis", aspect="auto", origin="lower")
    axis.set_xticks(range(columns), wide.columns)
    axis.set_yticks(range(rows), wide.index)
    axis.set_xlabel("neurons in the first dense layer")
    axis.set_ylabel("filters in the first convolution")
    if rows * columns <= 400:
        middle = np.nanmean(values)
        for (i, j), value in np.ndenumerate(values):
            axis.text(
                j,
                i,
                f"{value:.{1 if rows * columns <= 100 else 0}f}",
                ha="center",
                va="center",
                fontsize=7,
                color="black" if value >= middle else "white",
            )
    i = list(wide.index).index(int(chosen.filters))
    j = list(wide.columns).index(int(chosen.neurons))
    axis.add_patch(Rectangle((j - 0.5, i - 0.5), 1, 1, fill=False, edgecolor="red", linewidth=2))
    figure.colorbar(image, ax=axis, label="mean CV accuracy (%)")
    axis.set_title(title)
    figure.tight_layout()
    figure.savefig(path, dpi=120, format="png")
    plt.close(figure)


def plot_tradeoff(
    table: pd.DataFrame,
    chosen: pd.Series,
    tolerance: float,
    selected: dict,
    path: str | Path,
    title: str,
) -> None:
    """Accuracy against parameters (log x): every cell, the Pareto front, the tolerance
    band under the best cell, the chosen cell and the selected (unreduced) model."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(7, 4.5))
    axis.scatter(table.n_params, 100 * table.mean_accuracy, s=14, color="0.6", label="cell")
    front = table[table.pareto].sort_values("n_params")
    axis.plot(
        front.n_params,
        100 * front.mean_accuracy,
        "-o",
        color="tab:blue",
        markersize=4,
        label="Pareto front",
    )
    best = 100 * float(table.mean_accuracy.max())
    axis.axhline(
        best - tolerance,
        color="tab:green",
        linestyle="--",
        linewidth=1,
        label=f"best - {tolerance:g} points",
    )
    axis.scatter(
        [chosen.n_params], [100 * chosen.mean_accuracy], s=80, color="red", zorder=3, label="chosen"
    )
    axis.annotate(
        f"f={int(chosen.filters)}, n={int(chosen.neurons)}\n{100 * chosen.mean_accuracy:.1f}%, "
        f"{int(chosen.n_params):,} params, {chosen.tflite_bytes / 1024:.0f} KB",
        (chosen.n_params, 100 * chosen.mean_accuracy),
        textcoords="offset points",
        xytext=(10, -28),
        fontsize=8,
        color="red",
    )
    if selected.get("n_params"):
        axis.scatter(
            [selected["n_params"]],
            [100 * selected["mean_accuracy"]],
            marker="*",
            s=120,
            color="black",
            zorder=3,
            label="selected model (CV grid)",
        )
    axis.set_xscale("log")
    axis.set_xlabel("parameters (log scale)")
    axis.set_ylabel("mean CV accuracy (%)")
    axis.set_title(title)
    axis.legend(fontsize=8, loc="lower right")
    figure.tight_layout()
    figure.savefig(path, dpi=120, format="png")
    plt.close(figure)


def plot_skipped(path: str | Path, reason: str) -> None:
    """A placeholder figure that says why there is no grid (the stage was skipped)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(6, 2))
    axis.axis("off")
    axis.text(
        0.5,
        0.5,
        "parameter reduction skipped:\n" + reason,
        ha="center",
        va="center",
        wrap=True,
        fontsize=9,
    )
    figure.savefig(path, dpi=100, format="png")
    plt.close(figure)
