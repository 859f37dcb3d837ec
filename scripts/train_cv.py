"""Train and evaluate one arch × generator × size × fold; write metrics.json + history.csv."""

import logging
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from mobileclf import atomic
from mobileclf.cli import UserError, json_arg, parser, run


def main(args) -> None:
    from mobileclf import tf_runtime

    device = tf_runtime.configure(args.threads, args.seed)
    from mobileclf.datasets import check_class_count, load, positive_index
    from mobileclf.faults import failed_metrics, record_attempt, resource_errors
    from mobileclf.finetune import effective_training
    from mobileclf.training import TrainSettings, fit_and_evaluate

    data = load(args.images, args.splits, args.labels, args.manifest)
    positive = positive_index(data.labels, args.positive_class)
    column = f"fold{args.fold}"
    if column not in data.splits.columns:
        raise UserError(f"{args.splits} has no column {column}; rerun the split rule")
    roles = data.splits[column].to_numpy()
    identity = dict(
        arch=args.arch,
        generator=args.generator,
        size=int(data.images.shape[1]),
        fold=args.fold,
        seed=args.seed,
    )
    log = logging.getLogger("train")
    try:
        result = fit_and_evaluate(
            data.images,
            data.y,
            roles,
            data.labels,
            args.arch_spec["layers"],
            args.generator_spec,
            TrainSettings.from_config(effective_training(args.arch_spec, args.training)),
            args.seed,
            positive,
            backbone=args.arch_spec.get("backbone"),
            arch=args.arch,
        )
    except resource_errors() as error:
        # recorded, not raised: the rest of the grid still runs and is tabulated, and the
        # next run retries this job (see mobileclf.faults)
        log.error("fold %d failed for lack of resources: %s", args.fold, error)
        atomic.write_with(args.history, lambda p: p.write_text("epoch\n"))
        failed = failed_metrics(identity, error, args.attempt)
        record_attempt(args.metrics, failed["attempt"])
        atomic.write_json(args.metrics, failed)
        return
    check_class_count(int(result.model.output_shape[-1]), data.labels, "the trained model")
    metrics = dict(**identity, status="ok", attempt=args.attempt, device=device, **result.metrics)
    log.info("fold %d accuracy %.4f", args.fold, metrics["accuracy"])
    atomic.write_with(args.history, lambda p: result.history.to_csv(p, index=False))
    atomic.write_json(args.metrics, metrics)


if __name__ == "__main__":
    arguments = parser(__doc__)
    for name in ("images", "splits", "labels", "metrics", "history", "arch", "generator"):
        arguments.add_argument(f"--{name}", required=True)
    arguments.add_argument("--fold", type=int, required=True)
    arguments.add_argument("--arch-spec", type=json_arg, required=True, help="architecture (JSON)")
    arguments.add_argument(
        "--generator-spec", type=json_arg, required=True, help="generator (JSON)"
    )
    arguments.add_argument(
        "--training", type=json_arg, required=True, help="training section (JSON)"
    )
    arguments.add_argument("--seed", type=int, default=42)
    arguments.add_argument(
        "--positive-class", default="", help="disease class (default: 2nd label)"
    )
    arguments.add_argument("--threads", type=int, default=1)
    arguments.add_argument("--manifest", help="manifest.csv: check that splits.csv is in its order")
    arguments.add_argument(
        "--attempt",
        type=int,
        default=0,
        help="retry token (see mobileclf.faults); written to metrics.json",
    )
    run(main, arguments, globals().get("snakemake"))
