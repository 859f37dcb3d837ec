"""Load what training jobs need: the resized array, labels, splits, checked for consistency."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from mobileclf.data.split import check_splits, read_table
from mobileclf.errors import REPAIR, UserError


class DataMismatch(UserError):
    """Inputs written by different runs disagree (a stale or hand-edited file)."""


@dataclass
class ResizedData:
    """The arrays and tables a training job works on."""

    images: np.ndarray  # (N, S, S, 3) uint8, memory-mapped
    y: np.ndarray  # (N,) class index into labels
    labels: list[str]
    splits: pd.DataFrame


def read_labels(path: str | Path) -> list[str]:
    return [
        line.strip() for line in Path(path).read_text(encoding="utf-8").splitlines() if line.strip()
    ]


def check_labels(labels: list[str], data_labels: set[str], where: str) -> None:
    """labels.txt is the model's output order: sorted, unique, exactly the data's classes.

    A reordered or edited labels.txt would silently swap class names on the phone, so it
    is refused rather than trusted.
    """
    fix = f"{where} was edited or comes from another run; delete it and {REPAIR}"
    if len(set(labels)) != len(labels):
        raise DataMismatch(f"{where} lists a class twice ({labels}); {fix}")
    if labels != sorted(labels):
        raise DataMismatch(
            f"{where} is not in sorted order ({labels}); line i must be the model's output i; {fix}"
        )
    if set(labels) != data_labels:
        raise DataMismatch(
            f"{where} has classes {labels} but the data has {sorted(data_labels)}; {fix}"
        )


def positive_index(labels: list[str], positive_class: str, dataset: str = "") -> int:
    """Index of the "disease" class for sensitivity/specificity (default: the second label).

    The workflow checks the key against the class folders when it reads the config
    (mobileclf.workflow.config.dataset_problems); this is the check of last resort (a
    demo dataset whose images did not exist yet, a job run by hand).
    """
    if not positive_class:
        return 1
    if positive_class not in labels:
        key = f"datasets.{dataset}.positive_class" if dataset else "the dataset's positive_class"
        raise DataMismatch(
            f"positive_class {positive_class!r} is not a class of this dataset "
            f"({', '.join(labels)}); fix {key} in the config"
        )
    return labels.index(positive_class)


def check_class_count(n_outputs: int, labels: list[str], what: str) -> None:
    """The model's output units must equal the number of classes in labels.txt."""
    if n_outputs != len(labels):
        raise DataMismatch(
            f"{what} has {n_outputs} outputs but labels.txt lists {len(labels)} classes "
            f"({', '.join(labels)}); rebuild it from the current data"
        )


def check_row_order(
    splits: pd.DataFrame, manifest_path: str | Path, splits_path: str | Path
) -> None:
    """Row i of the resized arrays is row i of the accepted manifest; splits.csv must agree."""
    manifest = read_table(manifest_path)
    accepted = manifest[manifest.status == "ok"].reset_index(drop=True)
    same = len(accepted) == len(splits) and (
        (accepted.path.to_numpy() == splits.path.to_numpy()).all()
        and (accepted.label.to_numpy() == splits.label.to_numpy()).all()
    )
    if not same:
        raise DataMismatch(
            f"{splits_path} does not list the accepted images of {manifest_path} in the same "
            "order with the same labels (the arrays are in manifest order); it was edited or "
            f"comes from another run; delete it and {REPAIR}"
        )


def load_images(path: str | Path) -> np.ndarray:
    """A resized array (N, S, S, 3) uint8, memory-mapped; refused when it is not one.

    An array overwritten or cut short (a copy interrupted, a file from another tool) would
    otherwise surface as a NumPy traceback ("Cannot load file containing pickled data");
    like a wrong row count, it gets the one-line "delete it and run make repair".
    """
    fix = f"it was damaged or overwritten; delete it and {REPAIR} (resize writes it again)"
    try:
        images = np.load(path, mmap_mode="r", allow_pickle=False)
    except (ValueError, OSError, EOFError) as error:
        raise DataMismatch(f"{path} is not a readable NumPy array ({error}); {fix}") from None
    shape = getattr(images, "shape", ())
    if (
        not isinstance(images, np.ndarray)
        or images.dtype != np.uint8
        or len(shape) != 4
        or shape[1] != shape[2]
        or shape[3] != 3
    ):
        kind = getattr(images, "dtype", type(images).__name__)
        raise DataMismatch(
            f"{path} holds {kind} {shape}, not resized images (N, S, S, 3) uint8; {fix}"
        )
    return images


def load(
    images_path: str | Path,
    splits_path: str | Path,
    labels_path: str | Path,
    manifest_path: str | Path | None = None,
) -> ResizedData:
    """Read and cross-check the inputs of a training job; raise on any disagreement."""
    images = load_images(images_path)
    splits = read_table(splits_path)
    labels = read_labels(labels_path)
    check_splits(splits)
    if len(images) != len(splits):
        raise DataMismatch(
            f"{images_path} has {len(images)} images but {splits_path} lists {len(splits)}; "
            f"they come from different ingests; delete both and {REPAIR}"
        )
    check_labels(labels, set(splits.label), str(labels_path))
    if manifest_path is not None:
        check_row_order(splits, manifest_path, splits_path)
    index = {label: i for i, label in enumerate(labels)}
    y = splits.label.map(index).to_numpy(dtype=np.int64)
    return ResizedData(images, y, labels, splits)


def array_for_size(arrays: list[str], size: int) -> str:
    """The resized array ``.../arrays/{size}.npy`` among the rule's inputs."""
    for path in arrays:
        if Path(path).stem == str(size):
            return path
    raise DataMismatch(
        f"no resized array for the chosen size {size} among {', '.join(arrays)}; "
        "the size must be in resize.sizes"
    )
