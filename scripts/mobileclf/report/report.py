"""The per-dataset report (HTML with embedded images, and Markdown) and the index page.

Written for a clinician-researcher reading top to bottom: the answer first, then the data,
the cross-validation grid in the paper's format, the selection, the reduction, the
export, the phone emulation, latency, time spent, the verdict, and which numbers are
optimistic. Every section reads files the workflow wrote; a section whose files are
absent (e.g. reduction switched off) says so instead of disappearing.
"""

from __future__ import annotations

import base64
import html
import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from mobileclf.mobile.tables import camera_drop_table

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


# --- formatting -------------------------------------------------------------------------


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


def wilson_interval(successes: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """95% interval of a proportion; honest for the small n of holdouts and phone tests."""
    if n == 0:
        return math.nan, math.nan
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


# --- reading the workflow's files -------------------------------------------------------


def _json(path: Path) -> dict | None:
    return json.loads(path.read_text()) if path.exists() else None


def _csv(path: Path) -> pd.DataFrame | None:
    return pd.read_csv(path, keep_default_na=False, na_values=[""]) if path.exists() else None


def key_values(data: dict, skip: tuple[str, ...] = ()) -> pd.DataFrame:
    rows = []
    for key, value in data.items():
        if key in skip:
            continue
        if isinstance(value, (list, dict)):
            value = json.dumps(value)
            value = value if len(value) < 120 else value[:117] + "..."
        rows.append({"item": key, "value": value})
    return pd.DataFrame(rows, columns=["item", "value"])


def benchmark_times(benchmarks: Path, dataset: str) -> pd.DataFrame:
    """Wall-clock time per stage from Snakemake ``benchmark:`` files (the paper's time
    breakdown): benchmarks/<rule>/<dataset>[/...].tsv, summed per rule."""
    rows = []
    for path in sorted(benchmarks.glob("*/**/*.tsv")):
        parts = path.relative_to(benchmarks).parts
        if len(parts) < 2 or (parts[1] != dataset and parts[1] != f"{dataset}.tsv"):
            continue
        frame = pd.read_csv(path, sep="\t")
        if frame.empty or "s" not in frame:
            continue
        rss = pd.to_numeric(frame.get("max_rss", pd.Series(dtype=float)), errors="coerce")
        rows.append(
            {
                "stage": parts[0],
                "seconds": float(frame.s.mean()),
                "max_rss_mb": float(rss.max()) if rss.notna().any() else math.nan,
            }
        )
    if not rows:
        return pd.DataFrame(
            columns=["stage", "jobs", "total_minutes", "longest_job_s", "max_rss_mb", "share"]
        )
    jobs = pd.DataFrame(rows)
    table = (
        jobs.groupby("stage", sort=False)
        .agg(
            jobs=("seconds", "size"),
            total_seconds=("seconds", "sum"),
            longest_job_s=("seconds", "max"),
            max_rss_mb=("max_rss_mb", "max"),
        )
        .reset_index()
    )
    table["share"] = table.total_seconds / table.total_seconds.sum()
    table["total_minutes"] = table.total_seconds / 60
    table = table.sort_values("total_seconds", ascending=False)
    return table[["stage", "jobs", "total_minutes", "longest_job_s", "max_rss_mb", "share"]]


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


# --- the sections -----------------------------------------------------------------------


def build_sections(results: Path, dataset: str, benchmarks: Path) -> tuple[Callout, list[Section]]:
    """All sections of one dataset's report, from the files under ``results``."""
    verdict = _json(results / "verdict.json") or {}
    sections: list[Section] = []

    # dataset
    manifest = _csv(results / "manifest.csv")
    splits = _csv(results / "splits.csv")
    data = Section("1. The images", "dataset")
    if manifest is not None:
        ok = manifest[manifest.status == "ok"]
        counts = ok.groupby("label").size().rename("accepted").to_frame()
        if splits is not None:
            counts["holdout"] = splits[splits.set == "holdout"].groupby("label").size()
            counts["cross-validation"] = splits[splits.set == "cv"].groupby("label").size()
        counts = counts.fillna(0).astype(int).reset_index()
        data.text(
            f"{len(manifest)} files found, {len(ok)} accepted, "
            f"{int((manifest.status != 'ok').sum())} rejected. Image sides range "
            f"{int(ok.width.min())}-{int(ok.width.max())} × {int(ok.height.min())}-"
            f"{int(ok.height.max())} px. The holdout images are never used for training "
            "or selection; every phone test below runs on them."
        )
        data.blocks.append(Table("Images per class and role", counts, "classes"))
        rejects = manifest[manifest.status != "ok"][["path", "reason"]]
        data.blocks.append(
            Table(
                "Rejected files and why (fix or remove them; none is used)",
                rejects if len(rejects) else pd.DataFrame({"path": ["(none)"], "reason": [""]}),
                "rejects",
            )
        )
    sections.append(data)

    # cross-validation
    cv = Section("2. Cross-validation grid", "cv")
    summary = _csv(results / "tables" / "cv_summary.csv")
    if summary is not None:
        cv.blocks.extend(_paper_cv_tables(summary))
    if (results / "plots" / "cv_heatmap.png").exists():
        cv.blocks.append(
            Figure(
                "Mean CV accuracy per image size × generator", results / "plots" / "cv_heatmap.png"
            )
        )
    sections.append(cv)

    # selection
    selection = _json(results / "selection.json")
    select = Section("3. Selected configuration", "selection")
    if selection:
        select.text(selection.get("note", ""))
        select.blocks.append(Table("selection.json", key_values(selection, ("note",)), "selection"))
    sections.append(select)

    # reduction
    reduction = _json(results / "reduction.json")
    reduce = Section("4. Parameter reduction", "reduction")
    if reduction:
        reduce.blocks.append(
            Table("reduction.json", key_values(reduction, ("layers",)), "reduction")
        )
        grid = _csv(results / "tables" / "reduction.csv")
        if grid is not None:
            reduce.blocks.append(
                Table(
                    "Reduction grid (tables/reduction.csv, first 40 rows)",
                    grid.head(40),
                    "reduction_grid",
                )
            )
        for png in sorted((results / "plots").glob("reduction*.png")):
            reduce.blocks.append(Figure(png.stem.replace("_", " "), png))
    else:
        reduce.text(
            "Parameter reduction is switched off (reduction.enabled: false) or did not run: "
            "the selected architecture was exported as configured."
        )
    sections.append(reduce)

    # export
    export = Section("5. Final model and TFLite export", "export")
    spec = _json(results / "final" / "spec.json")
    final_metrics = _json(results / "final" / "metrics.json")
    if spec:
        export.blocks.append(Table("final/spec.json", key_values(spec), "spec"))
    if final_metrics:
        keep = {
            k: v
            for k, v in final_metrics.items()
            if not isinstance(v, (dict, list)) and k not in ("input_scale",)
        }
        export.blocks.append(
            Table(
                "Final Keras model on the holdout (final/metrics.json)",
                key_values(keep),
                "final_metrics",
            )
        )
    export_table = _csv(results / "tables" / "export.csv")
    if export_table is not None:
        export.blocks.append(
            Table(
                "TFLite variants: size and agreement with the Keras model (tables/export.csv)",
                export_table,
                "export",
            )
        )
    sections.append(export)

    # mobile
    mobile = Section("6. On the phone (emulated)", "mobile")
    table = _csv(results / "tables" / "mobile.csv")
    mobile.text(
        "Three input paths per holdout image. <b>computer</b>: the training preprocessing. "
        "<b>gallery</b>: the picture loaded from the phone's gallery (Flutter template: decode, "
        "Android bilinear scaling without antialiasing). <b>camera</b>: the phone pointed at the "
        "picture on a screen or paper (TensorFlow Lite Android template: 480×640 portrait frame, "
        "centre crop 480×480, nearest-neighbour resize, rotation); severity 0 is the picture "
        "filling the frame with nothing else, higher severities add distance/background, light, "
        "tilt, defocus, sensor noise, YUV420 chroma subsampling and JPEG compression. "
        "'drop' is the accuracy lost against the Keras model on the computer path."
    )
    if table is not None:
        mobile.blocks.append(
            Table(
                "Accuracy per model variant: computer → gallery → camera "
                "severity (holdout), and the drop from computer to camera "
                "at each severity",
                camera_drop_table(table),
                "camera_drop",
            )
        )
        holdout = table[table.subset == "holdout"].drop(columns="subset")
        mobile.blocks.append(
            Table("tables/mobile.csv (holdout): every variant × path × severity", holdout, "mobile")
        )
        mobile.blocks.append(
            Table(
                "Paper-style phone test (the images listed below): accuracy per path and the "
                "drop from computer to camera (all metrics in tables/mobile.csv, subset "
                "phone_test)",
                camera_drop_table(table, "phone_test"),
                "mobile_phone_test",
            )
        )
    listing = _csv(results / "tables" / "phone_test.csv")
    if listing is not None:
        columns = ["image", "label"] + [
            c
            for c in listing.columns
            if c.startswith(("keras/computer", "int8/gallery", "float32/camera"))
        ]
        mobile.blocks.append(
            Table(
                "The phone-test images and what the models answered "
                "(all variants in tables/phone_test.csv)",
                listing[columns],
                "phone_test",
            )
        )
    for name, caption in (
        ("mobile_robustness.png", "Accuracy against camera severity per variant"),
        (
            "camera_contact_sheet.png",
            "What the model saw: stored image, camera frame and model input per severity",
        ),
    ):
        if (results / "plots" / name).exists():
            mobile.blocks.append(Figure(caption, results / "plots" / name))
    sections.append(mobile)

    # latency
    latency = Section("7. Speed and memory", "latency")
    latency_table = _csv(results / "tables" / "latency.csv")
    if latency_table is not None:
        cpus = (
            latency_table.cpu_count.iloc[0]
            if "cpu_count" in latency_table and len(latency_table)
            else "?"
        )
        latency.text(
            f"LiteRT interpreter with XNNPACK on this computer ({cpus} CPU cores), one image "
            "per call after warm-up. A phone is typically several times slower; the ratios "
            "between variants carry over. With more threads than cores the 4-thread figures "
            "are not meaningful."
        )
        columns = [
            c
            for c in (
                "variant",
                "threads",
                "median_ms",
                "p90_ms",
                "load_ms",
                "peak_rss_delta_mb",
                "model_bytes",
                "input_dtype",
            )
            if c in latency_table
        ]
        latency.blocks.append(Table("tables/latency.csv", latency_table[columns], "latency"))
    sections.append(latency)

    # time
    times = Section("8. Time spent per stage", "time")
    time_table = benchmark_times(benchmarks, dataset)
    times.text(
        f"From Snakemake benchmark files: {time_table.total_minutes.sum():.1f} minutes of job "
        "time in total (jobs running side by side overlap, so the wall clock was shorter). "
        "The paper reports 10-600 minutes per image size for training on a GPU."
    )
    times.blocks.append(
        Table("Job time per stage (benchmarks/<stage>/...)", time_table, "time", {"share"})
    )
    sections.append(times)

    # verdict
    decision = Section("9. Verdict and what to try next", "verdict")
    if verdict:
        decision.blocks.append(Callout(verdict["summary"], bool(verdict["deployable"])))
        evidence = pd.DataFrame(verdict.get("evidence", []))
        if len(evidence):
            decision.blocks.append(
                Table(
                    "Evidence (thresholds: gallery "
                    f"{verdict['thresholds']['gallery_accuracy']:.0%}, camera "
                    f"severity {verdict['thresholds']['camera_severity']} "
                    f"{verdict['thresholds']['camera_accuracy']:.0%})",
                    evidence,
                    "verdict",
                )
            )
        steps = pd.DataFrame(verdict.get("next_steps", []), columns=["action", "because"])
        decision.blocks.append(
            Table(
                "What to try next (the paper's loop, chosen from the measured tables)",
                steps
                if len(steps)
                else pd.DataFrame({"action": ["nothing required"], "because": [""]}),
                "next_steps",
            )
        )
    sections.append(decision)

    sections.append(optimism_section(table, selection, final_metrics, splits, latency_table))
    headline = Callout(
        verdict.get("summary", "No verdict (the mobile stage has not run)."),
        bool(verdict.get("deployable")),
    )
    return headline, sections


def optimism_section(table, selection, final_metrics, splits, latency_table) -> Section:
    """Which numbers are optimistic, and by how much they could be off."""
    section = Section("10. Which numbers are optimistic", "optimism")
    items = []
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
    if splits is not None and (splits.group.fillna("").astype(str) == "").all():
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
    if latency_table is not None:
        items.append("Latency was measured on this computer's CPU, not on a phone.")
    section.blocks.append("<ul>" + "".join(f"<li>{html.escape(i)}</li>" for i in items) + "</ul>")
    return section


# --- rendering --------------------------------------------------------------------------

CSS = """
body{font-family:-apple-system,Segoe UI,Helvetica,Arial,sans-serif;max-width:1100px;
margin:24px auto;
padding:0 16px;color:#1d2329;line-height:1.45}
h1{font-size:26px;margin-bottom:4px}
h2{font-size:20px;border-bottom:2px solid #dde3ea;padding-bottom:4px;
margin-top:36px}
table{border-collapse:collapse;margin:8px 0 18px;font-size:13px}
.caption{font-weight:600;padding:4px 0;color:#33414e;font-size:14px;margin-top:14px}
th,td{border:1px solid #ccd5de;padding:3px 8px;text-align:left;vertical-align:top}
.num{text-align:right}.wrap{overflow-x:auto;max-width:100%}th{background:#eef2f6}
tr:nth-child(even) td{background:#f8fafc}
figure{margin:10px 0 20px}figure img{max-width:100%;border:1px solid #dde3ea}
figcaption{font-size:13px;color:#4a5866}
.callout{padding:12px 16px;border-radius:6px;font-size:16px;font-weight:600;margin:12px 0}
.good{background:#e3f5e8;border-left:6px solid #2e8b57}
.bad{background:#fdecea;border-left:6px solid #c0392b}
nav a{margin-right:10px;font-size:13px}
"""


def _html_table(table: Table) -> str:
    numeric = [pd.api.types.is_numeric_dtype(table.frame[c]) for c in table.frame.columns]
    head = "".join(
        f"<th{' class=num' if n else ''}>{html.escape(str(c))}</th>"
        for c, n in zip(table.frame.columns, numeric, strict=True)
    )
    body = "".join(
        "<tr>"
        + "".join(
            f"<td{' class=num' if n else ''}>{html.escape(v)}</td>"
            for v, n in zip(row, numeric, strict=True)
        )
        + "</tr>"
        for row in formatted(table)
    )
    # the caption sits above the table, not in <caption>: a caption cannot be wider than
    # its table, and narrow tables would wrap it into a column of words
    return (
        f'<div class="caption">{html.escape(table.caption)}</div><div class="wrap">'
        f'<table id="table-{table.key}" data-table="{table.key}">'
        f"<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>"
    )


def _html_block(block) -> str:
    if isinstance(block, Table):
        return _html_table(block)
    if isinstance(block, Figure):
        data = base64.b64encode(block.path.read_bytes()).decode("ascii")
        return (
            f'<figure><img alt="{html.escape(block.caption)}" src="data:image/png;base64,{data}">'
            f"<figcaption>{html.escape(block.caption)}</figcaption></figure>"
        )
    if isinstance(block, Callout):
        css = "good" if block.good else "bad"
        return f'<div class="callout {css}">{html.escape(block.text)}</div>'
    return block if block.startswith("<") else f"<p>{block}</p>"


def render_html(title: str, headline: Callout, sections: list[Section]) -> str:
    nav = "".join(f'<a href="#{s.key}">{html.escape(s.title)}</a>' for s in sections)
    parts = [
        "<!DOCTYPE html><html lang='en'><head><meta "
        f"charset='utf-8'><title>{html.escape(title)}</title>"
        f"<style>{CSS}</style></head><body><h1>{html.escape(title)}</h1>",
        "<p>Produced by the mobileclf workflow. Answer first, evidence below.</p>",
        _html_block(headline),
        f"<nav>{nav}</nav>",
    ]
    for section in sections:
        parts.append(f'<section id="{section.key}"><h2>{html.escape(section.title)}</h2>')
        parts.extend(_html_block(b) for b in section.blocks)
        parts.append("</section>")
    parts.append("</body></html>")
    return "\n".join(parts)


def _markdown_table(table: Table) -> str:
    columns = [str(c) for c in table.frame.columns]
    lines = [
        f"**{table.caption}**",
        "",
        "| " + " | ".join(columns) + " |",
        "|" + "---|" * len(columns),
    ]
    lines += [
        "| " + " | ".join(v.replace("|", "/").replace("\n", " ") for v in row) + " |"
        for row in formatted(table)
    ]
    return "\n".join(lines) + "\n"


def _strip_tags(text: str) -> str:
    import re

    text = re.sub(r"<li>", "- ", text)
    text = re.sub(r"</li>", "\n", text)
    return re.sub(r"<[^>]+>", "", text)


def render_markdown(title: str, headline: Callout, sections: list[Section], base: Path) -> str:
    parts = [f"# {title}", "", f"> **{headline.text}**", ""]
    for section in sections:
        parts += [f"## {section.title}", ""]
        for block in section.blocks:
            if isinstance(block, Table):
                parts.append(_markdown_table(block))
            elif isinstance(block, Figure):
                parts += [f"![{block.caption}]({block.path.relative_to(base).as_posix()})", ""]
            elif isinstance(block, Callout):
                parts += [f"> **{block.text}**", ""]
            else:
                parts += [_strip_tags(block), ""]
    return "\n".join(parts) + "\n"


def render_index(verdicts: list[dict], reports: list[str]) -> str:
    """One page for a multi-dataset run: each dataset's verdict and a link to its report."""
    rows = []
    for verdict, link in zip(verdicts, reports, strict=True):
        css = "good" if verdict.get("deployable") else "bad"
        rows.append(
            f'<tr><td><a href="{html.escape(link)}">{html.escape(verdict["dataset"])}</a></td>'
            f'<td class="{css}">{"yes" if verdict.get("deployable") else "no"}</td>'
            f"<td>{html.escape(str(verdict.get('recommended_variant') or ''))}</td>"
            f"<td>{html.escape(verdict.get('summary', ''))}</td></tr>"
        )
    return (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>mobileclf "
        "results</title>"
        f"<style>{CSS}</style></head><body><h1>mobileclf: all datasets</h1>"
        "<div class='caption'>Verdict per dataset</div>"
        "<table id='table-index'><thead><tr><th>dataset</th>"
        "<th>deployable</th><th>variant</th><th>summary</th></tr></thead><tbody>"
        + "".join(rows)
        + "</tbody></table></body></html>"
    )
