"""The final model: the chosen configuration trained once on all non-holdout images.

The CV grid only *chooses* (architecture, generator, size, and after parameter reduction
the layer widths); the model that ships is retrained on every non-holdout image and
evaluated once on the untouched holdout. This module resolves what to build from
selection.json / reduction.json and saves the result with its spec.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

from mobileclf import atomic
from mobileclf.errors import UserError

log = logging.getLogger("train_final")


class FinalSpecError(UserError):
    """selection.json / reduction.json does not describe a model this config can build."""


def resolve_spec(chosen: dict, architectures: dict, generators: dict, source: str) -> dict:
    """Architecture, generator, size and layer list of the model to ship.

    ``chosen`` is reduction.json (which carries the reduced ``layers``) or selection.json
    (layers then come from ``architectures[arch]``).
    """
    for key in ("arch", "generator", "size"):
        if key not in chosen:
            raise FinalSpecError(f"{source} has no {key!r}; rerun the stage that writes it")
    arch, generator = chosen["arch"], chosen["generator"]
    if generator not in generators:
        raise FinalSpecError(
            f"{source} chose generator {generator!r}, which is not in the config's generators "
            f"({', '.join(sorted(generators))}); rerun the CV grid with this config"
        )
    layers = chosen.get("layers")
    if layers is None:
        if arch not in architectures:
            raise FinalSpecError(
                f"{source} chose architecture {arch!r}, which is not in the config's "
                f"architectures ({', '.join(sorted(architectures))}); rerun the CV grid"
            )
        layers = architectures[arch]["layers"]
    return {
        "arch": arch,
        "generator": generator,
        "size": int(chosen["size"]),
        "layers": [dict(layer) for layer in layers],
        "source": Path(source).name,
    }


def save_keras(path: str | Path, model) -> None:
    """Atomically save a Keras model (Keras insists on a ``.keras`` suffix)."""

    def writer(temporary: Path) -> None:
        named = temporary.with_name(temporary.name + ".keras")
        try:
            model.save(named)
            os.replace(named, temporary)
        finally:
            named.unlink(missing_ok=True)

    atomic.write_with(path, writer)


def train_final(args) -> None:
    """The train_final stage: train, evaluate on the holdout and write the job's outputs.

    ``args`` are scripts/train_final.py's flags (the rule's inputs, outputs and params):
    the model, spec.json, metrics.json, history.csv and deploy/labels.txt it writes.
    """
    from mobileclf import tf_runtime

    device = tf_runtime.configure(args.threads, args.seed)
    from mobileclf.data.datasets import array_for_size, load
    from mobileclf.data.split import final_roles
    from mobileclf.train.finetune import effective_training
    from mobileclf.train.fit import TrainSettings, fit_and_evaluate

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
    _log_roles(spec, roles, early_stopping)
    generator = args.generators[spec["generator"]]
    views = None
    if generator.get("phone_views"):
        from mobileclf.train.phone_views import PhoneViews, views_file

        chosen_views = views_file(args.phone_views, spec["generator"], spec["size"])
        views = PhoneViews.load(chosen_views, data.splits.path)
    result = fit_and_evaluate(
        data.images,
        data.y,
        roles,
        data.labels,
        spec["layers"],
        generator,
        settings,
        args.seed,
        positive_index=positive,
        evaluate_role="holdout",
        backbone=backbone,
        arch=spec["arch"],
        phone_views=views,
    )
    spec.update(
        labels=data.labels,
        n_classes=len(data.labels),
        **{key: result.metrics[key] for key in SPEC_FROM_METRICS},
        early_stopping=early_stopping,
        seed=args.seed,
        device=device,
        backbone=backbone,
        input="raw RGB 0..255; rescale and normalisation are model layers",
    )
    metrics = _holdout_metrics(spec, result.metrics)
    save_keras(args.model, result.model)
    atomic.write_with(args.history, lambda p: result.history.to_csv(p, index=False))
    atomic.write_text(args.deploy_labels, "".join(f"{label}\n" for label in data.labels))
    atomic.write_json(args.spec, spec)
    atomic.write_json(args.metrics, metrics)


# what spec.json copies from the training's metrics, in this order
SPEC_FROM_METRICS = (
    "input_scale",
    "input_mean",
    "input_std",
    "n_params",
    "n_train",
    "n_val",
    "epochs_run",
)


def _log_roles(spec: dict, roles, early_stopping: bool) -> None:
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


def _holdout_metrics(spec: dict, metrics: dict) -> dict:
    """final/metrics.json: what was built, then the Keras model's holdout metrics."""
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
    return {"arch": spec["arch"], "generator": spec["generator"], "size": spec["size"], **metrics}
