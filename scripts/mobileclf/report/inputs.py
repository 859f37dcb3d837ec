"""What the report is built from: the report rule's named inputs, as one object.

:class:`ReportInputs` holds the paths the rule passes (scripts/report.py's flags);
:meth:`ReportInputs.load` reads them once into :class:`ReportData`, which the section
functions (:mod:`mobileclf.report.sections`) take. An input that is not given (reduction
switched off, or a by-hand run without it) is None, and its section says so.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, fields
from pathlib import Path

import pandas as pd

# the rule's named inputs besides verdict.json (get_report_inputs in common.smk)
NAMED_INPUTS = (
    "manifest",
    "splits",
    "labels",
    "cv_summary",
    "cv_heatmap",
    "selection",
    "reduction",
    "export",
    "final_metrics",
    "spec",
    "mobile",
    "phone_test",
    "latency",
    "robustness",
    "contact_sheet",
    "phone_measured",
)


@dataclass(frozen=True)
class ReportInputs:
    """The report rule's inputs (paths; None when not given) and where its files live."""

    verdict: Path
    dataset: str
    benchmarks: Path  # Snakemake's benchmarks/ folder (the time section)
    manifest: Path | None = None
    splits: Path | None = None
    labels: Path | None = None
    cv_summary: Path | None = None
    cv_heatmap: Path | None = None
    selection: Path | None = None
    reduction: Path | None = None
    export: Path | None = None
    final_metrics: Path | None = None
    spec: Path | None = None
    mobile: Path | None = None
    phone_test: Path | None = None
    latency: Path | None = None
    robustness: Path | None = None
    contact_sheet: Path | None = None
    phone_measured: Path | None = None  # tables/phone_measured.csv (phone check)

    @classmethod
    def from_args(cls, args) -> ReportInputs:
        """From scripts/report.py's flags; the dataset defaults to the results folder's name."""
        named = {name: Path(value) for name in NAMED_INPUTS if (value := getattr(args, name))}
        verdict = Path(args.verdict)
        return cls(verdict, args.dataset or verdict.parent.name, Path(args.benchmarks), **named)

    @classmethod
    def from_folder(cls, results: Path, dataset: str, benchmarks: Path) -> ReportInputs:
        """The inputs the workflow writes under ``results`` (results/<dataset>/), those
        that exist: for tests and for rendering a finished run by hand."""
        layout = {
            "manifest": "manifest.csv",
            "splits": "splits.csv",
            "labels": "labels.txt",
            "cv_summary": "tables/cv_summary.csv",
            "cv_heatmap": "plots/cv_heatmap.png",
            "selection": "selection.json",
            "reduction": "reduction.json",
            "export": "tables/export.csv",
            "final_metrics": "final/metrics.json",
            "spec": "final/spec.json",
            "mobile": "tables/mobile.csv",
            "phone_test": "tables/phone_test.csv",
            "latency": "tables/latency.csv",
            "robustness": "plots/mobile_robustness.png",
            "contact_sheet": "plots/camera_contact_sheet.png",
            "phone_measured": "tables/phone_measured.csv",
        }
        named = {k: results / v for k, v in layout.items() if (results / v).exists()}
        return cls(results / "verdict.json", dataset, benchmarks, **named)

    @property
    def results(self) -> Path:
        """results/<dataset>/: Markdown links to figures are relative to it."""
        return self.verdict.parent

    def missing(self) -> list[str]:
        """Named inputs that were given but do not exist."""
        return [
            f.name
            for f in fields(self)
            if f.name in NAMED_INPUTS and (path := getattr(self, f.name)) and not path.exists()
        ]

    def reduction_outputs(self) -> tuple[Path | None, list[Path]]:
        """tables/reduction.csv and plots/reduction*.png: written by the same job as
        reduction.json (the rule names only that file), so found next to it."""
        if self.reduction is None:
            return None, []
        folder = self.reduction.parent
        table = folder / "tables" / "reduction.csv"
        return (table if table.exists() else None), sorted(
            (folder / "plots").glob("reduction*.png")
        )

    def load(self) -> ReportData:
        reduction_table, reduction_plots = self.reduction_outputs()
        return ReportData(
            inputs=self,
            verdict=_json(self.verdict) or {},
            manifest=_csv(self.manifest),
            splits=_csv(self.splits),
            cv_summary=_csv(self.cv_summary),
            selection=_json(self.selection),
            reduction=_json(self.reduction),
            reduction_grid=_csv(reduction_table),
            reduction_plots=reduction_plots,
            spec=_json(self.spec),
            final_metrics=_json(self.final_metrics),
            export=_csv(self.export),
            mobile=_csv(self.mobile),
            phone_test=_csv(self.phone_test),
            latency=_csv(self.latency),
            times=benchmark_times(self.benchmarks, self.dataset),
        )


@dataclass(frozen=True)
class ReportData:
    """The report's inputs, read: a JSON file as a dict, a CSV file as a frame, None if absent."""

    inputs: ReportInputs
    verdict: dict
    manifest: pd.DataFrame | None
    splits: pd.DataFrame | None
    cv_summary: pd.DataFrame | None
    selection: dict | None
    reduction: dict | None
    reduction_grid: pd.DataFrame | None
    reduction_plots: list[Path]
    spec: dict | None
    final_metrics: dict | None
    export: pd.DataFrame | None
    mobile: pd.DataFrame | None
    phone_test: pd.DataFrame | None
    latency: pd.DataFrame | None
    times: pd.DataFrame  # job time per stage from the benchmarks folder


def _json(path: Path | None) -> dict | None:
    return json.loads(path.read_text()) if path is not None and path.exists() else None


def _csv(path: Path | None) -> pd.DataFrame | None:
    if path is None or not path.exists():
        return None
    return pd.read_csv(path, keep_default_na=False, na_values=[""])


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
