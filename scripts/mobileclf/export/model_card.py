"""The deploy bundle's model card: what the model is, how good it is, how to feed it, and
what it must not be used for. Plain Markdown from the run's own JSON/CSV outputs, so
every number in it can be traced to a file.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from mobileclf import atomic
from mobileclf.markdown import md_text
from mobileclf.stats import percent_interval, wilson_interval


def _pct(value: float | None) -> str:
    return (
        "n/a"
        if value is None or (isinstance(value, float) and math.isnan(value))
        else f"{100 * value:.1f}%"
    )


def _data_table(splits: pd.DataFrame) -> str:
    counts = pd.crosstab(splits.label, splits["set"]).reindex(
        columns=["cv", "holdout"], fill_value=0
    )
    lines = ["| class | training (non-holdout) | holdout |", "| --- | ---: | ---: |"]
    lines += [
        f"| {md_text(label)} | {row.cv} | {row.holdout} |" for label, row in counts.iterrows()
    ]
    lines.append(f"| **total** | {counts.cv.sum()} | {counts.holdout.sum()} |")
    return "\n".join(lines)


def _variant_table(export: pd.DataFrame, n: int) -> str:
    """The variants, each holdout accuracy with its count and 95% interval (n images)."""
    lines = [
        "| variant | size | input | output | weights | holdout accuracy | Δ vs Keras "
        "| top-1 agreement | max prob diff |",
        "| --- | ---: | --- | --- | --- | ---: | ---: | ---: | ---: |",
    ]
    for row in export.itertuples():
        lines.append(
            f"| `model_{row.variant}.tflite` | {row.bytes / 1024:.1f} KiB | {row.input_dtype} | "
            f"{row.output_dtype} | {row.weights} | {_accuracy_cell(row.accuracy, n)} | "
            f"{100 * row.accuracy_delta:+.1f} pts | {_pct(row.agreement)} | "
            f"{row.max_prob_diff:.2g} |"
        )
    return "\n".join(lines)


def _accuracy_cell(accuracy: float | None, n: int) -> str:
    if accuracy is None or not n or (isinstance(accuracy, float) and math.isnan(accuracy)):
        return _pct(accuracy)
    return f"{_pct(accuracy)} ({percent_interval(round(accuracy * n), n).split('(', 1)[1]}"


def _cv_caveat(chosen: dict, reduced: bool) -> str:
    """Why the CV score of the shipped configuration is (or is not) optimistic."""
    reasons = []
    if int(chosen.get("candidates", 2)) > 1:
        reasons.append(
            "it is the best of all configurations compared on the same folds (winner's curse)"
        )
    if reduced:
        reasons.append("parameter reduction chose the layer widths on the same folds")
    if not reasons:
        return "Only one configuration was evaluated, so it carries no selection bias."
    return (
        "**This number is optimistic**: "
        + ", and ".join(reasons)
        + ". Quote the holdout figure, not this one."
    )


@dataclass(frozen=True)
class CardInputs:
    """What the card is written from: the model_card rule's inputs and params, read."""

    dataset: str
    spec: dict  # final/spec.json
    metrics: dict  # final/metrics.json (the Keras model on the holdout)
    chosen: dict  # selection.json or reduction.json
    export: pd.DataFrame  # tables/export.csv
    splits: pd.DataFrame  # splits.csv
    fields: dict  # export.metadata: name, version, description, author, license
    resize: dict  # resize mode and resample
    tolerance: float  # export.tolerance
    outputs: dict[str, dict] = field(default_factory=dict)  # variant -> output tensor facts

    @property
    def n_holdout(self) -> int:
        return int(self.metrics.get("n_images") or 0)

    @property
    def reduced(self) -> bool:
        return self.spec.get("source") == "reduction.json"


def render(card: CardInputs) -> str:
    """The model card as Markdown, one function per section."""
    return "\n".join(
        [
            *_intro(card),
            *_model(card),
            *_feeding(card),
            "## Data",
            "",
            _data_table(card.splits),
            "",
            *_performance(card),
            *_limitations(card),
        ]
    )


def _intro(card: CardInputs) -> list[str]:
    fields = card.fields
    return [
        f"# Model card: {fields['name']} (version {fields['version']})",
        "",
        f"{fields['description']}",
        "",
        f"Author: {fields['author']}. License: {fields['license']}. Dataset: `{card.dataset}`.",
        "",
        "## Intended use",
        "",
        "A **screening and research aid**: it flags images for a qualified person to look at. "
        "It is **not a diagnosis** and must not be the sole basis of any clinical decision. "
        "It has been evaluated only on images like its training data (same source, scanner "
        "and preparation); on other images its accuracy is unknown.",
        "",
    ]


def _model(card: CardInputs) -> list[str]:
    spec, chosen = card.spec, card.chosen
    layers = ", ".join(
        layer["type"] + "(" + ", ".join(f"{k}={v}" for k, v in layer.items() if k != "type") + ")"
        for layer in spec["layers"]
    )
    order = ", ".join(f"{i}: {md_text(label)}" for i, label in enumerate(spec["labels"]))
    return [
        "## Model",
        "",
        f"* Architecture `{spec['arch']}` (layers: {layers}, then softmax over "
        f"{spec['n_classes']} classes), {spec['n_params']:,} parameters"
        + (" (after parameter reduction)" if card.reduced else "")
        + ".",
        f"* Train generator `{spec['generator']}`, image size {spec['size']}×{spec['size']}, "
        f"chosen by {chosen.get('n_folds', '?')}-fold cross-validation"
        # choice.json leaves the candidate count out (selection.json and the report have
        # it): a new cell that does not win must not change the deploy bundle
        + (
            f" from {chosen['candidates']} candidate configuration(s)."
            if "candidates" in chosen
            else " over the configured grid (selection.json lists the candidates)."
        ),
        f"* Trained once on all {spec['n_train']} non-holdout images"
        + (
            f" ({spec['n_val']} more held out for early stopping)"
            if spec.get("early_stopping")
            else ""
        )
        + f", {spec['epochs_run']} epochs, seed {spec['seed']}.",
        f"* Labels (output order): {order}.",
        "",
    ]


def _feeding(card: CardInputs) -> list[str]:
    spec, resize = card.spec, card.resize
    return [
        "## How to feed it (phone apps)",
        "",
        f"* Resize the image to {spec['size']}×{spec['size']} RGB the way training did "
        f"(`{resize.get('mode', 'stretch')}`, `{resize.get('resample', 'bilinear')}` resampling).",
        "* Feed **raw pixel values 0..255**: float32 for the float32, dynamic and float16 "
        "variants, the raw uint8 bytes for the int8 variant (its input quantization is scale 1, "
        "zero point 0). Rescaling and normalisation "
        f"(×{spec['input_scale']:.6g}, mean {[round(v, 4) for v in spec['input_mean']]}, "
        f"std {[round(v, 4) for v in spec['input_std']]}) are layers inside the model; the "
        "metadata's normalisation is therefore the identity (mean 0, std 1), unlike "
        "Muneeb et al. (2022)'s "
        "Table 2 (mean 0, std 255) whose models expected 0..1 input.",
        "* The output is one probability per class in `labels.txt` order"
        + "".join(
            f" ({variant}: {o['dtype']}, "
            f"probability = {o['scale']:.6g} × (value − {o['zero_point']}))"
            for variant, o in card.outputs.items()
            if o["dtype"] != "float32"
        )
        + ". The label file is also packed inside every model's metadata.",
        "",
    ]


def _performance(card: CardInputs) -> list[str]:
    metrics, chosen, n = card.metrics, card.chosen, card.n_holdout
    correct = round((metrics.get("accuracy") or 0.0) * n)
    low, high = wilson_interval(correct, n)
    auc = "n/a" if metrics.get("auc") is None else f"{metrics['auc']:.3f}"
    lines = [
        "## Performance",
        "",
        f"Final Keras model on the **holdout** ({n} images never used for training or selection):",
        "",
        f"* accuracy **{_pct(metrics.get('accuracy'))}** ({correct}/{n} right; 95% Wilson interval "
        f"{_pct(low)}–{_pct(high)}), macro F1 {metrics.get('macro_f1', float('nan')):.3f}, "
        f"AUC {auc}",
    ]
    if "sensitivity" in metrics:  # a binary task
        lines.append(
            f"* positive class {md_text(metrics.get('positive_class', ''))}: sensitivity "
            f"{_pct(metrics.get('sensitivity'))}, "
            f"specificity {_pct(metrics.get('specificity'))} "
            f"(TP {metrics['tp']}, FN {metrics['fn']}, FP {metrics['fp']}, TN {metrics['tn']})"
        )
    lines += [
        "* confusion matrix (rows true, columns predicted, order as labels): "
        f"{metrics.get('confusion_matrix')}",
        "",
        "Cross-validation score of the chosen configuration: "
        f"{_pct(chosen.get('mean_accuracy'))} (± {_pct(chosen.get('std_accuracy'))}). "
        + _cv_caveat(chosen, card.reduced)
        + (f" {chosen['tie_note']}" if chosen.get("tie_note") else ""),
        "",
        "## Deployable variants",
        "",
        f"Each variant run in the LiteRT interpreter on the {n} holdout images and compared with "
        f"the Keras model (float32 must stay within {card.tolerance:g} in probability):",
        "",
        _variant_table(card.export, n),
        "",
    ]
    return lines


def _limitations(card: CardInputs) -> list[str]:
    n = card.n_holdout
    no_groups = (card.splits["group"].fillna("").astype(str) == "").all()
    return [
        "## Limitations",
        "",
        *(
            [
                "* **No patient (group) ids were given**: slices of one patient can sit in both "
                "the training images and the holdout, so the holdout accuracy above is "
                "optimistic too. Give `ingest.group_csv` or `ingest.group_pattern` to fix this."
            ]
            if no_groups
            else []
        ),
        f"* The holdout is small ({n} images): its accuracy is uncertain by the interval above; "
        "differences of a few points between variants are within noise.",
        "* Choosing a variant *because* it scored best on this holdout makes that variant's "
        "figure slightly optimistic too.",
        "* Quantized variants (dynamic, int8, float16) trade accuracy for size and speed; their "
        "drop is measured here on a computer's interpreter. On a phone, delegates (GPU/NNAPI) can "
        "change results further: verify on the target device.",
        "* Performance on other hospitals, scanners, image preparations, patient groups or "
        "image sizes has not been evaluated; expect it to be lower.",
        "* Results are reproducible given the seed up to TensorFlow's floating-point "
        "nondeterminism (an occasional prediction may differ between runs).",
        "",
    ]


def _read(path: str) -> dict:
    return json.loads(Path(path).read_text(encoding="utf-8"))


def model_card(args) -> None:
    """The model_card stage: deploy/model_card.md and deploy/metadata.json.

    ``args`` are scripts/model_card.py's flags; metadata.json gathers each variant's
    metadata as read back from its TFLite file.
    """
    spec = _read(args.spec)
    read_backs = {(data := _read(path))["variant"]: data for path in args.read_back}
    export = pd.read_csv(args.export)
    card = CardInputs(
        dataset=args.dataset,
        spec=spec,
        metrics=_read(args.metrics),
        chosen=_read(args.chosen),
        export=export,
        splits=pd.read_csv(args.splits, dtype={"group": str}, keep_default_na=False),
        fields=args.fields,
        resize=args.resize,
        tolerance=args.tolerance,
        outputs={variant: data["output"] for variant, data in read_backs.items()},
    )
    metadata = {
        "dataset": args.dataset,
        "labels": spec["labels"],
        "size": spec["size"],
        "input": "raw RGB 0..255 (uint8 bytes for int8); rescale, normalisation inside the model",
        "in_model_normalization": {k: spec[k] for k in ("input_scale", "input_mean", "input_std")},
        "variants": {variant: read_backs[variant] for variant in export.variant},
    }
    atomic.write_json(args.metadata_out, metadata)
    atomic.write_text(args.card, render(card))
