"""Collect per-fold metrics into the paper's cross-validation tables
(Muneeb et al. (2022), Tables 3-8).

``cv_runs.csv`` has one row per training job; ``cv_summary.csv`` one row per
architecture × generator × size with mean, std (population std over folds, as the
paper's ``numpy.std``), n_folds and the paper's text form ``95.88 (+- 1.80)``, and
(after those columns) whether the cell is *tied* with the best: its accuracy compared with
the best cell's fold by fold (the folds are the same images), tied when the 95% interval
of the mean per-fold gap reaches 0 (:func:`mobileclf.stats.paired_gap`).

Phone metrics (:mod:`mobileclf.mobile.phone_inputs`): the folds' ``gallery_accuracy`` and
``camera_accuracy_s{k}`` follow the runs' columns, their means (``mean_gallery_accuracy``,
``mean_camera_accuracy_s{k}``) the summary's, with ``mean_camera_accuracy`` (the camera at
``mobile.thresholds.camera_severity``, what ``selection.metric`` ranks by) and the same
paired tie marks for both phone paths (``gallery_tied_with_best``, ``camera_...``), so a grid
can be selected on the phone as honestly as on the computer.
"""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path

import numpy as np
import pandas as pd

from mobileclf.errors import REPAIR, UserError

RUN_COLUMNS = [
    "arch",
    "generator",
    "size",
    "fold",
    "status",
    "accuracy",
    "loss",
    "macro_f1",
    "auc",
    "sensitivity",
    "specificity",
    "n_params",
    "n_train",
    "n_test",
    "epochs_run",
    "train_seconds",
    "error",
]


PHONE_COLUMN = re.compile(r"gallery_accuracy|camera_accuracy_s(\d+)")


def phone_columns(names) -> list[str]:
    """The phone-metric columns among ``names``: gallery, then camera by severity."""
    found = [name for name in names if PHONE_COLUMN.fullmatch(name)]
    return sorted(found, key=lambda n: -1 if n == "gallery_accuracy" else int(n.rsplit("s", 1)[1]))


class UnreadableMetrics(UserError):
    """A metrics.json that is not valid JSON (hand-edited, or written by a foreign tool)."""


def read_runs(paths: list[str | Path]) -> pd.DataFrame:
    """One row per metrics.json; keys arch/generator/size/fold come from the file itself."""
    rows = []
    for path in paths:
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
        except (ValueError, UnicodeDecodeError) as error:
            raise UnreadableMetrics(
                f"{path} is not a complete metrics file ({error}); delete it and {REPAIR} "
                "to retrain that fold"
            ) from error
        rows.append({column: data.get(column) for column in RUN_COLUMNS})
        rows[-1].update({k: v for k, v in data.items() if PHONE_COLUMN.fullmatch(k)})
    columns = RUN_COLUMNS + phone_columns({k for row in rows for k in row})
    runs = pd.DataFrame(rows, columns=columns)
    return runs.sort_values(["arch", "generator", "size", "fold"], kind="stable").reset_index(
        drop=True
    )


def paper_format(mean: float, std: float) -> str:
    """Muneeb et al. (2022)'s table cell: accuracy in percent, ``95.88 (+- 1.80)``."""
    if not np.isfinite(mean):
        return "missing"
    return f"{100 * mean:.2f} (+- {100 * std:.2f})"


def _mean(values: pd.Series) -> float:
    """Mean over folds where the metric is defined (None: e.g. no positive test image)."""
    return float(pd.to_numeric(values, errors="coerce").mean()) if len(values) else float("nan")


def summarise(
    runs: pd.DataFrame, expected_folds: int, camera_severity: int | None = None
) -> pd.DataFrame:
    """Mean/std accuracy per arch × generator × size; cells with failed folds say so.

    Also the means of macro F1, AUC, sensitivity and specificity (the latter two for
    binary tasks), any of which ``selection.metric`` can rank by, and the phone metrics'
    means (``camera_severity``: which camera level is ``mean_camera_accuracy``; None or -1:
    no such column, selection does not rank by it).
    """
    rows = []
    for (arch, generator, size), group in runs.groupby(["arch", "generator", "size"], sort=True):
        done = group[group.status == "ok"]
        accuracy = done.accuracy.astype(float)
        mean = float(accuracy.mean()) if len(done) else float("nan")
        std = float(accuracy.std(ddof=0)) if len(done) else float("nan")
        rows.append(
            dict(
                arch=arch,
                generator=generator,
                size=int(size),
                mean_accuracy=mean,
                std_accuracy=std,
                n_folds=len(done),
                complete=bool(len(done) == expected_folds),
                n_failed=int((group.status != "ok").sum()),
                mean_macro_f1=float(done.macro_f1.astype(float).mean())
                if len(done)
                else float("nan"),
                mean_auc=float(pd.to_numeric(done.auc, errors="coerce").mean())
                if len(done)
                else float("nan"),
                mean_sensitivity=_mean(done.sensitivity),
                mean_specificity=_mean(done.specificity),
                n_params=int(done.n_params.iloc[0]) if len(done) else None,
                mean_train_seconds=float(done.train_seconds.astype(float).mean())
                if len(done)
                else float("nan"),
                accuracy_text=paper_format(mean, std)
                + ("" if len(done) == expected_folds else f" [{len(done)}/{expected_folds} folds]"),
            )
        )
    return add_phone_means(mark_ties(pd.DataFrame(rows), runs), runs, camera_severity)


def add_phone_means(
    summary: pd.DataFrame, runs: pd.DataFrame, camera_severity: int | None
) -> pd.DataFrame:
    """Add the phone metrics' means per cell and their tie marks: after every column that
    was there before except the accuracy tie marks, which stay last (the summary's columns
    are a contract)."""
    columns = phone_columns(runs.columns)
    if not columns or summary.empty:
        return summary
    done = runs[runs.status == "ok"]
    means = done.groupby(["arch", "generator", "size"])[columns].agg(_mean)
    summary = summary.copy()
    keys = list(zip(summary.arch, summary.generator, summary["size"].astype(int), strict=True))
    for column in columns:
        summary[f"mean_{column}"] = [means[column].get(key, np.nan) for key in keys]
    if camera_severity is not None and camera_severity >= 0:
        chosen = f"mean_camera_accuracy_s{camera_severity}"
        summary["mean_camera_accuracy"] = summary.get(chosen, np.nan)
    if "gallery_accuracy" in runs:
        summary = _ties(summary, runs, "gallery_accuracy", "mean_gallery_accuracy", "gallery_")
    camera = f"camera_accuracy_s{camera_severity}"
    if camera in runs:
        summary = _ties(summary, runs, camera, "mean_camera_accuracy", "camera_")
    # the accuracy tie marks stay the last columns, as before phone metrics existed
    return summary[[c for c in summary if c not in TIE_COLUMNS] + TIE_COLUMNS]


TIE_COLUMNS = ["gap_to_best", "gap_low", "gap_high", "tied_with_best"]


def mark_ties(summary: pd.DataFrame, runs: pd.DataFrame) -> pd.DataFrame:
    """Add gap_to_best (best mean accuracy minus this cell's, over their common folds), its
    95% paired-t interval gap_low..gap_high, and tied_with_best (the interval reaches 0:
    these folds cannot tell the cell from the best). The best is the complete cell with the
    highest mean accuracy; incomplete cells are never tied (selection cannot take them)."""
    return _ties(summary, runs, "accuracy", "mean_accuracy", "")


def _ties(
    summary: pd.DataFrame, runs: pd.DataFrame, value: str, mean: str, prefix: str
) -> pd.DataFrame:
    """mark_ties for any per-fold score ``value`` whose cell mean is ``mean``; the columns
    are TIE_COLUMNS with ``prefix`` (``camera_tied_with_best``...)."""
    from mobileclf.stats import paired_gap

    summary = summary.copy()
    names = {column: prefix + column for column in TIE_COLUMNS}
    for column, name in names.items():
        summary[name] = False if column == "tied_with_best" else np.nan
    complete = summary[summary.complete & summary[mean].notna()]
    if complete.empty:
        return summary
    best = complete.sort_values(mean, ascending=False, kind="stable").iloc[0]
    done = runs[runs.status == "ok"]
    folds = done.assign(**{value: pd.to_numeric(done[value], errors="coerce")}).pivot_table(
        index="fold", columns=["arch", "generator", "size"], values=value, aggfunc="first"
    )
    best_key = (best.arch, best.generator, int(best["size"]))
    for index, row in complete.iterrows():
        key = (row.arch, row.generator, int(row["size"]))
        pair = folds[[best_key, key]].dropna() if key != best_key else None
        if pair is None:
            gap = (0.0, 0.0, 0.0)
        else:
            gap = paired_gap(pair[best_key].tolist(), pair[key].tolist())
        summary.loc[index, [names["gap_to_best"], names["gap_low"], names["gap_high"]]] = gap
        summary.loc[index, names["tied_with_best"]] = bool(gap[1] <= 0.0)
    summary[names["tied_with_best"]] = summary[names["tied_with_best"]].astype(bool)
    return summary


def paper_table_markdown(summary: pd.DataFrame) -> str:
    """Markdown tables in the paper's layout: one per architecture, sizes × generators."""
    parts = []
    for arch, table in summary.groupby("arch", sort=True):
        wide = table.pivot(index="size", columns="generator", values="accuracy_text")
        header = "| Size | " + " | ".join(wide.columns) + " |"
        parts.append(f"### {arch}\n\n{header}\n|" + "---|" * (len(wide.columns) + 1))
        for size, row in wide.iterrows():
            parts.append(f"| {size} | " + " | ".join(str(v) for v in row.values) + " |")
        parts.append("")
    return "\n".join(parts)


def plot_heatmap(summary: pd.DataFrame, path: str | Path, title: str) -> None:
    """Heatmap of mean CV accuracy: one panel per architecture, size × generator."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    archs = sorted(summary.arch.unique())
    figure, axes = plt.subplots(1, len(archs), figsize=(4.5 * len(archs), 3.8), squeeze=False)
    for axis, arch in zip(axes[0], archs, strict=True):
        wide = summary[summary.arch == arch].pivot(
            index="size", columns="generator", values="mean_accuracy"
        )
        image = axis.imshow(
            100 * wide.to_numpy(dtype=float), cmap="viridis", vmin=0, vmax=100, aspect="auto"
        )
        axis.set_xticks(range(len(wide.columns)), wide.columns)
        axis.set_yticks(range(len(wide.index)), wide.index)
        axis.set_xlabel("generator")
        axis.set_ylabel("image size")
        axis.set_title(arch)
        marks = _tie_marks(summary[summary.arch == arch], wide)
        phone = _phone_marks(summary[summary.arch == arch], wide)
        for (i, j), value in np.ndenumerate(100 * wide.to_numpy(dtype=float)):
            axis.text(
                j,
                i,
                "n/a" if np.isnan(value) else f"{value:.1f}{phone[i][j]}{marks[i][j]}",
                ha="center",
                va="center",
                color="white" if np.isnan(value) or value < 60 else "black",
                fontsize=9,
            )
        figure.colorbar(image, ax=axis, label="mean CV accuracy (%)")
    camera = _heatmap_camera(summary)
    if camera:
        title += f"\n(computer / phone camera path at severity {camera[22:]})"
    if "tied_with_best" in summary and summary.tied_with_best.sum() > 1:
        title += "\n(tied: within fold noise of the best)"
    figure.suptitle(title)
    figure.tight_layout()
    figure.savefig(path, dpi=120, format="png")
    plt.close(figure)


def _phone_marks(part: pd.DataFrame, wide: pd.DataFrame) -> list[list[str]]:
    """' / 55.0' (the cell's mean camera-path accuracy) after each computer-path value."""
    marks = [["" for _ in wide.columns] for _ in wide.index]
    camera = _heatmap_camera(part)
    if not camera:
        return marks
    for row in part[part[camera].notna()].itertuples():
        i, j = list(wide.index).index(row.size), list(wide.columns).index(row.generator)
        marks[i][j] = f" / {100 * getattr(row, camera):.1f}"
    return marks


def _heatmap_camera(summary: pd.DataFrame) -> str | None:
    """The camera column the heatmap shows: severity 1 (the paper's phone test: the
    first level past the plain crop), else the highest level there is."""
    columns = [c for c in summary if re.fullmatch(r"mean_camera_accuracy_s\d+", c)]
    columns = [c for c in columns if summary[c].notna().any()]
    if not columns:
        return None
    return "mean_camera_accuracy_s1" if "mean_camera_accuracy_s1" in columns else columns[-1]


def _tie_marks(part: pd.DataFrame, wide: pd.DataFrame) -> list[list[str]]:
    """' best' / ' tied' under each heatmap value, in the layout of ``wide``."""
    marks = [["" for _ in wide.columns] for _ in wide.index]
    if "tied_with_best" not in part:
        return marks
    for row in part[part.tied_with_best].itertuples():
        mark = "\nbest" if row.gap_to_best == 0 and row.gap_high == 0 else "\ntied"
        marks[list(wide.index).index(row.size)][list(wide.columns).index(row.generator)] = mark
    return marks


def aggregate_cv(args) -> None:
    """The aggregate_cv stage: cv_runs.csv, cv_summary.csv, the Markdown table, the heatmap.

    ``args`` are scripts/aggregate_cv.py's flags. Failed folds are logged and marked
    incomplete in the summary, so the next run retries them.
    """
    from mobileclf import atomic

    runs = read_runs(args.metrics)
    summary = summarise(runs, args.folds, args.camera_severity)
    log = logging.getLogger("aggregate")
    for row in runs[runs.status != "ok"].itertuples():
        log.warning(
            "%s/%s/%s fold %s %s: %s (marked incomplete; the next run retries it)",
            row.arch,
            row.generator,
            row.size,
            row.fold,
            row.status,
            row.error,
        )
    atomic.write_with(args.runs, lambda p: runs.to_csv(p, index=False))
    atomic.write_with(args.summary, lambda p: summary.to_csv(p, index=False))
    atomic.write_text(
        args.markdown,
        f"## Cross-validation accuracy: {args.dataset}\n\n" + paper_table_markdown(summary),
    )
    atomic.write_with(
        args.heatmap, lambda p: plot_heatmap(summary, p, f"{args.dataset}: mean CV accuracy")
    )
