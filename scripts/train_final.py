"""Train the chosen configuration on all non-holdout images; evaluate it once on the holdout.

Writes final/model.keras, final/spec.json (what was built and how its input is
normalised), final/metrics.json (Keras model on the holdout), final/history.csv and
deploy/labels.txt (line i names output i, in training class-index order).
"""

import json
import logging
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from mobileclf import atomic
from mobileclf.cli import json_arg, parser, run


def main(args) -> None:
    from mobileclf import tf_runtime

    device = tf_runtime.configure(args.threads, args.seed)
    from mobileclf.data.datasets import load
    from mobileclf.data.split import final_roles
    from mobileclf.train.final import array_for_size, resolve_spec, save_keras
    from mobileclf.train.finetune import effective_training
    from mobileclf.train.fit import TrainSettings, fit_and_evaluate

    log = logging.getLogger("train_final")
    chosen = json.loads(Path(args.chosen).read_text(encoding="utf-8"))
    spec = resolve_spec(chosen, args.architectures, args.generators, args.chosen)
    data = load(array_for_size(args.arrays, spec["size"]), args.splits, args.labels)
    positive = data.labels.index(args.positive_class) if args.positive_class else 1
    arch_spec = args.architectures.get(spec["arch"], {})
    backbone = arch_spec.get("backbone")
    settings = TrainSettings.from_config(effective_training(arch_spec, args.training))
    early_stopping = bool(settings.early_stopping_patience)
    # a validation part only when early stopping needs one: otherwise every image trains
    val_fraction = args.val_fraction if early_stopping else 0.0
    roles = final_roles(data.splits, val_fraction, args.seed)
    log.info(
        "final %s/%s/%d: %d train, %d val (early stopping %s), %d holdout",
        spec["arch"],
        spec["generator"],
        spec["size"],
        (roles == "train").sum(),
        (roles == "val").sum(),
        "on" if early_stopping else "off",
        (roles == "holdout").sum(),
    )
    result = fit_and_evaluate(
        data.images,
        data.y,
        roles,
        data.labels,
        spec["layers"],
        args.generators[spec["generator"]],
        settings,
        args.seed,
        positive,
        evaluate_role="holdout",
        backbone=backbone,
        arch=spec["arch"],
    )
    metrics = result.metrics
    spec.update(
        labels=data.labels,
        n_classes=len(data.labels),
        input_scale=metrics["input_scale"],
        input_mean=metrics["input_mean"],
        input_std=metrics["input_std"],
        n_params=metrics["n_params"],
        n_train=metrics["n_train"],
        n_val=metrics["n_val"],
        epochs_run=metrics["epochs_run"],
        early_stopping=early_stopping,
        seed=args.seed,
        device=device,
        backbone=backbone,
        input="raw RGB 0..255; rescale and normalisation are model layers",
    )
    if metrics.get("n_images"):
        log.info(
            "holdout accuracy of the final Keras model %.4f on %d images",
            metrics["accuracy"],
            metrics["n_images"],
        )
        metrics["evaluated_on"] = "holdout"
        metrics["note"] = (
            "Holdout images were used neither for training nor for selection: "
            "an unbiased estimate, within the sampling error of its size."
        )
    else:
        log.warning("no holdout images (split.holdout_fraction is 0): the final model is untested")
        metrics["evaluated_on"] = None
    metrics = {
        "arch": spec["arch"],
        "generator": spec["generator"],
        "size": spec["size"],
        **metrics,
    }
    save_keras(args.model, result.model)
    atomic.write_with(args.history, lambda p: result.history.to_csv(p, index=False))
    atomic.write_text(args.deploy_labels, "".join(f"{label}\n" for label in data.labels))
    atomic.write_json(args.spec, spec)
    atomic.write_json(args.metrics, metrics)


if __name__ == "__main__":
    arguments = parser(__doc__)
    arguments.add_argument("--arrays", nargs="+", required=True, help="resized arrays ({size}.npy)")
    for name in ("splits", "labels", "model", "spec", "metrics", "history", "deploy-labels"):
        arguments.add_argument(f"--{name}", required=True)
    arguments.add_argument("--chosen", required=True, help="selection.json or reduction.json")
    arguments.add_argument(
        "--architectures", type=json_arg, required=True, help="config section (JSON)"
    )
    arguments.add_argument(
        "--generators", type=json_arg, required=True, help="config section (JSON)"
    )
    arguments.add_argument(
        "--training", type=json_arg, required=True, help="training section (JSON)"
    )
    arguments.add_argument(
        "--val-fraction",
        type=float,
        default=0.1,
        help="validation share of non-holdout images (early stopping only)",
    )
    arguments.add_argument("--seed", type=int, default=42)
    arguments.add_argument(
        "--positive-class", default="", help="disease class (default: 2nd label)"
    )
    arguments.add_argument("--threads", type=int, default=1)
    run(main, arguments, globals().get("snakemake"))
