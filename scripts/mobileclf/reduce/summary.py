"""Summarise the reduction grid and choose the smallest model that keeps the accuracy.

Muneeb et al. (2022), section 2.3 and Fig. 9: accuracy and parameter count per (filters, neurons)
cell, a heatmap, and a far smaller model for the phone. The paper picks the cell by eye;
here the rule is explicit (:func:`choose_cell`) so that reruns and other datasets get the
same judgement.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pandas as pd

from mobileclf import atomic
from mobileclf.errors import UserError
from mobileclf.reduce.grid import Cell, expand_axis, grid_cells, skip_reason

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


log = logging.getLogger("reduction")


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
    """Muneeb et al. (2022), Fig. 9: mean CV accuracy per filters × neurons; the chosen cell
    is boxed."""
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


def reduction_summary(args) -> None:
    """The reduction_summary stage: table, heatmap, trade-off plot and reduction.json.

    ``args`` are scripts/reduction_summary.py's flags. An architecture the grid cannot
    reduce (``grid.skip_reason``) hands the selected model on unchanged.
    """
    selection = json.loads(Path(args.selection).read_text())
    reason = skip_reason(args.arch_spec)
    if reason:
        _write_skipped(args, selection, reason)
        return
    from mobileclf import tf_runtime

    tf_runtime.configure(1, 0)
    from mobileclf.data.datasets import load
    from mobileclf.reduce.size import selected_model_bytes
    from mobileclf.stats import tolerance_statement

    filters, neurons = expand_axis(args.grid["filters"]), expand_axis(args.grid["neurons"])
    tolerance = float(args.grid.get("tolerance", 1.0))
    data = load(args.images, args.splits, args.labels)
    folds = sum(column.startswith("fold") for column in data.splits.columns)
    rows = read_blocks(args.blocks)
    table = summarise(rows, grid_cells(filters, neurons), folds)
    chosen = choose_cell(table, tolerance)
    table.loc[chosen.name, "chosen"] = True
    params_before, bytes_before = selected_model_bytes(
        data.images, data.splits, data.labels, args.arch_spec["layers"], args.generator_spec
    )
    if params_before != selection["n_params"]:
        log.warning(
            "selected model has %d parameters here, %d in selection.json",
            params_before,
            selection["n_params"],
        )
    grid = dict(filters=filters, neurons=neurons, cells=len(table), folds=folds)
    result = _reduction_result(selection, args.arch_spec["layers"], chosen, bytes_before)
    result.update(
        n_params_before=int(params_before),
        selected_mean_accuracy=float(selection["mean_accuracy"]),
        size_reduction=round(bytes_before / int(chosen.tflite_bytes), 2),
        best_cell=_best_cell(table),
        tolerance=tolerance,
        rule=(
            f"fewest parameters among cells whose mean CV accuracy is within {tolerance:g} "
            "accuracy points of the best cell; ties: higher accuracy, fewer filters, fewer neurons"
        ),
        tolerance_in_fold_noise=tolerance_statement(
            rows.pivot_table(index="fold", columns=["filters", "neurons"], values="accuracy"),
            (chosen.filters, chosen.neurons),
            tolerance,
        ),
        grid=grid,
        note=(
            "Chosen on mean CV accuracy over the same folds it is reported on (optimistic); "
            "the holdout estimate of the final model is unbiased."
        ),
    )
    log.info(
        "chosen f=%d n=%d: %.4f, %d params, %d -> %d bytes",
        result["filters"],
        result["neurons"],
        result["mean_accuracy"],
        result["n_params"],
        bytes_before,
        result["bytes_after"],
    )
    title = (
        f"{args.dataset}: {selection['arch']}, {selection['generator']}, size {selection['size']}"
    )
    before = {"n_params": params_before, "mean_accuracy": selection["mean_accuracy"]}
    atomic.write_with(args.table, lambda p: table[TABLE_COLUMNS].to_csv(p, index=False))
    atomic.write_with(args.heatmap, lambda p: plot_heatmap(table, chosen, p, title))
    atomic.write_with(
        args.tradeoff, lambda p: plot_tradeoff(table, chosen, tolerance, before, p, title)
    )
    atomic.write_json(args.out, result)


def _reduction_result(selection: dict, layers: list, chosen: pd.Series, bytes_before: int) -> dict:
    """reduction.json's head: the selected model, the chosen cell and its sizes."""
    from mobileclf.train.architectures import with_reduction

    return dict(
        arch=selection["arch"],
        generator=selection["generator"],
        size=selection["size"],
        skipped=False,
        reason=None,
        filters=int(chosen.filters),
        neurons=int(chosen.neurons),
        layers=with_reduction(layers, int(chosen.filters), int(chosen.neurons)),
        mean_accuracy=float(chosen.mean_accuracy),
        std_accuracy=float(chosen.std_accuracy),
        n_folds=int(chosen.n_folds),
        n_params=int(chosen.n_params),
        bytes_before=int(bytes_before),
        bytes_after=int(chosen.tflite_bytes),
    )


def _best_cell(table: pd.DataFrame) -> dict:
    """The most accurate cell, whatever its size (for comparison with the chosen one)."""
    best = table.loc[table.mean_accuracy.idxmax()]
    return dict(
        filters=int(best.filters),
        neurons=int(best.neurons),
        mean_accuracy=float(best.mean_accuracy),
        n_params=int(best.n_params),
    )


def _write_skipped(args, selection: dict, reason: str) -> None:
    """The stage does not apply: say why, and hand on the selected model unchanged."""
    log.info("parameter reduction skipped: %s", reason)
    atomic.write_with(
        args.table, lambda p: pd.DataFrame(columns=TABLE_COLUMNS).to_csv(p, index=False)
    )
    for path in (args.heatmap, args.tradeoff):
        atomic.write_with(path, lambda p: plot_skipped(p, reason))
    atomic.write_json(
        args.out,
        dict(
            arch=selection["arch"],
            generator=selection["generator"],
            size=selection["size"],
            skipped=True,
            reason=reason,
            filters=None,
            neurons=None,
            layers=args.arch_spec.get("layers", []),
            mean_accuracy=selection["mean_accuracy"],
            std_accuracy=selection["std_accuracy"],
            n_params=selection["n_params"],
            bytes_before=None,
            bytes_after=None,
        ),
    )
