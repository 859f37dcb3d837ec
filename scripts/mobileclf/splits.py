"""Seeded, stratified (and group-aware) holdout + k-fold splits, independent of image size.

``splits.csv`` has one row per accepted image: ``path, label, group, set`` (``holdout`` or
``cv``) and one column ``fold{k}`` per fold whose value is ``train``, ``val``, ``test`` or
``holdout``. With group ids (e.g. patient), no group appears in two roles of any fold, and
holdout groups never appear in the CV part.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.model_selection import StratifiedGroupKFold, StratifiedKFold, train_test_split


class SplitError(Exception):
    """The data cannot be split as configured; the message says which class and what to do."""


@dataclass(frozen=True)
class SplitOptions:
    """The ``split`` section of the config."""

    folds: int = 5
    holdout_fraction: float = 0.15
    val_fraction: float = 0.10
    seed: int = 42


def _group_ids(frame: pd.DataFrame) -> np.ndarray | None:
    groups = frame["group"].fillna("").astype(str)
    if (groups == "").all():
        return None
    # images without a group id are their own group
    return np.where(groups == "", "__image__" + frame["path"].astype(str), groups)


def _split_off(
    labels: np.ndarray, groups: np.ndarray | None, fraction: float, seed: int
) -> np.ndarray:
    """Boolean mask of a stratified (group-aware) fraction of the rows."""
    if groups is None:
        index = np.arange(len(labels))
        # stratification needs at least one row per class on each side
        n_classes = len(np.unique(labels))
        count = min(max(n_classes, round(fraction * len(labels))), len(labels) - n_classes)
        _, taken = train_test_split(index, test_size=count, stratify=labels, random_state=seed)
        mask = np.zeros(len(labels), dtype=bool)
        mask[taken] = True
        return mask
    n_splits = max(2, round(1 / fraction))
    splitter = StratifiedGroupKFold(n_splits=n_splits, shuffle=True, random_state=seed)
    _, taken = next(splitter.split(np.zeros(len(labels)), labels, groups))
    mask = np.zeros(len(labels), dtype=bool)
    mask[taken] = True
    return mask


def _check_counts(labels: pd.Series, needed: int, what: str) -> None:
    counts = labels.value_counts()
    for label, count in sorted(counts.items()):
        if count < needed:
            raise SplitError(
                f"class {label!r} has {count} image(s) {what}, fewer than the {needed} needed; "
                "add images to that class, or lower split.folds / split.holdout_fraction"
            )


def make_splits(manifest: pd.DataFrame, options: SplitOptions) -> pd.DataFrame:
    """Return the splits table for the accepted rows of ``manifest``."""
    if options.folds < 2:
        raise SplitError(f"split.folds={options.folds}: cross-validation needs at least 2 folds")
    frame = manifest.loc[manifest.status == "ok", ["path", "label", "group"]].reset_index(drop=True)
    frame["group"] = frame["group"].fillna("").astype(str)
    # each class needs >= 1 holdout image and >= folds images left for the CV folds
    minimum = options.folds + (1 if options.holdout_fraction > 0 else 0)
    _check_counts(frame.label, minimum, "in total")
    groups = _group_ids(frame)
    labels = frame.label.to_numpy()

    holdout = np.zeros(len(frame), dtype=bool)
    if options.holdout_fraction > 0:
        holdout = _split_off(labels, groups, options.holdout_fraction, options.seed)
        missing = sorted(set(labels) - set(labels[holdout]))
        if missing:
            raise SplitError(
                f"holdout of {options.holdout_fraction:.0%} leaves class(es) {', '.join(missing)} "
                "without a holdout image; raise split.holdout_fraction or add images"
            )
    frame["set"] = np.where(holdout, "holdout", "cv")
    cv = frame.index[~holdout].to_numpy()
    _check_counts(frame.label.iloc[cv], options.folds, "outside the holdout")
    cv_labels = labels[cv]
    cv_groups = None if groups is None else groups[cv]
    if cv_groups is None:
        splitter = StratifiedKFold(options.folds, shuffle=True, random_state=options.seed)
        folds = splitter.split(np.zeros(len(cv)), cv_labels)
    else:
        splitter = StratifiedGroupKFold(options.folds, shuffle=True, random_state=options.seed)
        folds = splitter.split(np.zeros(len(cv)), cv_labels, cv_groups)
    for fold, (train_part, test_part) in enumerate(folds):
        roles = np.full(len(frame), "holdout", dtype=object)
        roles[cv[test_part]] = "test"
        train_rows = cv[train_part]
        roles[train_rows] = "train"
        if options.val_fraction > 0:
            val_mask = _split_off(
                labels[train_rows],
                None if groups is None else groups[train_rows],
                options.val_fraction,
                options.seed + fold,
            )
            roles[train_rows[val_mask]] = "val"
        frame[f"fold{fold}"] = roles
    check_splits(frame)
    return frame


def fold_columns(splits: pd.DataFrame) -> list[str]:
    return [c for c in splits.columns if c.startswith("fold")]


def check_splits(splits: pd.DataFrame) -> None:
    """Integrity checks every consumer runs: no leakage between roles or into the holdout."""
    duplicated = splits.path[splits.path.duplicated()]
    if len(duplicated):
        raise SplitError(f"image listed twice in splits: {duplicated.iloc[0]}")
    for column in fold_columns(splits):
        roles = splits[column]
        if ((splits.set == "holdout") != (roles == "holdout")).any():
            raise SplitError(f"{column}: holdout images appear in training or selection roles")
        grouped = splits[splits.group != ""]
        if len(grouped):
            per_group = grouped.groupby("group")[column].nunique()
            leaking = per_group[per_group > 1]
            if len(leaking):
                raise SplitError(f"{column}: group {leaking.index[0]!r} appears in two roles")


def final_roles(splits: pd.DataFrame, val_fraction: float, seed: int) -> np.ndarray:
    """Roles for the final model, independent of the CV folds.

    Every non-holdout image is ``train`` and the holdout stays ``holdout``; with
    ``val_fraction`` > 0 a stratified (group-aware) part of the non-holdout images becomes
    ``val``, used for early stopping only.
    """
    roles = np.where(splits["set"].to_numpy() == "holdout", "holdout", "train").astype(object)
    if val_fraction > 0:
        cv = np.flatnonzero(roles == "train")
        groups = _group_ids(splits)
        mask = _split_off(
            splits.label.to_numpy()[cv], None if groups is None else groups[cv], val_fraction, seed
        )
        roles[cv[mask]] = "val"
    return roles
