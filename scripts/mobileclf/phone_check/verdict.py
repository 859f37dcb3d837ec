"""Measured phone runs into the verdict and the report.

The verdict (:func:`mobileclf.mobile.verdict.decide`) judges each variant on two
criteria read from tables/mobile.csv: gallery accuracy and camera accuracy at
``mobile.thresholds.camera_severity``, emulated. Where the phone measured a variant in a
mode (tables/phone_measured.csv, all runs pooled: every scored image counts), that
criterion's row is replaced by the measured counts before deciding, so the same rule
(Wilson interval against the threshold, mobileclf.stats) decides on real light, lens and
hand instead of the emulation; the verdict lists what it used under ``measured`` and its
summary says so. The paired drop columns of a replaced row are cleared: they compare
emulated paths of the same images and do not apply to another set of views.
"""

from __future__ import annotations

import math

import pandas as pd

from mobileclf import stats

MODE_PATH = {"gallery": "gallery", "camera": "camera"}


def read_measured(path: str | None) -> pd.DataFrame | None:
    """tables/phone_measured.csv, or None when absent or empty (no phone run yet)."""
    if not path:
        return None
    table = pd.read_csv(path, keep_default_na=False)
    return table if len(table) else None


def measured_counts(measured: pd.DataFrame) -> pd.DataFrame:
    """Per variant and mode: images, correct, accuracy and the 95% Wilson interval."""
    correct = measured.correct.astype(str).str.lower() == "true"
    counts = (
        measured.assign(correct=correct)
        .groupby(["variant", "mode"], sort=True)
        .agg(n_images=("correct", "size"), n_correct=("correct", "sum"), runs=("run", "nunique"))
        .reset_index()
    )
    counts["accuracy"] = counts.n_correct / counts.n_images
    interval = [
        stats.wilson_interval(int(k), int(n))
        for k, n in zip(counts.n_correct, counts.n_images, strict=True)
    ]
    counts["low"] = [low for low, _ in interval]
    counts["high"] = [high for _, high in interval]
    return counts


def with_measured(
    table: pd.DataFrame, measured: pd.DataFrame | None, severity: int
) -> pd.DataFrame:
    """tables/mobile.csv with the measured counts in place of the emulated criterion rows
    (the gallery row; the camera row at ``severity``) of each measured variant."""
    if measured is None:
        return table
    table = table.copy()
    for row in measured_counts(measured).itertuples():
        where = (table.variant == row.variant) & (table.path == MODE_PATH[row.mode])
        if "subset" in table:
            where &= table.subset == "holdout"
        if row.mode == "camera":
            where &= table.severity.astype(float) == float(severity)
        if not where.any():  # that severity was not emulated: the measured row stands alone
            added = {"subset": "holdout", "variant": row.variant, "path": MODE_PATH[row.mode]}
            added["severity"] = severity if row.mode == "camera" else math.nan
            table = pd.concat([table, pd.DataFrame([added])], ignore_index=True)
            where = pd.Series(False, index=table.index)
            where.iloc[-1] = True
        table.loc[where, ["n_images", "n_correct", "accuracy"]] = [
            row.n_images,
            row.n_correct,
            row.accuracy,
        ]
        for column in ("drop_low", "drop_high", "drop_p_value"):
            if column in table:
                table.loc[where, column] = math.nan
    return table


def note_measured(verdict: dict, measured: pd.DataFrame | None) -> dict:
    """The verdict saying which of its figures were measured on a phone."""
    if measured is None:
        return {**verdict, "measured": []}
    counts = measured_counts(measured)
    used = counts.to_dict("records")
    said = "; ".join(f"{r['variant']} {r['mode']} {r['n_correct']}/{r['n_images']}" for r in used)
    devices = sorted(set(measured.device))
    return {
        **verdict,
        "summary": f"{verdict['summary']} (Measured on a phone, replacing the emulation: "
        f"{said}; {len(devices)} device(s).)",
        "measured": used,
        "measured_devices": devices,
    }
