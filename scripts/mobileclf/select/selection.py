"""Pick the best architecture × generator × size from the CV summary.

Highest mean CV score; ties go to the smaller image size, then fewer parameters (both
cheaper on a phone). Only cells with every fold finished are eligible. The holdout is
never looked at here.
"""

from __future__ import annotations

import pandas as pd

from mobileclf.errors import UserError


class SelectionError(UserError):
    """No configuration can be selected."""


def select_best(summary: pd.DataFrame, metric: str = "mean_accuracy") -> dict:
    if summary[summary.complete][metric].isna().all() and summary.complete.any():
        raise SelectionError(
            f"selection.metric {metric} is undefined for every configuration in the CV summary "
            "(sensitivity/specificity need two classes, AUC every class in each test part); "
            "choose another selection.metric"
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
    best = ranked.iloc[0]
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
    }
