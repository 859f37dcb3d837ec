"""Mobile-emulated testing (seed 000, step 7): holdout images through the phone's input
paths, every model variant, one table.

Three input paths per holdout image, all uint8 at the model's size:

* ``computer``: the training preprocessing (``mobileclf.data.resize.to_square`` with the
  config's ``resize`` section), i.e. what cross-validation and the export measured;
* ``gallery``: the Flutter plugin's decode + Android bilinear scaling
  (:func:`mobileclf.mobile.camera.gallery_input`);
* ``camera``: the live-camera template at each severity level
  (:func:`mobileclf.mobile.camera.camera_input`).

Each variant (the Keras model, then each TFLite file) predicts every path; the table
reports accuracy, macro F1, sensitivity/specificity and the drop against the Keras model
on the computer path (the number a user sees before building an app).
"""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path

import numpy as np
import pandas as pd

from mobileclf.errors import UserError

log = logging.getLogger(__name__)

KERAS = "keras"
PATHS = ("computer", "gallery", "camera")
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
]


class MobileInputError(UserError):
    """Deploy outputs or emulation inputs are missing or inconsistent."""


# --- which images ---------------------------------------------------------------------


def holdout_rows(
    splits: pd.DataFrame, labels: list[str], per_class: int, seed: int
) -> pd.DataFrame:
    """Holdout images with their class index and the paper-style phone test flag.

    The phone test takes ``per_class`` images per class, ranked by a seeded hash of
    the path: deterministic, independent of file order, and listed in the output.
    """
    holdout = splits[splits.set == "holdout"][["path", "label"]].reset_index(drop=True)
    if holdout.empty:
        raise MobileInputError(
            "the holdout is empty (split.holdout_fraction: 0); mobile testing needs images "
            "never used for training: set split.holdout_fraction > 0"
        )
    holdout["y"] = holdout.label.map({label: i for i, label in enumerate(labels)}).astype(int)
    holdout["rank"] = [
        hashlib.sha256(f"{seed}:{path}".encode()).hexdigest() for path in holdout.path
    ]
    chosen = holdout.sort_values(["label", "rank"]).groupby("label").head(per_class).index
    holdout["phone_test"] = holdout.index.isin(chosen)
    return holdout.drop(columns="rank")


# --- inference ------------------------------------------------------------------------


def app_normalization(metadata: dict, variant: str) -> tuple[list[float], list[float]]:
    """The app's ``NormalizeOp(mean, std)``: what the variant's embedded TFLite metadata says,
    as read back by the export stage into deploy/metadata.json
    (``variants.<variant>.input.norm_mean/norm_std``).

    Our models take raw 0..255 pixels and normalise inside the model, so this should be
    mean 0, std 1; whatever the metadata says is what an app built from it will do.
    """
    entry = metadata.get("variants", {}).get(variant, {}).get("input", {})
    mean, std = entry.get("norm_mean"), entry.get("norm_std")
    if mean is None or std is None:
        raise MobileInputError(
            f"deploy/metadata.json has no input normalisation for variant {variant!r} "
            "(variants.<variant>.input.norm_mean/norm_std); rerun the export stage"
        )
    return [float(v) for v in np.atleast_1d(mean)], [float(v) for v in np.atleast_1d(std)]


def _quantize(real: np.ndarray, detail: dict) -> np.ndarray:
    dtype = np.dtype(detail["dtype"])
    if np.issubdtype(dtype, np.floating):
        return real.astype(dtype)
    scale, zero_point = detail.get("quantization", (0.0, 0))
    values = real / scale + zero_point if scale else real
    info = np.iinfo(dtype)
    return np.clip(np.rint(values), info.min, info.max).astype(dtype)


def _dequantize(values: np.ndarray, detail: dict) -> np.ndarray:
    scale, zero_point = detail.get("quantization", (0.0, 0))
    if np.issubdtype(values.dtype, np.integer) and scale:
        return (values.astype(np.float64) - zero_point) * scale
    return values.astype(np.float64)


def predict_tflite(
    model_path: str | Path,
    images: np.ndarray,
    mean: list[float],
    std: list[float],
    threads: int = 1,
) -> np.ndarray:
    """Class probabilities from a TFLite file in the LiteRT interpreter, one image per call
    (as the apps do); uint8/int8 inputs get the app's normalised value quantised by the
    tensor's own scale/zero point (identity for the usual uint8 0..255 input)."""
    from ai_edge_litert.interpreter import Interpreter

    from mobileclf.mobile.camera import normalize

    interpreter = Interpreter(model_path=str(model_path), num_threads=threads)
    interpreter.allocate_tensors()
    source = interpreter.get_input_details()[0]
    target = interpreter.get_output_details()[0]
    expected = tuple(int(s) for s in source["shape"][1:])
    if tuple(images.shape[1:]) != expected:
        raise MobileInputError(
            f"{model_path} expects input {expected}, the emulated images are {images.shape[1:]}; "
            "the deploy files and final/spec.json come from different runs: rerun the export"
        )
    out = []
    for image in images:
        real = normalize(image[None], mean, std)
        interpreter.set_tensor(source["index"], _quantize(real, source))
        interpreter.invoke()
        out.append(_dequantize(interpreter.get_tensor(target["index"]), target)[0])
    return np.asarray(out)


def predict_keras(model_path: str | Path, images: np.ndarray) -> np.ndarray:
    """Class probabilities from the final Keras model (raw 0..255 float input)."""
    import keras

    model = keras.saving.load_model(model_path, compile=False)
    return np.asarray(
        model.predict(images.astype(np.float32), batch_size=32, verbose=0), dtype=np.float64
    )


def prediction_frame(
    holdout: pd.DataFrame, variant: str, path: str, severity: int | None, probabilities: np.ndarray
) -> pd.DataFrame:
    """Long-format predictions: one row per image × variant × path × severity."""
    frame = holdout[["path", "label", "y", "phone_test"]].rename(columns={"path": "image"}).copy()
    frame.insert(0, "variant", variant)
    frame.insert(1, "path", path)
    frame.insert(2, "severity", pd.array([severity] * len(frame), dtype="Int64"))
    frame["predicted"] = probabilities.argmax(axis=1)
    for k in range(probabilities.shape[1]):
        frame[f"prob_{k}"] = probabilities[:, k]
    return frame


# --- the table ------------------------------------------------------------------------


def mobile_table(predictions: pd.DataFrame, labels: list[str], positive_index: int) -> pd.DataFrame:
    """tables/mobile.csv: metrics per subset × variant × path × severity, and the drop in
    accuracy points (fraction) against the Keras model on the computer path."""
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
                )
            )
    table = pd.DataFrame(rows, columns=TABLE_COLUMNS[:-1])
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
    return table.drop(columns=["_v", "_p"]).reset_index(drop=True)


def camera_drop_table(table: pd.DataFrame, subset: str = "holdout") -> pd.DataFrame:
    """Wide view for the report: accuracy per variant on computer, gallery and each camera
    severity, and the drop from computer to camera at each severity."""
    part = table[table.subset == subset]
    rows = []
    for variant, group in part.groupby("variant", sort=False):
        row: dict = {"variant": variant}
        for item in group.itertuples():
            column = item.path if item.path != "camera" else f"camera_s{int(item.severity)}"
            row[column] = item.accuracy
        computer = row.get("computer", np.nan)
        for item in group[group.path == "camera"].itertuples():
            row[f"drop_s{int(item.severity)}"] = computer - item.accuracy
        rows.append(row)
    return pd.DataFrame(rows)


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
