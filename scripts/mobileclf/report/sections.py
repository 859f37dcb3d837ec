"""The report's sections, one function each, from the rule's inputs read once
(:class:`mobileclf.report.inputs.ReportData`).

Written for a clinician-researcher reading top to bottom: the answer first, then the data,
the cross-validation grid in the paper's format, the selection, the reduction, the
export, the phone emulation, latency, time spent, the verdict, and which numbers are
optimistic. A section whose inputs are absent (e.g. reduction switched off) says so
instead of disappearing.
"""

from __future__ import annotations

import html

import numpy as np
import pandas as pd

from mobileclf.phone_check.report import phone_measured_section
from mobileclf.report.blocks import Callout, Figure, Section, Table, key_values, wilson_interval
from mobileclf.report.inputs import ReportData, ReportInputs
from mobileclf.report.phone import cv_phone_table, verdict_phone_blocks


def build_sections(inputs: ReportInputs) -> tuple[Callout, list[Section]]:
    """The headline and all sections of one dataset's report."""
    data = inputs.load()
    sections = [
        dataset_section(data),
        cv_section(data),
        selection_section(data),
        reduction_section(data),
        export_section(data),
        mobile_section(data),
        phone_measured_section(data),
        latency_section(data),
        time_section(data),
        verdict_section(data),
        optimism_section(data),
    ]
    headline = Callout(
        data.verdict.get("summary", "No verdict (the mobile stage has not run)."),
        bool(data.verdict.get("deployable")),
    )
    return headline, sections


def dataset_section(data: ReportData) -> Section:
    section = Section("1. The images", "dataset")
    manifest, splits = data.manifest, data.splits
    if manifest is None:
        return section
    ok = manifest[manifest.status == "ok"]
    counts = ok.groupby("label").size().rename("accepted").to_frame()
    if splits is not None:
        counts["holdout"] = splits[splits.set == "holdout"].groupby("label").size()
        counts["cross-validation"] = splits[splits.set == "cv"].groupby("label").size()
    counts = counts.fillna(0).astype(int).reset_index()
    section.text(
        f"{len(manifest)} files found, {len(ok)} accepted, "
        f"{int((manifest.status != 'ok').sum())} rejected. Image sides range "
        f"{int(ok.width.min())}-{int(ok.width.max())} × {int(ok.height.min())}-"
        f"{int(ok.height.max())} px. The holdout images are never used for training "
        "or selection; every phone test below runs on them."
    )
    section.blocks.append(Table("Images per class and role", counts, "classes"))
    rejects = manifest[manifest.status != "ok"][["path", "reason"]]
    section.blocks.append(
        Table(
            "Rejected files and why (fix or remove them; none is used)",
            rejects if len(rejects) else pd.DataFrame({"path": ["(none)"], "reason": [""]}),
            "rejects",
        )
    )
    return section


def _paper_cv_tables(summary: pd.DataFrame) -> list[Table]:
    tables = []
    for arch, part in summary.groupby("arch", sort=True):
        wide = part.pivot(index="size", columns="generator", values="accuracy_text").reset_index()
        wide.columns.name = None
        tables.append(
            Table(
                f"Cross-validation accuracy (%) of {arch}, mean (+- std) over folds "
                "(layout of the paper's Tables 3-8)",
                wide,
                f"cv_{arch}",
            )
        )
    return tables


def cv_section(data: ReportData) -> Section:
    section = Section("2. Cross-validation grid", "cv")
    if data.cv_summary is not None:
        section.blocks.extend(_paper_cv_tables(data.cv_summary))
        if ties := _ties_text(data.cv_summary):
            section.text(html.escape(ties))
        section.blocks.extend(cv_phone_table(data.cv_summary))
    heatmap = data.inputs.cv_heatmap
    if heatmap is not None and heatmap.exists():
        section.blocks.append(Figure("Mean CV accuracy per image size × generator", heatmap))
    return section


def _ties_text(summary: pd.DataFrame) -> str:
    """Which cells the folds cannot tell from the best (tables/cv_summary.csv)."""
    if "tied_with_best" not in summary:
        return ""
    tied = summary[summary.tied_with_best.astype(str).str.lower() == "true"]
    cells = ", ".join(f"{r.arch}/{r.generator}/{int(r.size)}" for r in tied.itertuples())
    return (
        f"Cells tied with the best ({cells}): the 95% interval of the per-fold accuracy gap "
        "to the best cell, paired over the same folds, reaches 0, so these folds cannot say "
        "which is better (columns gap_to_best, gap_low, gap_high, tied_with_best)."
    )


def selection_section(data: ReportData) -> Section:
    section = Section("3. Selected configuration", "selection")
    if data.selection:
        section.text(data.selection.get("note", ""))
        if data.selection.get("tie_note"):
            section.text(html.escape(data.selection["tie_note"]))
        section.blocks.append(
            Table("selection.json", key_values(data.selection, ("note", "tie_note")), "selection")
        )
    return section


def reduction_section(data: ReportData) -> Section:
    section = Section("4. Parameter reduction", "reduction")
    if not data.reduction:
        return section.text(
            "Parameter reduction is switched off (reduction.enabled: false) or did not run: "
            "the selected architecture was exported as configured."
        )
    section.blocks.append(
        Table("reduction.json", key_values(data.reduction, ("layers",)), "reduction")
    )
    if data.reduction_grid is not None:
        section.blocks.append(
            Table(
                "Reduction grid (tables/reduction.csv, first 40 rows)",
                data.reduction_grid.head(40),
                "reduction_grid",
            )
        )
    for png in data.reduction_plots:
        section.blocks.append(Figure(png.stem.replace("_", " "), png))
    return section


def export_section(data: ReportData) -> Section:
    section = Section("5. Final model and TFLite export", "export")
    if data.spec:
        section.blocks.append(Table("final/spec.json", key_values(data.spec), "spec"))
    if data.final_metrics:
        keep = {
            k: v
            for k, v in data.final_metrics.items()
            if not isinstance(v, (dict, list)) and k not in ("input_scale",)
        }
        section.blocks.append(
            Table(
                "Final Keras model on the holdout (final/metrics.json)",
                key_values(keep),
                "final_metrics",
            )
        )
    if data.export is not None:
        section.blocks.append(
            Table(
                "TFLite variants: size and agreement with the Keras model (tables/export.csv)",
                data.export,
                "export",
            )
        )
    return section


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


MOBILE_INTRO = (
    "Three input paths per holdout image. <b>computer</b>: the training preprocessing. "
    "<b>gallery</b>: the picture loaded from the phone's gallery (Flutter template: decode, "
    "Android bilinear scaling without antialiasing). <b>camera</b>: the phone pointed at the "
    "picture on a screen or paper (TensorFlow Lite Android template: 480×640 portrait frame, "
    "centre crop 480×480, nearest-neighbour resize, rotation); severity 0 is the picture "
    "filling the frame with nothing else, higher severities add distance/background, light, "
    "tilt, defocus, sensor noise, YUV420 chroma subsampling and JPEG compression. "
    "'drop' is the accuracy lost against the Keras model on the computer path."
)


def mobile_section(data: ReportData) -> Section:
    section = Section("6. On the phone (emulated)", "mobile").text(MOBILE_INTRO)
    table = data.mobile
    if table is not None:
        section.blocks += [
            Table(
                "Accuracy per model variant: computer → gallery → camera "
                "severity (holdout), and the drop from computer to camera "
                "at each severity",
                camera_drop_table(table),
                "camera_drop",
            ),
            Table(
                "tables/mobile.csv (holdout): every variant × path × severity",
                table[table.subset == "holdout"].drop(columns="subset"),
                "mobile",
            ),
            Table(
                "Paper-style phone test (the images listed below): accuracy per path and the "
                "drop from computer to camera (all metrics in tables/mobile.csv, subset "
                "phone_test)",
                camera_drop_table(table, "phone_test"),
                "mobile_phone_test",
            ),
        ]
    listing = data.phone_test
    if listing is not None:
        columns = ["image", "label"] + [
            c
            for c in listing.columns
            if c.startswith(("keras/computer", "int8/gallery", "float32/camera"))
        ]
        section.blocks.append(
            Table(
                "The phone-test images and what the models answered "
                "(all variants in tables/phone_test.csv)",
                listing[columns],
                "phone_test",
            )
        )
    for path, caption in (
        (data.inputs.robustness, "Accuracy against camera severity per variant"),
        (
            data.inputs.contact_sheet,
            "What the model saw: stored image, camera frame and model input per severity",
        ),
    ):
        if path is not None and path.exists():
            section.blocks.append(Figure(caption, path))
    return section


LATENCY_COLUMNS = (
    "variant",
    "threads",
    "median_ms",
    "p90_ms",
    "load_ms",
    "peak_rss_delta_mb",
    "model_bytes",
    "input_dtype",
)


def latency_section(data: ReportData) -> Section:
    section = Section("7. Speed and memory", "latency")
    table = data.latency
    if table is None:
        return section
    cpus = table.cpu_count.iloc[0] if "cpu_count" in table and len(table) else "?"
    section.text(
        f"LiteRT interpreter with XNNPACK on this computer ({cpus} CPU cores), one image "
        "per call after warm-up. A phone is typically several times slower; the ratios "
        "between variants carry over. With more threads than cores the 4-thread figures "
        "are not meaningful."
    )
    columns = [c for c in LATENCY_COLUMNS if c in table]
    section.blocks.append(Table("tables/latency.csv", table[columns], "latency"))
    return section


def time_section(data: ReportData) -> Section:
    section = Section("8. Time spent per stage", "time")
    section.text(
        f"From Snakemake benchmark files: {data.times.total_minutes.sum():.1f} minutes of job "
        "time in total (jobs running side by side overlap, so the wall clock was shorter). "
        "The paper reports 10-600 minutes per image size for training on a GPU."
    )
    section.blocks.append(
        Table("Job time per stage (benchmarks/<stage>/...)", data.times, "time", {"share"})
    )
    return section


def verdict_section(data: ReportData) -> Section:
    section = Section("9. Verdict and what to try next", "verdict")
    verdict = data.verdict
    if not verdict:
        return section
    section.blocks.append(Callout(verdict["summary"], bool(verdict["deployable"])))
    evidence = pd.DataFrame(verdict.get("evidence", []))
    if len(evidence):
        thresholds = verdict["thresholds"]
        section.blocks.append(
            Table(
                "Evidence (thresholds: gallery "
                f"{thresholds['gallery_accuracy']:.0%}, camera "
                f"severity {thresholds['camera_severity']} "
                f"{thresholds['camera_accuracy']:.0%})",
                evidence,
                "verdict",
            )
        )
    section.blocks.extend(verdict_phone_blocks(verdict))
    steps = pd.DataFrame(verdict.get("next_steps", []), columns=["action", "because"])
    section.blocks.append(
        Table(
            "What to try next (the paper's loop, chosen from the measured tables)",
            steps
            if len(steps)
            else pd.DataFrame({"action": ["nothing required"], "because": [""]}),
            "next_steps",
        )
    )
    return section


def optimism_section(data: ReportData) -> Section:
    """Which numbers are optimistic, and by how much they could be off."""
    section = Section("10. Which numbers are optimistic", "optimism")
    items = []
    selection, final_metrics, table = data.selection, data.final_metrics, data.mobile
    if selection:
        holdout = final_metrics.get("accuracy") if final_metrics else None
        items.append(
            "The CV accuracy of the selected configuration "
            f"({selection['mean_accuracy']:.1%}) is the "
            f"best of {selection.get('candidates', 'several')} cells scored on the same "
            "folds (winner's "
            "curse)"
            + (
                f"; the holdout accuracy of the final model is {holdout:.1%}."
                if holdout is not None
                else "."
            )
        )
    if table is not None:
        items += _sample_size_items(table)
    if data.splits is not None and (data.splits.group.fillna("").astype(str) == "").all():
        items.append(
            "No group (patient) ids: slices of one patient can sit in training and holdout, "
            "which makes every accuracy here optimistic for new patients."
        )
    items.append(
        "The camera path is an emulation: real screens add moiré and glare, real cameras "
        "auto-expose and sharpen, and hands shake. The severity levels are assumptions "
        "set in config (mobile.camera_levels); at severity 0 a non-square picture is fitted "
        "to the frame width, so the 480×480 crop still shows background above and below it. "
        "Confirm on a phone before clinical use."
    )
    if data.latency is not None:
        items.append("Latency was measured on this computer's CPU, not on a phone.")
    section.blocks.append("<ul>" + "".join(f"<li>{html.escape(i)}</li>" for i in items) + "</ul>")
    return section


def _sample_size_items(table: pd.DataFrame) -> list[str]:
    """How much the holdout and the phone test can say, given their sizes."""
    items = []
    base = table[
        (table.subset == "holdout") & (table.variant == "keras") & (table.path == "computer")
    ]
    if len(base):
        n = int(base.n_images.iloc[0])
        low, high = wilson_interval(round(base.accuracy.iloc[0] * n), n)
        items.append(
            f"The holdout has {n} images: its accuracy {base.accuracy.iloc[0]:.1%} has a 95% "
            f"interval of {low:.0%}-{high:.0%}; differences between rows smaller than "
            "that are noise."
        )
    phone = table[(table.subset == "phone_test")]
    if len(phone):
        n = int(phone.n_images.iloc[0])
        items.append(
            f"The paper-style phone test has {n} images: one image changes its accuracy by "
            f"{1 / n:.0%}. Use it to compare with the paper, not to decide."
        )
    return items
