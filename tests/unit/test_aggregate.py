"""Aggregation in the paper's table format and the selection rule."""

import json

import numpy as np
import pandas as pd
import pytest

from mobileclf.select.aggregate import paper_format, paper_table_markdown, read_runs, summarise
from mobileclf.select.selection import SelectionError, select_best


def _run(tmp_path, arch, generator, size, fold, accuracy, n_params=100, status="ok"):
    path = tmp_path / f"{arch}_{generator}_{size}_{fold}.json"
    path.write_text(
        json.dumps(
            dict(
                arch=arch,
                generator=generator,
                size=size,
                fold=fold,
                status=status,
                accuracy=accuracy,
                macro_f1=accuracy,
                auc=None,
                n_params=n_params,
                train_seconds=1.0,
            )
        )
    )
    return path


def test_summary_mean_std_and_paper_text(tmp_path):
    paths = [_run(tmp_path, "m", "g1", 50, f, a) for f, a in enumerate([0.9, 0.95, 1.0])]
    paths += [_run(tmp_path, "m", "g2", 50, f, a) for f, a in enumerate([0.5, 0.7, 0.6])]
    summary = summarise(read_runs(paths), expected_folds=3)
    row = summary[summary.generator == "g1"].iloc[0]
    assert row.mean_accuracy == pytest.approx(0.95)
    assert row.std_accuracy == pytest.approx(np.std([0.9, 0.95, 1.0]))
    assert row.n_folds == 3 and row.complete
    assert row.accuracy_text == "95.00 (+- 4.08)"
    assert paper_format(0.9588, 0.0180) == "95.88 (+- 1.80)"
    markdown = paper_table_markdown(summary)
    assert "| 50 | 95.00 (+- 4.08) | 60.00 (+- 8.16) |" in markdown


def test_missing_folds_are_marked_not_dropped(tmp_path):
    paths = [
        _run(tmp_path, "m", "g1", 50, 0, 0.8),
        _run(tmp_path, "m", "g1", 50, 1, 0.0, status="failed"),
    ]
    summary = summarise(read_runs(paths), expected_folds=3)
    assert summary.n_folds.tolist() == [1]
    assert not summary.complete.iloc[0]
    assert summary.accuracy_text.iloc[0].endswith("[1/3 folds]")


def test_selection_prefers_score_then_smaller_size_then_fewer_params():
    summary = pd.DataFrame(
        [
            dict(
                arch="a",
                generator="g1",
                size=100,
                mean_accuracy=0.9,
                std_accuracy=0.01,
                n_folds=5,
                complete=True,
                n_params=10,
            ),
            dict(
                arch="a",
                generator="g2",
                size=50,
                mean_accuracy=0.9,
                std_accuracy=0.02,
                n_folds=5,
                complete=True,
                n_params=50,
            ),
            dict(
                arch="b",
                generator="g1",
                size=50,
                mean_accuracy=0.9,
                std_accuracy=0.02,
                n_folds=5,
                complete=True,
                n_params=20,
            ),
            dict(
                arch="c",
                generator="g1",
                size=30,
                mean_accuracy=0.95,
                std_accuracy=0.02,
                n_folds=4,
                complete=False,
                n_params=5,
            ),
        ]
    )
    best = select_best(summary)
    assert (best["arch"], best["generator"], best["size"]) == ("b", "g1", 50)
    with pytest.raises(SelectionError, match="finished all its folds"):
        select_best(summary[~summary.complete])
