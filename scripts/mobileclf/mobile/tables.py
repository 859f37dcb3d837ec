"""The mobile_tables stage: tables/mobile.csv, the phone-test listing, the robustness plot,
the camera contact sheet and the verdict, from every variant's predictions
(:mod:`mobileclf.mobile.predict` writes those, one job per variant).
"""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path

import numpy as np
import pandas as pd

from mobileclf import atomic
from mobileclf.mobile.predict import KERAS, PATHS, MobileInputError

TABLE_COLUMNS = [
    "subset",
    "variant",
    "path",
    "severity",
    "n_images",
    "accuracy",
    "macro_f1",
    "sensitivity",
    "specificity",
    "drop_vs_computer",
    # added by issue 22 (after the contract's columns): how sure each number is
    "n_correct",
    "accuracy_low",
    "accuracy_high",
    "drop_low",
    "drop_high",
    "drop_p_value",
    # added by issue 16 (path mediapipe rows only): the app runtime against our LiteRT runs
    "litert_agreement",
    "litert_agreement_same_input",
]
STATS_COLUMNS = TABLE_COLUMNS[
    TABLE_COLUMNS.index("n_correct") : TABLE_COLUMNS.index("drop_p_value") + 1
]
AGREEMENT_COLUMNS = ["litert_agreement", "litert_agreement_same_input"]


# --- the table ------------------------------------------------------------------------


def mobile_table(predictions: pd.DataFrame, labels: list[str], positive_index: int) -> pd.DataFrame:
    """tables/mobile.csv: metrics per subset × variant × path × severity, and the drop in
    accuracy points (fraction) against the Keras model on the computer path; each accuracy
    with its count and 95% Wilson interval, each drop with its paired (same images)
    interval and exact McNemar p-value (:mod:`mobileclf.stats`)."""
    from mobileclf.metrics import classification_metrics

    prob_columns = [f"prob_{k}" for k in range(len(labels))]
    rows = []
    keys = ["variant", "path", "severity"]
    for subset, part in (
        ("holdout", predictions),
        ("phone_test", predictions[predictions.phone_test]),
    ):
        for (variant, path, severity), group in part.groupby(keys, sort=False, dropna=False):
            metrics = classification_metrics(
                group.y.to_numpy(), group[prob_columns].to_numpy(), labels, positive_index
            )
            rows.append(
                dict(
                    subset=subset,
                    variant=variant,
                    path=path,
                    severity=None if pd.isna(severity) else int(severity),
                    n_images=metrics["n_images"],
                    accuracy=metrics["accuracy"],
                    macro_f1=metrics["macro_f1"],
                    sensitivity=metrics.get("sensitivity"),
                    specificity=metrics.get("specificity"),
                    **_paired_stats(group, part),
                    **_litert_agreement(group, part),
                )
            )
    columns = [c for c in TABLE_COLUMNS if c != "drop_vs_computer"]
    table = pd.DataFrame(rows, columns=columns)
    table["severity"] = table.severity.astype("Int64")
    baseline = (
        table[(table.variant == KERAS) & (table.path == "computer")].set_index("subset").accuracy
    )
    if baseline.empty:
        raise MobileInputError("no Keras predictions on the computer path: the baseline is missing")
    table["drop_vs_computer"] = table.subset.map(baseline) - table.accuracy
    order = {name: i for i, name in enumerate(PATHS)}
    variants = list(dict.fromkeys(predictions.variant))
    table["_v"] = table.variant.map({v: i for i, v in enumerate(variants)})
    table["_p"] = table.path.map(order)
    table = table.sort_values(["subset", "_v", "_p", "severity"], kind="stable")
    return table.drop(columns=["_v", "_p"])[TABLE_COLUMNS].reset_index(drop=True)


def _paired_stats(group: pd.DataFrame, part: pd.DataFrame) -> dict:
    """Count, Wilson interval, and the paired drop against Keras on the computer path over
    the same images (matched by image; NaN where the images do not match)."""
    from mobileclf.stats import paired_drop, wilson_interval

    right = group.predicted.astype(int) == group.y.astype(int)
    correct, n = int(right.sum()), len(group)
    low, high = wilson_interval(correct, n)
    out = dict(n_correct=correct, accuracy_low=low, accuracy_high=high)
    base = part[(part.variant == KERAS) & (part.path == "computer")]
    base_right = (base.predicted.astype(int) == base.y.astype(int)).groupby(base.image).first()
    images = group.image.to_numpy()
    if len(base_right) and set(images) <= set(base_right.index) and len(set(images)) == n:
        drop = paired_drop(base_right.loc[images].to_numpy(), right.to_numpy())
        out.update(
            drop_low=drop["drop_low"], drop_high=drop["drop_high"], drop_p_value=drop["p_value"]
        )
    else:
        out.update(drop_low=np.nan, drop_high=np.nan, drop_p_value=np.nan)
    return out


def _litert_agreement(group: pd.DataFrame, part: pd.DataFrame) -> dict:
    """For a ``mediapipe`` group: the fraction of its images on which MediaPipe's class equals
    the LiteRT interpreter's on the gallery path of the same variant (``litert_agreement``:
    MediaPipe resized the decoded image itself) and on the same model-size input
    (``litert_agreement_same_input``: the runtime and the metadata alone). NaN elsewhere."""
    out = dict.fromkeys(AGREEMENT_COLUMNS, np.nan)
    if group.path.iloc[0] != "mediapipe":
        return out
    variant = group.variant.iloc[0]
    gallery = part[(part.variant == variant) & (part.path == "gallery")]
    litert = gallery.set_index("image").predicted.astype(int)
    if len(litert) and set(group.image) <= set(litert.index):
        reference = litert.loc[group.image].to_numpy()
        out["litert_agreement"] = float(
            (group.predicted.astype(int).to_numpy() == reference).mean()
        )
        if "same_input_predicted" in group and group.same_input_predicted.notna().all():
            same = group.same_input_predicted.astype(int).to_numpy()
            out["litert_agreement_same_input"] = float((same == reference).mean())
    return out


# --- figures --------------------------------------------------------------------------


def plot_robustness(table: pd.DataFrame, path: str | Path, title: str) -> None:
    """Accuracy against camera severity per variant, with the gallery and computer levels
    as markers at the left, so the collapse from computer to camera is one picture."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    part = table[table.subset == "holdout"]
    figure, axis = plt.subplots(figsize=(7, 4.2))
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    groups = list(part.groupby("variant", sort=False))
    for index, (variant, group) in enumerate(groups):
        colour = colours[index % len(colours)]
        shift = 0.04 * (index - (len(groups) - 1) / 2)  # identical curves stay visible
        camera = group[group.path == "camera"].sort_values("severity")
        axis.plot(
            camera.severity.astype(int) + shift,
            100 * camera.accuracy,
            "o-",
            color=colour,
            label=variant,
            alpha=0.85,
        )
        for input_path, marker, x in (("computer", "s", -1.0), ("gallery", "^", -0.5)):
            value = group[group.path == input_path].accuracy
            if len(value):
                axis.plot([x + shift], [100 * value.iloc[0]], marker, color=colour, markersize=7)
    severities = sorted(part[part.path == "camera"].severity.dropna().astype(int).unique())
    axis.set_xticks(
        [-1, -0.5, *severities], ["computer", "gallery", *[f"camera\n{s}" for s in severities]]
    )
    axis.set_ylim(0, 102)
    axis.set_ylabel("holdout accuracy (%)")
    axis.set_xlabel("input path (camera: severity, 0 = picture fills the frame)")
    axis.axvline(-0.25, color="grey", linewidth=0.8, linestyle=":")
    axis.grid(alpha=0.3)
    axis.legend(title="model variant", fontsize=8)
    axis.set_title(title)
    figure.tight_layout()
    figure.savefig(path, dpi=110, format="png")
    plt.close(figure)


def plot_contact_sheet(
    originals: list[np.ndarray],
    frames: dict[int, np.ndarray],
    inputs: dict[int, np.ndarray],
    captions: list[str],
    path: str | Path,
) -> None:
    """Rows: example images. Columns: the stored image, then per severity the camera
    frame (what the phone screen shows) and the model input it becomes."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    severities = sorted(frames)
    n_cols = 1 + 2 * len(severities)
    figure, axes = plt.subplots(
        len(originals), n_cols, figsize=(1.6 * n_cols, 2.0 * len(originals)), squeeze=False
    )
    for row, original in enumerate(originals):
        axes[row, 0].imshow(original)
        axes[row, 0].set_title(captions[row], fontsize=7)
        for j, severity in enumerate(severities):
            axes[row, 1 + 2 * j].imshow(frames[severity][row])
            axes[row, 2 + 2 * j].imshow(inputs[severity][row], interpolation="nearest")
            if row == 0:
                axes[row, 1 + 2 * j].set_title(f"severity {severity}\ncamera frame", fontsize=7)
                axes[row, 2 + 2 * j].set_title(f"severity {severity}\nmodel input", fontsize=7)
    for axis in axes.flat:
        axis.set_xticks([])
        axis.set_yticks([])
    figure.tight_layout()
    figure.savefig(path, dpi=100, format="png")
    plt.close(figure)


def severity_of(path: str) -> int:
    """The camera severity in ``camera_<s>.npy`` / ``camera_<s>_examples.npz``."""
    return int(re.search(r"camera_(\d+)(?:_examples\.npz|\.npy)$", path).group(1))


def phone_test_listing(predictions: pd.DataFrame, labels: list[str]) -> pd.DataFrame:
    """The paper-style phone test: its images and each variant's answer on each path."""
    part = predictions[predictions.phone_test].copy()
    part["column"] = (
        part.variant
        + "/"
        + part.path
        + part.severity.map(lambda s: "" if pd.isna(s) else f"{int(s)}")
    )
    part["answer"] = part.predicted.map(lambda k: labels[int(k)])
    wide = part.pivot_table(
        index=["image", "label"], columns="column", values="answer", aggfunc="first", sort=False
    )
    return wide.reset_index()


def read_predictions(paths: list[str]) -> pd.DataFrame:
    """Every variant's predictions CSV as one frame (phone_test bool, severity Int64)."""
    predictions = pd.concat(
        [pd.read_csv(p, keep_default_na=False, na_values=[""]) for p in paths],
        ignore_index=True,
    )
    predictions["phone_test"] = predictions.phone_test.astype(str).str.lower() == "true"
    predictions["severity"] = predictions.severity.astype("Int64")
    return predictions


def write_contact_sheet(path: str, holdout_csv: str, examples: list[str], camera: list[str]):
    """plots/camera_contact_sheet.png from the camera_inputs example files."""
    holdout = pd.read_csv(holdout_csv, keep_default_na=False)
    frames, inputs, originals, captions = {}, {}, None, []
    for example_path in examples:
        with np.load(example_path) as data:
            severity = severity_of(example_path)
            frames[severity] = data["frames"]
            rows = data["rows"]
            originals = data["originals"]
        inputs[severity] = np.load(
            next(p for p in camera if severity_of(p) == severity), mmap_mode="r"
        )[rows]
        captions = [f"{holdout.label[r]}\n{Path(holdout.path[r]).name[:22]}" for r in rows]
    atomic.write_with(
        path, lambda p: plot_contact_sheet(list(originals), frames, inputs, captions, p)
    )


def mobile_tables(args) -> None:
    """The mobile_tables stage; ``args`` are scripts/mobile_tables.py's flags."""
    from mobileclf.data.datasets import read_labels
    from mobileclf.mobile.verdict import decide, without_nan

    labels = read_labels(args.labels)
    positive = labels.index(args.positive_class) if args.positive_class else 1
    predictions = read_predictions(args.predictions)
    table = mobile_table(predictions, labels, positive)
    atomic.write_with(args.table, lambda p: table.to_csv(p, index=False))
    listing = phone_test_listing(predictions, labels)
    atomic.write_with(args.phone_test, lambda p: listing.to_csv(p, index=False))
    atomic.write_with(
        args.robustness,
        lambda p: plot_robustness(
            table, p, f"{args.dataset}: accuracy on the emulated phone paths"
        ),
    )
    write_contact_sheet(args.contact_sheet, args.holdout, args.examples, args.camera)
    spec = json.loads(Path(args.spec).read_text())
    generator = args.options["generators"].get(spec.get("generator"), {})
    bytes_by_variant = {
        re.search(r"model_(\w+)\.tflite$", p).group(1): Path(p).stat().st_size for p in args.models
    }
    from mobileclf.phone_check import verdict as measured  # docs/phone-check.md

    phone = measured.read_measured(args.phone_measured)
    severity = args.options["thresholds"]["camera_severity"]
    verdict = decide(
        measured.with_measured(table, phone, severity),
        args.options["thresholds"],
        spec,
        generator,
        pd.read_csv(args.cv_summary),
        bytes_by_variant,
        generators=args.options["generators"],
    )
    verdict = measured.note_measured({"dataset": args.dataset, **verdict}, phone)
    verdict = without_nan(verdict)  # null, never NaN
    logging.getLogger("verdict").info("%s", verdict["summary"])
    atomic.write_json(args.verdict, verdict)
