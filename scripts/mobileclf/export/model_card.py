"""The deploy bundle's model card: what the model is, how good it is, how to feed it, and
what it must not be used for. Plain Markdown from the run's own JSON/CSV outputs, so
every number in it can be traced to a file.
"""

from __future__ import annotations

import math

import pandas as pd


def wilson_interval(successes: int, total: int, z: float = 1.96) -> tuple[float, float]:
    """95% Wilson score interval of a proportion: honest for small holdouts and 0%/100%."""
    if total == 0:
        return (float("nan"), float("nan"))
    p = successes / total
    centre = (p + z * z / (2 * total)) / (1 + z * z / total)
    half = z * math.sqrt(p * (1 - p) / total + z * z / (4 * total * total)) / (1 + z * z / total)
    return (max(0.0, centre - half), min(1.0, centre + half))


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
    lines += [f"| {label} | {row.cv} | {row.holdout} |" for label, row in counts.iterrows()]
    lines.append(f"| **total** | {counts.cv.sum()} | {counts.holdout.sum()} |")
    return "\n".join(lines)


def _variant_table(export: pd.DataFrame) -> str:
    lines = [
        "| variant | size | input | output | weights | holdout accuracy | Δ vs Keras "
        "| top-1 agreement | max prob diff |",
        "| --- | ---: | --- | --- | --- | ---: | ---: | ---: | ---: |",
    ]
    for row in export.itertuples():
        lines.append(
            f"| `model_{row.variant}.tflite` | {row.bytes / 1024:.1f} KiB | {row.input_dtype} | "
            f"{row.output_dtype} | {row.weights} | {_pct(row.accuracy)} | "
            f"{100 * row.accuracy_delta:+.1f} pts | {_pct(row.agreement)} | "
            f"{row.max_prob_diff:.2g} |"
        )
    return "\n".join(lines)


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


def render(
    dataset: str,
    spec: dict,
    metrics: dict,
    chosen: dict,
    export: pd.DataFrame,
    splits: pd.DataFrame,
    fields: dict,
    resize: dict,
    tolerance: float,
    outputs: dict[str, dict] | None = None,
) -> str:
    """The model card as Markdown; ``outputs`` maps variant to its output tensor facts
    (dtype, scale, zero_point) as read back, to tell the app how to dequantize."""
    n = int(metrics.get("n_images") or 0)
    correct = round((metrics.get("accuracy") or 0.0) * n)
    low, high = wilson_interval(correct, n)
    layers = ", ".join(
        layer["type"] + "(" + ", ".join(f"{k}={v}" for k, v in layer.items() if k != "type") + ")"
        for layer in spec["layers"]
    )
    order = ", ".join(f"{i}: {label}" for i, label in enumerate(spec["labels"]))
    auc = "n/a" if metrics.get("auc") is None else f"{metrics['auc']:.3f}"
    binary = "sensitivity" in metrics
    positive = metrics.get("positive_class", "")
    cv_score = chosen.get("mean_accuracy")
    reduced = spec.get("source") == "reduction.json"
    lines = [
        f"# Model card: {fields['name']} (version {fields['version']})",
        "",
        f"{fields['description']}",
        "",
        f"Author: {fields['author']}. License: {fields['license']}. Dataset: `{dataset}`.",
        "",
        "## Intended use",
        "",
        "A **screening and research aid**: it flags images for a qualified person to look at. "
        "It is **not a diagnosis** and must not be the sole basis of any clinical decision. "
        "It has been evaluated only on images like its training data (same source, scanner "
        "and preparation); on other images its accuracy is unknown.",
        "",
        "## Model",
        "",
        f"* Architecture `{spec['arch']}` (layers: {layers}, then softmax over "
        f"{spec['n_classes']} classes), {spec['n_params']:,} parameters"
        + (" (after parameter reduction)" if reduced else "")
        + ".",
        f"* Train generator `{spec['generator']}`, image size {spec['size']}×{spec['size']}, "
        f"chosen by {chosen.get('n_folds', '?')}-fold cross-validation from "
        f"{chosen.get('candidates', '?')} candidate configuration(s).",
        f"* Trained once on all {spec['n_train']} non-holdout images"
        + (
            f" ({spec['n_val']} more held out for early stopping)"
            if spec.get("early_stopping")
            else ""
        )
        + f", {spec['epochs_run']} epochs, seed {spec['seed']}.",
        f"* Labels (output order): {order}.",
        "",
        "## How to feed it (phone apps)",
        "",
        f"* Resize the image to {spec['size']}×{spec['size']} RGB the way training did "
        f"(`{resize.get('mode', 'stretch')}`, `{resize.get('resample', 'bilinear')}` resampling).",
        "* Feed **raw pixel values 0..255**: float32 for the float32, dynamic and float16 "
        "variants, the raw uint8 bytes for the int8 variant (its input quantization is scale 1, "
        "zero point 0). Rescaling and normalisation "
        f"(×{spec['input_scale']:.6g}, mean {[round(v, 4) for v in spec['input_mean']]}, "
        f"std {[round(v, 4) for v in spec['input_std']]}) are layers inside the model; the "
        "metadata's normalisation is therefore the identity (mean 0, std 1), unlike seed 000's "
        "Table 2 (mean 0, std 255) whose models expected 0..1 input.",
        "* The output is one probability per class in `labels.txt` order"
        + "".join(
            f" ({variant}: {o['dtype']}, "
            f"probability = {o['scale']:.6g} × (value − {o['zero_point']}))"
            for variant, o in (outputs or {}).items()
            if o["dtype"] != "float32"
        )
        + ". The label file is also packed inside every model's metadata.",
        "",
        "## Data",
        "",
        _data_table(splits),
        "",
        "## Performance",
        "",
        f"Final Keras model on the **holdout** ({n} images never used for training or selection):",
        "",
        f"* accuracy **{_pct(metrics.get('accuracy'))}** (95% Wilson interval "
        f"{_pct(low)}–{_pct(high)}), macro F1 {metrics.get('macro_f1', float('nan')):.3f}, "
        f"AUC {auc}",
    ]
    if binary:
        lines.append(
            f"* positive class `{positive}`: sensitivity {_pct(metrics.get('sensitivity'))}, "
            f"specificity {_pct(metrics.get('specificity'))} "
            f"(TP {metrics['tp']}, FN {metrics['fn']}, FP {metrics['fp']}, TN {metrics['tn']})"
        )
    lines += [
        "* confusion matrix (rows true, columns predicted, order as labels): "
        f"{metrics.get('confusion_matrix')}",
        "",
        f"Cross-validation score of the chosen configuration: {_pct(cv_score)} "
        f"(± {_pct(chosen.get('std_accuracy'))}). " + _cv_caveat(chosen, reduced),
        "",
        "## Deployable variants",
        "",
        f"Each variant run in the LiteRT interpreter on the {n} holdout images and compared with "
        f"the Keras model (float32 must stay within {tolerance:g} in probability):",
        "",
        _variant_table(export),
        "",
        "## Limitations",
        "",
        *(
            [
                "* **No patient (group) ids were given**: slices of one patient can sit in both "
                "the training images and the holdout, so the holdout accuracy above is "
                "optimistic too. Give `ingest.group_csv` or `ingest.group_pattern` to fix this."
            ]
            if (splits["group"].fillna("").astype(str) == "").all()
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
    return "\n".join(lines)
