"""The report's computer-vs-phone tables: every CV cell on the computer, gallery and camera
paths (tables/cv_summary.csv), and the verdict's comparison of the selected cell with the
best phone-path cell (verdict.json ``phone_comparison``, :mod:`mobileclf.mobile.phone_lever`).
"""

from __future__ import annotations

import html

import pandas as pd

from mobileclf.report.blocks import Table


def cv_phone_table(summary: pd.DataFrame) -> list:
    """Mean CV accuracy per cell on each path; nothing for a summary without phone metrics."""
    cameras = sorted(
        (c for c in summary if c.startswith("mean_camera_accuracy_s")),
        key=lambda c: int(c.rsplit("s", 1)[1]),
    )
    if "mean_gallery_accuracy" not in summary:
        return []
    frame = summary[["arch", "generator", "size", "mean_accuracy", "mean_gallery_accuracy"]]
    frame = frame.join(summary[cameras]).rename(
        columns={
            "mean_accuracy": "computer",
            "mean_gallery_accuracy": "gallery",
            **{c: f"camera_s{c.rsplit('s', 1)[1]}" for c in cameras},
        }
    )
    caption = (
        "Computer vs phone per cell: mean CV accuracy on the fold's test images through the "
        "training preprocessing, the gallery path and the camera path per severity"
    )
    return [Table(caption, frame, "cv_phone", set(frame.columns[3:]))]


def verdict_phone_blocks(verdict: dict) -> list:
    """The selected cell and the best phone-path cell, computer vs phone (CV means)."""
    comparison = verdict.get("phone_comparison")
    if not comparison:
        return []
    frame = pd.DataFrame(comparison["rows"])
    blocks: list = []
    if len(frame):
        caption = "Computer vs phone (CV means): the selected cell and the best phone-path cell"
        blocks.append(Table(caption, frame, "phone_comparison", set(frame.columns[2:])))
    if comparison.get("note"):
        blocks.append(html.escape(comparison["note"][0].upper() + comparison["note"][1:] + "."))
    return blocks
