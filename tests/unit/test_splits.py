"""Splits: stratified, seeded, leakage-free holdout and folds; clear errors for tiny classes."""

import numpy as np
import pandas as pd
import pytest

from mobileclf.data.split import SplitError, SplitOptions, check_splits, fold_columns, make_splits


def _manifest(counts: dict[str, int], groups_of: int = 0) -> pd.DataFrame:
    rows = []
    for label, count in counts.items():
        for i in range(count):
            group = f"{label}-pt{i // groups_of}" if groups_of else ""
            rows.append(dict(path=f"{label}/{i}.png", label=label, group=group, status="ok"))
    rows.append(dict(path="x/bad.png", label="x", group="", status="rejected"))
    return pd.DataFrame(rows)


def test_roles_partition_every_fold_and_holdout_is_untouched():
    splits = make_splits(_manifest({"a": 60, "b": 40}), SplitOptions(folds=5, seed=1))
    assert len(splits) == 100  # rejected rows are not split
    holdout = splits.set == "holdout"
    assert 13 <= holdout.sum() <= 17
    assert splits[holdout].label.value_counts().to_dict() == {"a": 9, "b": 6}  # stratified 15%
    tested = np.zeros(len(splits), dtype=int)
    for column in fold_columns(splits):
        roles = splits[column]
        assert set(roles[holdout]) == {"holdout"}
        assert set(roles[~holdout]) == {"train", "val", "test"}
        tested += (roles == "test").to_numpy()
        val_share = (roles == "val").sum() / (roles.isin(["train", "val"])).sum()
        assert 0.05 < val_share < 0.15
    assert (tested[~holdout.to_numpy()] == 1).all()  # each CV image is tested exactly once


def test_same_seed_same_splits_other_seed_differs():
    manifest = _manifest({"a": 30, "b": 30})
    first = make_splits(manifest, SplitOptions(folds=3, seed=7))
    assert first.equals(make_splits(manifest, SplitOptions(folds=3, seed=7)))
    assert not first.equals(make_splits(manifest, SplitOptions(folds=3, seed=8)))


def test_groups_never_span_two_roles():
    splits = make_splits(_manifest({"a": 60, "b": 60}, groups_of=3), SplitOptions(folds=4, seed=2))
    for column in ["set", *fold_columns(splits)]:
        assert (splits.groupby("group")[column].nunique() == 1).all(), column


def test_too_few_images_names_the_class():
    with pytest.raises(SplitError, match=r"class 'rare' has 4 image\(s\)"):
        make_splits(_manifest({"common": 50, "rare": 4}), SplitOptions(folds=5))
    with pytest.raises(SplitError, match="at least 2 folds"):
        make_splits(_manifest({"a": 50, "b": 50}), SplitOptions(folds=1))


def test_check_splits_refuses_leaks():
    splits = make_splits(_manifest({"a": 30, "b": 30}), SplitOptions(folds=3, seed=1))
    tampered = splits.copy()
    first_holdout = tampered.index[tampered.set == "holdout"][0]
    tampered.loc[first_holdout, "fold0"] = "train"
    with pytest.raises(SplitError, match=r"holdout image a/8.png appears in training"):
        check_splits(tampered)
