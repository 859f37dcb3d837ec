"""Grid ties in a real Snakemake run: cv_summary.csv marks the cells tied with the best
(paired over the same folds), selection.tie_break reaches select_config as a param (so
changing it reruns the selection and nothing upstream), and `smallest` breaks the tie."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from conftest import planned_jobs, run_snakemake

from mobileclf import stats

SELECTION = "results/tiny/selection.json"


@pytest.mark.slow
def test_ties_are_marked_and_tie_break_smallest_reruns_only_the_selection(tmp_path, tiny_config):
    tiny_config["training"]["batch_folds_below"] = 1000  # all folds of a cell in one job
    tiny_config["selection"] = {"tie_break": "none"}
    run_snakemake(tmp_path, tiny_config, SELECTION)
    summary = pd.read_csv(tmp_path / "results/tiny/tables/cv_summary.csv")
    runs = pd.read_csv(tmp_path / "results/tiny/tables/cv_runs.csv")
    assert list(summary.columns[-4:]) == ["gap_to_best", "gap_low", "gap_high", "tied_with_best"]
    best = summary.loc[summary.mean_accuracy.idxmax()]
    folds = runs.pivot_table(index="fold", columns=["generator", "size"], values="accuracy")
    for row in summary.itertuples():
        mean, low, high = stats.paired_gap(
            folds[(best.generator, best["size"])].tolist(),
            folds[(row.generator, row.size)].tolist(),
        )
        assert (row.gap_to_best, row.gap_low, row.gap_high) == pytest.approx((mean, low, high))
        assert row.tied_with_best == (low <= 0)
    none = json.loads((tmp_path / SELECTION).read_text())
    ranked = summary.sort_values(
        ["mean_accuracy", "size", "n_params"], ascending=[False, True, True], kind="stable"
    )
    assert (none["generator"], none["size"]) == (ranked.generator.iloc[0], ranked["size"].iloc[0])
    tied = ranked[ranked.tied_with_best]
    assert none["tied_cells"] == [f"tiny/{r.generator}/{r.size}" for r in tied.itertuples()]

    tiny_config["selection"]["tie_break"] = "smallest"
    assert [rule for rule, _ in planned_jobs(tmp_path, tiny_config, SELECTION)] == ["select_config"]
    run_snakemake(tmp_path, tiny_config, SELECTION)
    smallest = json.loads((tmp_path / SELECTION).read_text())
    fewest = tied[tied.n_params == tied.n_params.min()].iloc[0]  # highest mean among them
    assert (smallest["generator"], smallest["size"]) == (fewest.generator, fewest["size"])
    assert smallest["n_params"] == tied.n_params.min() <= none["n_params"]
    chosen = f"tiny/{fewest.generator}/{fewest['size']}"
    if len(tied) > 1:
        assert smallest["tie_note"].startswith("The choice was a tie")
        assert f"Chosen: {chosen}." in smallest["tie_note"]
        assert f"smallest: {chosen};" in smallest["tie_note"]
