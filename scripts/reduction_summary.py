"""Summarise the reduction grid: table, heatmap, accuracy-vs-parameters plot, reduction.json."""

import logging
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import pandas as pd

from mobileclf import atomic
from mobileclf.cli import json_arg, parser, run
from mobileclf.reduce import summary as reduction
from mobileclf.reduce.grid import expand_axis, grid_cells, skip_reason

log = logging.getLogger("reduction")


def skipped(args, selection: dict, reason: str) -> None:
    """The stage does not apply: say why, and hand on the selected model unchanged."""
    log.info("parameter reduction skipped: %s", reason)
    atomic.write_with(
        args.table, lambda p: pd.DataFrame(columns=reduction.TABLE_COLUMNS).to_csv(p, index=False)
    )
    for path in (args.heatmap, args.tradeoff):
        atomic.write_with(path, lambda p: reduction.plot_skipped(p, reason))
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


def main(args) -> None:
    import json

    selection = json.loads(Path(args.selection).read_text())
    reason = skip_reason(args.arch_spec)
    if reason:
        skipped(args, selection, reason)
        return
    from mobileclf import tf_runtime

    tf_runtime.configure(1, 0)
    from mobileclf.data.datasets import load
    from mobileclf.reduce.block import selected_model_bytes
    from mobileclf.train.architectures import with_reduction

    filters, neurons = expand_axis(args.grid["filters"]), expand_axis(args.grid["neurons"])
    tolerance = float(args.grid.get("tolerance", 1.0))
    data = load(args.images, args.splits, args.labels)
    folds = sum(column.startswith("fold") for column in data.splits.columns)
    table = reduction.summarise(
        reduction.read_blocks(args.blocks), grid_cells(filters, neurons), folds
    )
    chosen = reduction.choose_cell(table, tolerance)
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
    best = table.loc[table.mean_accuracy.idxmax()]
    result = dict(
        arch=selection["arch"],
        generator=selection["generator"],
        size=selection["size"],
        skipped=False,
        reason=None,
        filters=int(chosen.filters),
        neurons=int(chosen.neurons),
        layers=with_reduction(args.arch_spec["layers"], int(chosen.filters), int(chosen.neurons)),
        mean_accuracy=float(chosen.mean_accuracy),
        std_accuracy=float(chosen.std_accuracy),
        n_folds=int(chosen.n_folds),
        n_params=int(chosen.n_params),
        bytes_before=int(bytes_before),
        bytes_after=int(chosen.tflite_bytes),
        n_params_before=int(params_before),
        selected_mean_accuracy=float(selection["mean_accuracy"]),
        size_reduction=round(bytes_before / int(chosen.tflite_bytes), 2),
        best_cell=dict(
            filters=int(best.filters),
            neurons=int(best.neurons),
            mean_accuracy=float(best.mean_accuracy),
            n_params=int(best.n_params),
        ),
        tolerance=tolerance,
        rule=(
            f"fewest parameters among cells whose mean CV accuracy is within {tolerance:g} "
            "accuracy points of the best cell; ties: higher accuracy, fewer filters, fewer neurons"
        ),
        grid=dict(filters=filters, neurons=neurons, cells=len(table), folds=folds),
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
    atomic.write_with(args.table, lambda p: table[reduction.TABLE_COLUMNS].to_csv(p, index=False))
    atomic.write_with(args.heatmap, lambda p: reduction.plot_heatmap(table, chosen, p, title))
    atomic.write_with(
        args.tradeoff,
        lambda p: reduction.plot_tradeoff(
            table,
            chosen,
            tolerance,
            {"n_params": params_before, "mean_accuracy": selection["mean_accuracy"]},
            p,
            title,
        ),
    )
    atomic.write_json(args.out, result)


if __name__ == "__main__":
    arguments = parser(__doc__)
    for name in ("selection", "table", "heatmap", "tradeoff", "out", "dataset"):
        arguments.add_argument(f"--{name}", required=True)
    for name in ("images", "splits", "labels"):
        arguments.add_argument(
            f"--{name}", help="the selected size's array, splits.csv, labels.txt"
        )
    arguments.add_argument(
        "--blocks", nargs="*", default=[], help="block CSVs from reduction_block.py"
    )
    arguments.add_argument(
        "--arch-spec", type=json_arg, required=True, help="selected architecture spec (JSON)"
    )
    arguments.add_argument(
        "--generator-spec", type=json_arg, required=True, help="selected generator spec (JSON)"
    )
    arguments.add_argument(
        "--grid",
        type=json_arg,
        required=True,
        help="reduction section: filters, neurons, tolerance",
    )
    run(main, arguments, globals().get("snakemake"))
