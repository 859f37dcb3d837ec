"""The report's "Measured on a phone" section: the phone check's pooled runs per variant
and mode, with counts and the 95% Wilson interval (mobileclf.stats), next to the same
variant's emulated path and computer path from tables/mobile.csv."""

from __future__ import annotations

import pandas as pd

from mobileclf.phone_check.verdict import measured_counts, read_measured
from mobileclf.report.blocks import Section, Table

INTRO = (
    "The phone check (docs/phone-check.md) runs the deployed bundle in the phone's browser "
    "(MediaPipe Tasks for web) on the holdout sheet: camera mode through the rear camera, "
    "gallery mode on the holdout files. All runs posted back are pooled; where a variant "
    "was measured in a mode, the verdict uses the measured figure instead of the emulated one."
)
COLUMNS = ("variant", "mode", "n_correct", "n_images", "accuracy", "low", "high")
COLUMNS += ("emulated", "computer", "runs", "devices")


def _emulated(table: pd.DataFrame | None, variant: str, path: str, severity=None) -> float:
    if table is None:
        return float("nan")
    rows = table[(table.subset == "holdout") & (table.variant == variant) & (table.path == path)]
    if severity is not None:
        rows = rows[rows.severity.astype(float) == float(severity)]
    return float(rows.accuracy.iloc[0]) if len(rows) else float("nan")


def phone_measured_section(data) -> Section:
    """``data``: :class:`mobileclf.report.inputs.ReportData`."""
    section = Section("Measured on a phone (phone check)", "phone_measured").text(INTRO)
    path = data.inputs.phone_measured
    measured = read_measured(str(path)) if path is not None and path.exists() else None
    if measured is None:
        return section.text(
            "No phone run yet: serve the page with `python scripts/serve_phone_check.py "
            f"results/{data.inputs.dataset} --lan`, score the sheet, send the results, and "
            "run the workflow again."
        )
    severity = data.verdict.get("thresholds", {}).get("camera_severity")
    counts = measured_counts(measured)
    counts["emulated"] = [
        _emulated(data.mobile, v, m, severity if m == "camera" else None)
        for v, m in zip(counts.variant, counts["mode"], strict=True)
    ]
    counts["computer"] = [_emulated(data.mobile, v, "computer") for v in counts.variant]
    counts["devices"] = [
        ", ".join(sorted(set(measured[(measured.variant == v) & (measured["mode"] == m)].device)))
        for v, m in zip(counts.variant, counts["mode"], strict=True)
    ]
    section.blocks.append(
        Table(
            f"Measured accuracy (95% Wilson interval) against the emulated path (camera: "
            f"severity {severity}) and the computer path of the same variant",
            counts[[*COLUMNS]],
            "phone_measured",
            {"accuracy", "low", "high", "emulated", "computer"},
        )
    )
    return section
