"""Pick the best architecture × generator × size from the CV summary.

Highest mean CV score; exact ties go to the smaller image size, then fewer parameters (both
cheaper on a phone). Only cells with every fold finished are eligible. The holdout is
never looked at here.

A difference the folds cannot resolve is not a reason to prefer a cell: cv_summary.csv
marks the cells *tied* with the best (``tied_with_best``, a paired comparison over the same
folds, :func:`mobileclf.select.aggregate.mark_ties`). ``selection.tie_break`` says what to
do with them: ``none`` (default) keeps the highest mean exactly as before, ``smallest``
takes the tied cell with the fewest parameters (then the smaller image size), ``fastest``
the one with the smallest image size (then fewer parameters: inference cost grows with
pixels). Ties are judged on accuracy, or on the phone path for ``mean_gallery_accuracy``
and ``mean_camera_accuracy`` (their own paired tie marks); with another selection.metric
only cells with an equal score count as tied.
"""

from __future__ import annotations

import pandas as pd

from mobileclf.errors import UserError

TIE_FLAGS = {  # metric -> cv_summary.csv's paired tie mark for it
    "mean_accuracy": "tied_with_best",
    "mean_gallery_accuracy": "gallery_tied_with_best",
    "mean_camera_accuracy": "camera_tied_with_best",
}
TIE_BREAKS = {"smallest": ["n_params", "size"], "fastest": ["size", "n_params"]}

# What the jobs after the selection read (reduction, final model, export, model card): the
# chosen cell and its own CV scores. None of these moves when a cell that does not win is
# added or removed, so choice.json keeps its bytes and Snakemake (which compares an input's
# checksum before calling a newer file changed) reruns none of those jobs. Candidate
# counts, tied cells and notes change with the grid: they stay in selection.json, which
# only the report reads.
CHOICE_KEYS = (
    "arch",
    "generator",
    "size",
    "metric",
    "score",
    "mean_accuracy",
    "std_accuracy",
    "n_folds",
    "n_params",
)
# The verdict's "ceiling of the grid" (mobile_tables): the best cell by mean accuracy.
GRID_BEST_COLUMNS = ["arch", "generator", "size", "mean_accuracy"]


class SelectionError(UserError):
    """No configuration can be selected."""


def _cell(row) -> str:
    return f"{row.arch}/{row.generator}/{int(row['size'])}"


def _tied(complete: pd.DataFrame, ranked: pd.DataFrame, metric: str) -> pd.DataFrame:
    """The cells within noise of the best (the best included), ranked as ``ranked``."""
    if TIE_FLAGS.get(metric) in complete:
        flags = complete[TIE_FLAGS[metric]].astype(str).str.lower() == "true"
        return ranked[ranked.index.isin(complete.index[flags])]
    return ranked[ranked[metric] == ranked[metric].iloc[0]]


def select_best(
    summary: pd.DataFrame, metric: str = "mean_accuracy", tie_break: str = "none"
) -> dict:
    if summary[summary.complete][metric].isna().all() and summary.complete.any():
        raise SelectionError(
            f"selection.metric {metric} is undefined for every configuration in the CV summary "
            "(sensitivity/specificity need two classes, AUC every class in each test part); "
            "choose another selection.metric"
        )
    if tie_break != "none" and tie_break not in TIE_BREAKS:
        raise SelectionError(
            f"selection.tie_break {tie_break!r} is not one of none, smallest, fastest; fix it "
            "in the config"
        )
    complete = summary[summary.complete & summary[metric].notna()]
    if complete.empty:
        raise SelectionError(
            "no architecture × generator × size finished all its folds; see the 'complete' "
            "column of cv_summary.csv and the logs of the failed train_cv jobs"
        )
    ranked = complete.sort_values(
        [metric, "size", "n_params"], ascending=[False, True, True], kind="stable"
    )
    tied = _tied(complete, ranked, metric)
    choices = {"none": ranked.iloc[0]}
    for name, keys in TIE_BREAKS.items():
        choices[name] = (
            tied.sort_values(keys, kind="stable").iloc[0] if len(tied) else choices["none"]
        )
    best = choices[tie_break]
    return {
        "arch": str(best.arch),
        "generator": str(best.generator),
        "size": int(best["size"]),
        "metric": metric,
        "score": float(best[metric]),
        "mean_accuracy": float(best.mean_accuracy),
        "std_accuracy": float(best.std_accuracy),
        "n_folds": int(best.n_folds),
        "n_params": int(best.n_params),
        "candidates": len(complete),
        "note": (
            f"Selected on {metric} over the same CV folds it is reported on: this "
            "score is optimistic (winner's curse); the holdout estimate is unbiased."
        ),
        "tied_cells": [_cell(row) for _, row in tied.iterrows()],
        "tie_note": _tie_note(tied, best, choices),
    }


def _tie_note(tied: pd.DataFrame, best, choices: dict) -> str:
    """The report's sentence on whether the choice was a tie and what each tie_break picks.

    It does not name the configured tie_break: selection.json must read the same whenever
    the chosen cell is the same, or changing tie_break would retrain the final model
    (train_final reads selection.json) without changing anything.
    """
    if len(tied) <= 1:
        return "Not a tie: every other cell is below the best by more than the fold noise."
    cells = ", ".join(_cell(row) for _, row in tied.iterrows())
    picks = "; ".join(f"{name}: {_cell(row)}" for name, row in choices.items())
    return (
        f"The choice was a tie: {len(tied)} cells ({cells}) are within fold noise of the best "
        "mean (the 95% interval of their paired per-fold gap to the best reaches 0). "
        f"Chosen: {_cell(best)}. What each selection.tie_break picks among them: {picks}."
    )


def choice_of(selection: dict) -> dict:
    """choice.json: the part of :func:`select_best`'s result the downstream jobs read."""
    return {key: selection[key] for key in CHOICE_KEYS}


def grid_best(
    summary: pd.DataFrame, selection: dict | None = None, phone_generators=()
) -> pd.DataFrame:
    """The rows of cv_summary.csv the verdict quotes, best mean accuracy first (the
    verdict's ceiling), then the selected cell and, per camera severity, the complete
    phone-path cell (generator in ``phone_generators``) with the best mean camera accuracy
    (the verdict's computer-vs-phone table). Only these rows, and only columns that depend
    on their own cell: mobile_tables reruns when one of them changes, not on every new cell.
    """
    summary = summary.reset_index(drop=True)
    order = summary.sort_values("mean_accuracy", ascending=False, kind="stable")
    rows = [order.index[0]]
    if selection is not None:
        chosen = summary[
            (summary.arch == selection["arch"])
            & (summary.generator == selection["generator"])
            & (summary["size"] == int(selection["size"]))
        ]
        rows += list(chosen.index[:1])
    cameras = sorted(c for c in summary if c.startswith("mean_camera_accuracy_s"))
    phone = summary[summary.generator.isin(list(phone_generators))]
    if "complete" in phone:
        phone = phone[phone.complete.astype(str).str.lower().eq("true")]
    for camera in cameras:
        scored = phone[phone[camera].notna()]
        if len(scored):
            rows.append(scored.sort_values(camera, ascending=False, kind="stable").index[0])
    extra = ["complete", "mean_gallery_accuracy", *cameras]
    columns = GRID_BEST_COLUMNS + [c for c in extra if c in summary]
    return summary.loc[list(dict.fromkeys(rows)), columns]
