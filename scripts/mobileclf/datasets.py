"""Load what training jobs need: the resized array, labels, splits, checked for consistency."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from mobileclf.splits import check_splits


class DataMismatch(Exception):
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


def load(images_path: str | Path, splits_path: str | Path, labels_path: str | Path) -> ResizedData:
    images = np.load(images_path, mmap_mode="r")
    splits = pd.read_csv(splits_path, dtype={"group": str}, keep_default_na=False)
    labels = read_labels(labels_path)
    check_splits(splits)
    if len(images) != len(splits):
        raise DataMismatch(
            f"{images_path} has {len(images)} images but {splits_path} lists {len(splits)}; "
            "delete both and rerun (they come from different ingests)"
        )
    unknown = sorted(set(splits.label) - set(labels))
    if unknown:
        raise DataMismatch(f"{splits_path} has labels {unknown} missing from {labels_path}")
    index = {label: i for i, label in enumerate(labels)}
    y = splits.label.map(index).to_numpy(dtype=np.int64)
    return ResizedData(images, y, labels, splits)
