"""mobileclf.stats against reference implementations (scipy) and published values,
including the edges 0/n and n/n, and the grid's tie marks and tie-breaking built on it."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import pandas as pd
import pytest
from scipy.stats import binomtest, ttest_rel

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "scripts"))

from mobileclf import stats  # noqa: E402
from mobileclf.select.aggregate import mark_ties, summarise  # noqa: E402
from mobileclf.select.selection import SelectionError, select_best  # noqa: E402

COUNTS = [(k, n) for n in (1, 2, 5, 12, 30, 100, 1000) for k in sorted({0, 1, n // 2, n - 1, n})]


@pytest.mark.parametrize(("correct", "n"), COUNTS)
def test_wilson_interval_equals_scipy_including_0_and_n(correct, n):
    expected = binomtest(correct, n).proportion_ci(confidence_level=0.95, method="wilson")
    low, high = stats.wilson_interval(correct, n)
    assert low == pytest.approx(expected.low, abs=1e-12)
    assert high == pytest.approx(expected.high, abs=1e-12)
    assert 0.0 <= low <= correct / n <= high <= 1.0


def test_wilson_edges_are_exactly_0_and_1_and_the_demo_interval():
    assert stats.wilson_interval(0, 12)[0] == 0.0
    assert stats.wilson_interval(12, 12)[1] == 1.0
    # the demo: 10 of 12 holdout images right
    low, high = stats.wilson_interval(10, 12)
    assert (round(low, 4), round(high, 4)) == (0.552, 0.953)
    assert stats.percent_interval(10, 12) == "83% (10/12; 95% CI 55%-95%)"
    assert all(math.isnan(v) for v in stats.wilson_interval(0, 0))


@pytest.mark.parametrize(
    ("only_first", "only_second"),
    [(0, 0), (0, 1), (1, 0), (0, 6), (7, 1), (3, 3), (12, 2), (5, 20), (40, 25)],
)
def test_exact_mcnemar_equals_scipy_binomial_test_of_discordant_pairs(only_first, only_second):
    n = only_first + only_second
    expected = 1.0 if n == 0 else binomtest(only_first, n, 0.5).pvalue
    assert stats.mcnemar_exact(only_first, only_second) == pytest.approx(expected, abs=1e-12)


def test_paired_interval_equals_newcombes_published_example():
    # Newcombe (1998), Statistics in Medicine 17:2635, Table II example (a): a=36, b=12,
    # c=2, d=0; method 10 gives 0.0569 to 0.3404
    low, high = stats.paired_difference_interval(36, 12, 2, 0)
    assert (round(low, 4), round(high, 4)) == (0.0569, 0.3404)


def test_paired_drop_on_the_same_images():
    same = stats.paired_drop([True] * 10 + [False] * 2, [True] * 10 + [False] * 2)
    assert same["drop"] == 0.0 and same["p_value"] == 1.0 and same["discordant"] == "0/0"
    assert same["drop_low"] == pytest.approx(-same["drop_high"]) and same["drop_low"] < 0
    # computer right on all 12, camera wrong on 6 of them: p = 2 * 0.5**6
    worse = stats.paired_drop([True] * 12, [True] * 6 + [False] * 6)
    assert worse["drop"] == 0.5 and worse["p_value"] == pytest.approx(2 / 64)
    assert 0.0 < worse["drop_low"] < 0.5 < worse["drop_high"] <= 1.0
    # n/n against 0/n: the largest possible drop, the interval stays within [-1, 1]
    extreme = stats.paired_drop([True] * 5, [False] * 5)
    assert extreme["drop"] == 1.0 and extreme["drop_high"] == 1.0 and extreme["drop_low"] > 0


def test_decide_against_a_threshold_uses_the_whole_interval():
    assert stats.decide_against(93, 100, 0.85) == "pass"
    assert stats.decide_against(85, 100, 0.85) == "undecided"  # at the threshold
    assert stats.decide_against(80, 100, 0.85) == "undecided"
    assert stats.decide_against(77, 100, 0.85) == "fail"
    assert stats.decide_against(12, 12, 0.85) == "undecided"  # 12/12 cannot promise 85%
    assert stats.decide_against(0, 12, 0.3) == "fail"
    assert stats.decide_against(0, 0, 0.5) == "undecided"


def test_images_needed_is_the_first_n_whose_interval_clears_the_threshold():
    for accuracy, threshold in ((10 / 12, 0.85), (10 / 12, 0.8), (0.9, 0.85), (0.5, 0.8)):
        n = stats.images_needed(accuracy, threshold)
        low, high = stats.wilson_interval(accuracy * n, n)
        before = stats.wilson_interval(accuracy * (n - 1), n - 1)
        if accuracy > threshold:
            assert low >= threshold > before[0]
        else:
            assert high < threshold <= before[1]
    assert stats.images_needed(10 / 12, 0.85) == 1764  # the demo's gallery criterion
    assert stats.images_needed(0.85, 0.85) is None


def test_paired_gap_equals_scipy_paired_t_interval():
    best, other = [0.87, 0.87, 0.91, 0.95], [0.85, 0.80, 0.90, 0.93]
    mean, low, high = stats.paired_gap(best, other)
    expected = ttest_rel(best, other).confidence_interval(0.95)
    assert mean == pytest.approx(0.03)
    assert (low, high) == pytest.approx((expected.low, expected.high), abs=1e-12)
    assert stats.paired_gap([0.9], [0.8])[1:] == (-math.inf, math.inf)


def _runs(cells: dict[tuple[str, int], list[float]], params: dict[int, int]) -> pd.DataFrame:
    rows = []
    for (generator, size), accuracies in cells.items():
        for fold, accuracy in enumerate(accuracies):
            rows.append(
                dict(
                    arch="m",
                    generator=generator,
                    size=size,
                    fold=fold,
                    status="ok",
                    accuracy=accuracy,
                    macro_f1=accuracy,
                    auc=None,
                    sensitivity=None,
                    specificity=None,
                    n_params=params[size],
                    train_seconds=1.0,
                )
            )
    return pd.DataFrame(rows)


GRID = {
    ("g1", 48): [0.90, 0.86, 0.94],  # best mean 0.90
    ("g1", 32): [0.88, 0.87, 0.92],  # 0.89: within the folds' noise of the best
    ("g2", 32): [0.70, 0.66, 0.74],  # 0.70: 0.20 below on every fold
    ("g2", 48): [0.95, 0.90],  # incomplete: never tied, never selected
}


def test_tied_cells_are_marked_against_the_best_over_the_same_folds():
    summary = summarise(_runs(GRID, {32: 1000, 48: 3000}), expected_folds=3)
    marks = summary.set_index(["generator", "size"])
    assert marks.loc[("g1", 48)].tied_with_best and marks.loc[("g1", 48)].gap_to_best == 0
    assert marks.loc[("g1", 32)].tied_with_best
    assert marks.loc[("g1", 32)].gap_low < 0 < marks.loc[("g1", 32)].gap_high
    assert marks.loc[("g1", 32)].gap_to_best == pytest.approx(0.01)
    assert not marks.loc[("g2", 32)].tied_with_best
    assert marks.loc[("g2", 32)].gap_low == pytest.approx(0.20)  # the same gap on every fold
    assert not marks.loc[("g2", 48)].tied_with_best and math.isnan(marks.loc[("g2", 48)].gap_low)
    # the contract's columns come first, unchanged; the tie columns are appended
    assert list(summary.columns[:15]) == [
        "arch", "generator", "size", "mean_accuracy", "std_accuracy", "n_folds", "complete",
        "n_failed", "mean_macro_f1", "mean_auc", "mean_sensitivity", "mean_specificity",
        "n_params", "mean_train_seconds", "accuracy_text",
    ]  # fmt: skip
    assert list(summary.columns[15:]) == ["gap_to_best", "gap_low", "gap_high", "tied_with_best"]


def test_tie_broken_by_smallest_and_none_keeps_the_previous_choice():
    summary = summarise(_runs(GRID, {32: 1000, 48: 3000}), expected_folds=3)
    before = select_best(summary.drop(columns=["gap_to_best", "gap_low", "gap_high"]))
    none = select_best(summary, "mean_accuracy", "none")
    assert (none["generator"], none["size"]) == (before["generator"], before["size"]) == ("g1", 48)
    assert none["tied_cells"] == ["m/g1/48", "m/g1/32"]
    assert none["tie_note"].startswith("The choice was a tie: 2 cells (m/g1/48, m/g1/32)")
    assert "Chosen: m/g1/48." in none["tie_note"]
    picks = "none: m/g1/48; smallest: m/g1/32; fastest: m/g1/32."
    assert none["tie_note"].endswith(picks)
    smallest = select_best(summary, "mean_accuracy", "smallest")
    assert (smallest["generator"], smallest["size"], smallest["n_params"]) == ("g1", 32, 1000)
    assert "Chosen: m/g1/32." in smallest["tie_note"] and smallest["tie_note"].endswith(picks)
    assert select_best(summary, "mean_accuracy", "fastest")["size"] == 32
    # a clear winner is no tie: the tie-break changes nothing
    runs = _runs(
        {("g1", 48): [0.9, 0.9, 0.9], ("g1", 32): [0.5, 0.52, 0.48], ("g2", 32): [0.1] * 3},
        {32: 1000, 48: 3000},
    )
    clear = summarise(runs, expected_folds=3)
    assert mark_ties(clear, runs).equals(clear)  # summarise already marked them
    decided = select_best(clear, "mean_accuracy", "smallest")
    assert decided["size"] == 48 and decided["tied_cells"] == ["m/g1/48"]
    assert decided["tie_note"].startswith("Not a tie")
    # the rerun contract: when the tie-break does not change the chosen cell, selection.json
    # reads the same (train_final reads it), so changing the key retrains nothing
    assert decided == select_best(clear, "mean_accuracy", "none")
    with pytest.raises(SelectionError, match="tie_break 'largest'"):
        select_best(summary, "mean_accuracy", "largest")


def test_reduction_tolerance_is_stated_against_the_fold_noise():
    folds = pd.DataFrame(
        {(8, 32): [0.90, 0.92, 0.94], (4, 32): [0.89, 0.90, 0.95], (2, 8): [0.60, 0.62, 0.64]}
    )
    chosen = stats.tolerance_statement(folds, (4, 32), 1.0)
    mean, low, high = stats.paired_gap([0.90, 0.92, 0.94], [0.89, 0.90, 0.95])
    assert f"is {100 * mean:.1f} points below the best cell" in chosen
    assert f"gap {100 * low:.1f} to {100 * high:.1f} points: tied" in chosen
    assert f"fold noise of ±{100 * (high - low) / 2:.1f} points" in chosen
    assert "1-point tolerance is finer than" in chosen
    best = stats.tolerance_statement(folds, (8, 32), 1.0)
    assert best.startswith("the chosen cell is the best; the runner-up is 0.7 points below")
    far = stats.tolerance_statement(folds, (2, 8), 40.0)
    assert "30.0 points below" in far and "beyond fold noise" in far and "no finer than" in far


def test_model_card_states_each_variant_with_its_count_and_interval():
    from mobileclf.export.model_card import _variant_table

    export = pd.DataFrame(
        dict(
            variant=["float32", "int8"],
            bytes=[2048, 1024],
            input_dtype=["float32", "uint8"],
            output_dtype=["float32", "uint8"],
            weights=["float32", "int8"],
            accuracy=[10 / 12, 1.0],
            accuracy_delta=[0.0, 1 / 6],
            agreement=[1.0, 0.9],
            max_prob_diff=[0.0, 0.1],
        )
    )
    table = _variant_table(export, 12)
    assert "| 83.3% (10/12; 95% CI 55%-95%) |" in table
    assert "| 100.0% (12/12; 95% CI 76%-100%) |" in table


def test_heatmap_marks_the_best_and_the_tied_cells(tmp_path):
    from mobileclf.select.aggregate import _tie_marks, plot_heatmap

    summary = summarise(_runs(GRID, {32: 1000, 48: 3000}), expected_folds=3)
    wide = summary.pivot(index="size", columns="generator", values="mean_accuracy")
    marks = _tie_marks(summary, wide)  # rows: sizes 32, 48; columns: g1, g2
    assert marks == [["\ntied", ""], ["\nbest", ""]]
    plot_heatmap(summary, tmp_path / "cv_heatmap.png", "grid")
    assert (tmp_path / "cv_heatmap.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
