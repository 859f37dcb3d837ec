"""Train and evaluate every fold of one arch × generator × size in one process.

Used for image sizes below ``training.batch_folds_below``: there one fold trains in
seconds and a process per fold would spend most of its time starting TensorFlow.
Writes the same metrics.json + history.csv per fold as train_cv.py, with the same numbers.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from mobileclf.cli import parser, run
from mobileclf.errors import UserError
from mobileclf.train.cv import cell_arguments


def main(args) -> None:
    counts = {len(args.metrics), len(args.history), len(args.seed), len(args.attempt)}
    if len(counts) != 1 or len(args.folds) != len(args.metrics):
        raise UserError(
            "--folds, --metrics, --history, --seed and --attempt need one value per fold"
        )
    from mobileclf import tf_runtime

    device = tf_runtime.configure(args.threads, args.seed[0])
    from mobileclf.train.cv import FoldOutputs, load_cell, train_folds

    data, cell = load_cell(args)
    folds = [
        FoldOutputs(*fields[:3], Path(fields[3]), Path(fields[4]))
        for fields in zip(
            args.folds, args.seed, args.attempt, args.metrics, args.history, strict=True
        )
    ]
    train_folds(data, cell, folds, device)


if __name__ == "__main__":
    arguments = cell_arguments(parser(__doc__))
    for name in ("metrics", "history"):
        arguments.add_argument(f"--{name}", nargs="+", required=True, help="one per fold")
    for name in ("folds", "seed", "attempt"):
        arguments.add_argument(f"--{name}", type=int, nargs="+", required=True, help="one per fold")
    run(main, arguments, globals().get("snakemake"))
