"""What a report section is made of (tables, figures, callouts, text) and how a cell is
formatted; shared by the HTML and Markdown renderers (:mod:`mobileclf.report.render`)."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from mobileclf.stats import wilson_interval  # noqa: F401 (the report's intervals, re-exported)

PERCENT_COLUMNS = {
    "accuracy",
    "macro_f1",
    "sensitivity",
    "specificity",
    "drop_vs_computer",
    "computer",
    "gallery",
    "camera",
    "mean_accuracy",
    "std_accuracy",
    "agreement",
    # the intervals of mobileclf.stats (tables/mobile.csv, verdict evidence)
    "accuracy_low",
    "accuracy_high",
    "drop_low",
    "drop_high",
    "gallery_low",
    "gallery_high",
    "camera_low",
    "camera_high",
    "gallery_drop_low",
    "gallery_drop_high",
    "camera_drop_low",
    "camera_drop_high",
    # issue 16: the bundle in MediaPipe Tasks (tables/mobile.csv path mediapipe)
    "mediapipe",
    "litert_agreement",
    "litert_agreement_same_input",
}


@dataclass
class Table:
    caption: str
    frame: pd.DataFrame
    key: str  # stable id: tests and readers find tables by it
    percent: set[str] = field(default_factory=set)


@dataclass
class Figure:
    caption: str
    path: Path


@dataclass
class Callout:
    text: str
    good: bool


@dataclass
class Section:
    title: str
    key: str
    blocks: list = field(default_factory=list)

    def text(self, value: str) -> Section:
        self.blocks.append(value)
        return self


def _is_percent(column: str, percent: set[str]) -> bool:
    base = column.split("/")[-1]
    return (
        column in percent
        or base in PERCENT_COLUMNS
        or base.startswith(("camera_s", "drop_s"))
        or base.endswith("_accuracy")
    )


def format_cell(value: object, percent: bool) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA:
        return ""
    if isinstance(value, (bool, np.bool_)):
        return "yes" if value else "no"
    if isinstance(value, (float, np.floating)):
        if percent:
            return f"{100 * float(value):.1f}%"
        return f"{float(value):.4g}" if abs(float(value)) < 1e5 else f"{float(value):,.0f}"
    if isinstance(value, (int, np.integer)):
        return f"{int(value):,}" if abs(int(value)) >= 10000 else str(int(value))
    return str(value)


def formatted(table: Table) -> list[list[str]]:
    frame = table.frame
    flags = [_is_percent(str(c), table.percent) for c in frame.columns]
    return [
        [format_cell(v, flag) for v, flag in zip(row, flags, strict=True)]
        for row in frame.itertuples(index=False)
    ]


def key_values(data: dict, skip: tuple[str, ...] = ()) -> pd.DataFrame:
    """A JSON file as an item/value table (long lists and dicts shortened)."""
    rows = []
    for key, value in data.items():
        if key in skip:
            continue
        if isinstance(value, (list, dict)):
            value = json.dumps(value)
            value = value if len(value) < 120 else value[:117] + "..."
        rows.append({"item": key, "value": value})
    return pd.DataFrame(rows, columns=["item", "value"])
