"""Seeded, stratified (and group-aware) holdout + k-fold splits, independent of image size.

``splits.csv`` has one row per accepted image: ``path, label, group, set`` (``holdout`` or
``cv``) and one column ``fold{k}`` per fold whose value is ``train``, ``val``, ``test`` or
``holdout``. With group ids (e.g. patient), no group appears in two roles of any fold, and
holdout groups never appear in the CV part.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.model_selection import StratifiedGroupKFold, StratifiedKFold, train_test_split

from mobileclf.errors import REPAIR, UserError


class SplitError(UserError):
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
    labels: np.ndarray, groups: np.ndarray | None, fraction: float, seed: int, what: str
) -> np.ndarray:
    """Boolean mask of a stratified (group-aware) fraction of the rows.

    scikit-learn's ValueErrors (too few images or groups per class for the fraction)
    become a :class:`SplitError` that names the config key to change.
    """
    try:
        return _split_off_unchecked(labels, groups, fraction, seed)
    except ValueError as error:
        counts = pd.Series(labels).value_counts().sort_index().to_dict()
        raise SplitError(
            f"cannot split off the {what} ({fraction:.0%}) stratified by class: {error} "
            f"(images per class: {counts}); add images, or change that fraction"
        ) from error


def _split_off_unchecked(
    labels: np.ndarray, groups: np.ndarray | None, fraction: float, seed: int
) -> np.ndarray:
    if groups is None:
        index = np.arange(len(labels))
        # at least one image per class (scikit-learn's own rounding is ceil(fraction * n);
        # small datasets would otherwise get fewer images than classes and fail)
        n_taken = max(len(set(labels)), math.ceil(fraction * len(labels)))
        _, taken = train_test_split(index, test_size=n_taken, stratify=labels, random_state=seed)
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
        holdout = _split_off(
            labels,
            groups,
            options.holdout_fraction,
            options.seed,
            "holdout (split.holdout_fraction)",
        )
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
    if cv_groups is not None and len(set(cv_groups)) < options.folds:
        raise SplitError(
            f"only {len(set(cv_groups))} groups outside the holdout for split.folds="
            f"{options.folds}: each fold's test part needs its own groups; lower split.folds "
            "or add groups (patients)"
        )
    if cv_groups is None:
        splitter = StratifiedKFold(options.folds, shuffle=True, random_state=options.seed)
        folds = list(splitter.split(np.zeros(len(cv)), cv_labels))
    else:
        splitter = StratifiedGroupKFold(options.folds, shuffle=True, random_state=options.seed)
        folds = list(splitter.split(np.zeros(len(cv)), cv_labels, cv_groups))
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
                f"validation part of fold {fold} (split.val_fraction)",
            )
            roles[train_rows[val_mask]] = "val"
        frame[f"fold{fold}"] = roles
    check_splits(frame)
    return frame


def fold_columns(splits: pd.DataFrame) -> list[str]:
    return [c for c in splits.columns if c.startswith("fold")]


ROLES = {"train", "val", "test", "holdout"}
REBUILD = f"it was edited or comes from another run; delete it and {REPAIR}"


def check_splits(splits: pd.DataFrame) -> None:
    """Integrity checks every consumer runs before training; raise SplitError on leakage.

    No image listed twice; only known roles; holdout images are ``holdout`` in every fold
    (never trained on or selected with); every CV image is tested in exactly one fold;
    every fold has images to train and test on; no group (patient) in two roles.
    """
    for column in ("path", "label", "group", "set"):
        if column not in splits.columns:
            raise SplitError(f"splits.csv has no column {column!r}; {REBUILD}")
    columns = fold_columns(splits)
    if len(columns) < 2:
        raise SplitError(f"splits.csv has {len(columns)} fold column(s); {REBUILD}")
    duplicated = splits.path[splits.path.duplicated()]
    if len(duplicated):
        raise SplitError(f"image listed twice in splits.csv: {duplicated.iloc[0]}; {REBUILD}")
    unknown_sets = sorted(set(splits.set) - {"holdout", "cv"})
    if unknown_sets:
        raise SplitError(f"splits.csv set column has {unknown_sets}; {REBUILD}")
    for column in columns:
        roles = splits[column]
        unknown = sorted(set(roles) - ROLES)
        if unknown:
            raise SplitError(f"splits.csv {column} has unknown roles {unknown}; {REBUILD}")
        leaked = splits.path[(splits.set == "holdout") != (roles == "holdout")]
        if len(leaked):
            raise SplitError(
                f"{column}: holdout image {leaked.iloc[0]} appears in training or selection "
                f"roles (or a CV image is marked holdout); {REBUILD}"
            )
        for role in ("train", "test"):
            if not (roles == role).any():
                raise SplitError(f"{column} has no {role} images; {REBUILD}")
        grouped = splits[splits.group != ""]
        if len(grouped):
            per_group = grouped.groupby("group")[column].nunique()
            leaking = per_group[per_group > 1]
            if len(leaking):
                raise SplitError(
                    f"{column}: group {leaking.index[0]!r} appears in two roles (e.g. train "
                    f"and test); {REBUILD}"
                )
    tested = (splits[columns] == "test").sum(axis=1)
    wrong = splits.path[(splits.set == "cv") & (tested != 1)]
    if len(wrong):
        raise SplitError(
            f"CV image {wrong.iloc[0]} is in the test part of {tested[wrong.index[0]]} folds "
            f"instead of exactly one; {REBUILD}"
        )


def read_table(path) -> pd.DataFrame:
    """Read manifest.csv / splits.csv with every name as text (a class "01" stays "01")."""
    return pd.read_csv(
        path, dtype={"path": str, "label": str, "group": str, "reason": str}, keep_default_na=False
    )


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
            splits.label.to_numpy()[cv],
            None if groups is None else groups[cv],
            val_fraction,
            seed,
            "validation part of the final model (split.val_fraction)",
        )
        roles[cv[mask]] = "val"
    return roles
