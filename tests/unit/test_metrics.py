"""metrics.json quantities equal scikit-learn's (and hand counts) on hand-made cases; the CV
summary carries their means and selection.metric ranks by any of them."""

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import (
    accuracy_score,
    confusion_matrix,
    precision_recall_fscore_support,
    roc_auc_score,
)

from mobileclf.metrics import classification_metrics
from mobileclf.select.aggregate import summarise
from mobileclf.select.selection import SelectionError, select_best


def _probabilities(predicted: list[int], confidence: list[float], n_classes: int) -> np.ndarray:
    """Rows with ``confidence`` on the predicted class, the rest spread evenly."""
    rows = np.zeros((len(predicted), n_classes))
    for row, (label, value) in enumerate(zip(predicted, confidence, strict=True)):
        rows[row] = (1 - value) / (n_classes - 1)
        rows[row, label] = value
    return rows


def _assert_like_sklearn(result: dict, y: np.ndarray, p: np.ndarray, labels: list[str]) -> None:
    predicted = p.argmax(1)
    indices = list(range(len(labels)))
    assert result["accuracy"] == pytest.approx(accuracy_score(y, predicted))
    precision, recall, f1, support = precision_recall_fscore_support(
        y, predicted, labels=indices, zero_division=0
    )
    for i, name in enumerate(labels):
        assert result["per_class"][name] == pytest.approx(
            dict(precision=precision[i], recall=recall[i], f1=f1[i], support=support[i])
        )
    for average in ("macro", "weighted"):
        expected = precision_recall_fscore_support(
            y, predicted, labels=indices, average=average, zero_division=0
        )
        assert result[f"{average}_precision"] == pytest.approx(expected[0])
        assert result[f"{average}_recall"] == pytest.approx(expected[1])
        assert result[f"{average}_f1"] == pytest.approx(expected[2])
    assert result["confusion_matrix"] == confusion_matrix(y, predicted, labels=indices).tolist()


def test_binary_case_matches_sklearn_and_hand_counts():
    labels = ["normal", "covid"]
    y = np.array([1, 1, 1, 1, 0, 0, 0, 0, 0, 1])
    predicted = [1, 1, 0, 1, 0, 1, 0, 0, 0, 0]
    confidence = [0.9, 0.8, 0.6, 0.7, 0.95, 0.55, 0.8, 0.65, 0.9, 0.52]
    p = _probabilities(predicted, confidence, 2)
    result = classification_metrics(y, p, labels, positive_index=1)
    _assert_like_sklearn(result, y, p, labels)
    # by hand: positives at 0-3, 9 -> predicted 1,1,0,1,0: TP 3, FN 2; negatives 4-8 -> FP 1
    assert (result["tp"], result["fn"], result["fp"], result["tn"]) == (3, 2, 1, 4)
    assert result["sensitivity"] == pytest.approx(3 / 5)
    assert result["specificity"] == pytest.approx(4 / 5)
    assert result["positive_class"] == "covid"
    assert result["auc"] == pytest.approx(roc_auc_score(y, p[:, 1]))
    assert 0.5 < result["auc"] < 1.0
    # the other class as "disease" swaps the roles
    swapped = classification_metrics(y, p, labels, positive_index=0)
    assert (swapped["tp"], swapped["fn"], swapped["fp"], swapped["tn"]) == (4, 1, 2, 3)
    assert swapped["sensitivity"] == pytest.approx(result["specificity"])


def test_three_classes_match_sklearn_one_vs_rest_auc():
    labels = ["lung_tumor", "normal", "pneumonia"]
    y = np.array([0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 2])
    predicted = [0, 0, 1, 1, 1, 2, 1, 2, 2, 0, 2, 2]
    confidence = [0.8, 0.6, 0.5, 0.9, 0.7, 0.45, 0.6, 0.9, 0.85, 0.5, 0.7, 0.6]
    p = _probabilities(predicted, confidence, 3)
    result = classification_metrics(y, p, labels)
    _assert_like_sklearn(result, y, p, labels)
    assert result["auc"] == pytest.approx(roc_auc_score(y, p, multi_class="ovr", average="macro"))
    assert "sensitivity" not in result and "tp" not in result  # binary-only quantities
    assert result["confusion_matrix"][2] == [1, 0, 4]


def test_auc_is_none_when_a_class_is_missing_from_the_test_part():
    y = np.array([0, 0, 0])
    result = classification_metrics(y, _probabilities([0, 1, 0], [0.7, 0.6, 0.9], 2), ["a", "b"])
    assert result["auc"] is None
    assert result["sensitivity"] is None  # no positive image: undefined, not 0
    assert result["specificity"] == pytest.approx(2 / 3)


def _runs() -> pd.DataFrame:
    rows = []
    # arch "a": higher accuracy, worse F1 / sensitivity; arch "b" the other way round
    for fold, (acc_a, f1_a, acc_b, f1_b) in enumerate([(0.9, 0.5, 0.8, 0.7), (0.8, 0.6, 0.8, 0.8)]):
        for arch, acc, f1, sens in (("a", acc_a, f1_a, 0.4), ("b", acc_b, f1_b, 0.9)):
            rows.append(
                dict(arch=arch, generator="g1", size=32, fold=fold, status="ok", accuracy=acc,
                     loss=0.5, macro_f1=f1, auc=None if fold == 0 else 0.7, sensitivity=sens,
                     specificity=1 - sens / 2, n_params=10, n_train=8, n_test=4, epochs_run=1,
                     train_seconds=1.0)
            )  # fmt: skip
    return pd.DataFrame(rows)


def test_summary_means_and_configurable_selection_metric():
    summary = summarise(_runs(), expected_folds=2).set_index("arch")
    assert summary.loc["a", "mean_accuracy"] == pytest.approx(0.85)
    assert summary.loc["b", "mean_macro_f1"] == pytest.approx(0.75)
    assert summary.loc["a", "mean_sensitivity"] == pytest.approx(0.4)
    assert summary.loc["b", "mean_specificity"] == pytest.approx(0.55)
    assert summary.loc["a", "mean_auc"] == pytest.approx(0.7)  # the undefined fold is skipped
    summary = summary.reset_index()
    assert select_best(summary, "mean_accuracy")["arch"] == "a"
    best = select_best(summary, "mean_macro_f1")
    assert (best["arch"], best["metric"], best["score"]) == ("b", "mean_macro_f1", 0.75)
    assert "mean_macro_f1" in best["note"]
    assert select_best(summary, "mean_sensitivity")["arch"] == "b"


def test_selection_on_an_undefined_metric_says_so():
    runs = _runs().assign(sensitivity=None)
    with pytest.raises(SelectionError, match="mean_sensitivity is undefined"):
        select_best(summarise(runs, expected_folds=2), "mean_sensitivity")
