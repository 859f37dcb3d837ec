"""Deployable or not, with the evidence and what to try next (Muneeb et al. (2022)'s loop,
made explicit).

The paper's step 7 ends with "if accuracy is not sufficiently high, return to step 2.3 and
repeat": other image size, generator with brightness/rotation, bigger model. Here the
measured tables say which of these the numbers point to, so the next run is chosen by
evidence rather than by hand.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import pandas as pd

from mobileclf import stats
from mobileclf.mobile.phone_lever import camera_steps, drop_text, phone_comparison, phone_step
from mobileclf.mobile.predict import KERAS

DEPLOYABLE, NOT_DEPLOYABLE, INCONCLUSIVE = "deployable", "not deployable", "inconclusive"


def _row(table: pd.DataFrame, variant: str, path: str, severity: int | None = None):
    part = table[(table.subset == "holdout") & (table.variant == variant) & (table.path == path)]
    if severity is not None:
        part = part[part.severity == severity]
    return part.iloc[0] if len(part) else None


def _accuracy(table: pd.DataFrame, variant: str, path: str, severity: int | None = None) -> float:
    row = _row(table, variant, path, severity)
    return float(row.accuracy) if row is not None else math.nan


def _count(table: pd.DataFrame, variant: str, path: str, severity: int | None = None):
    """(correct, n) of one holdout row; tables without n_correct (older runs) give it back
    from accuracy × n_images, which is exact for counts."""
    row = _row(table, variant, path, severity)
    if row is None:
        return 0, 0
    n = int(row.n_images)
    correct = row.get("n_correct")
    if correct is None or pd.isna(correct):
        correct = round(float(row.accuracy) * n)
    return int(correct), n


@dataclass(frozen=True)
class Thresholds:
    """The config's mobile.thresholds: what a variant must reach to be deployable."""

    gallery: float  # gallery_accuracy
    camera: float  # camera_accuracy, at severity camera_severity
    severity: int

    @classmethod
    def from_config(cls, thresholds: dict) -> Thresholds:
        return cls(
            float(thresholds["gallery_accuracy"]),
            float(thresholds["camera_accuracy"]),
            int(thresholds["camera_severity"]),
        )


def decide(
    table: pd.DataFrame,
    thresholds: dict,
    selection: dict,
    generator: dict,
    cv_summary: pd.DataFrame | None,
    model_bytes: dict[str, int],
    generators: dict | None = None,
) -> dict:
    """The verdict for one dataset from tables/mobile.csv (holdout rows).

    ``generators`` (the config's, all of them) finds the best phone-path cell of the grid
    for ``phone_comparison`` (computer vs phone CV means, :mod:`mobileclf.mobile.phone_lever`).

    A criterion (gallery accuracy; camera accuracy at ``thresholds.camera_severity``) is
    decided only when the 95% Wilson interval of its k/n lies wholly on one side of the
    threshold. A variant passes when both criteria pass, fails when one fails, and is
    undecided otherwise. The outcome is "deployable" when a variant passes (the smallest
    such file is recommended), else "inconclusive" when a variant is undecided (more
    holdout images could still make it pass), else "not deployable".
    """
    limits = Thresholds.from_config(thresholds)
    comparison = phone_comparison(cv_summary, selection, generators or {}, limits.severity)
    baseline = _accuracy(table, KERAS, "computer")
    evidence = _evidence(table, limits, model_bytes)
    passing = [e for e in evidence if e["outcome"] == "pass"]
    recommended = min(passing, key=lambda e: e["bytes"] or 0)["variant"] if passing else None
    if recommended:
        outcome = DEPLOYABLE
    elif any(e["outcome"] == "undecided" for e in evidence):
        outcome = INCONCLUSIVE
    else:
        outcome = NOT_DEPLOYABLE
    return {
        "deployable": recommended is not None,
        "outcome": outcome,
        "recommended_variant": recommended,
        "summary": _summary(outcome, recommended, evidence, limits),
        "deciding_criteria": sorted({c for e in evidence for c in e["deciding"]}),
        "holdout_images_needed": _images_needed(outcome, evidence),
        "thresholds": {
            "gallery_accuracy": limits.gallery,
            "camera_accuracy": limits.camera,
            "camera_severity": limits.severity,
        },
        "computer_accuracy_keras": baseline,
        "evidence": evidence,
        "camera_by_severity": _camera_curve(table),
        "next_steps": next_steps(
            evidence,
            baseline,
            limits,
            selection,
            generator,
            cv_summary,
            baseline_count=_count(table, KERAS, "computer"),
            comparison=comparison,
        )
        + _more_images_step(outcome, evidence),
        "phone_comparison": comparison,
    }


def without_nan(value):
    """``value`` with every NaN float as None: verdict.json has ``null`` ("not measured")
    where a path was not measured, never the invalid JSON token NaN."""
    if isinstance(value, dict):
        return {key: without_nan(item) for key, item in value.items()}
    if isinstance(value, list):
        return [without_nan(item) for item in value]
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def _evidence(table: pd.DataFrame, limits: Thresholds, model_bytes: dict[str, int]) -> list:
    """One row per TFLite variant: its accuracies (point, count, interval), whether the
    point estimate reaches each threshold (``passes_*``, as before) and whether the
    interval decides it (``*_decision``), and the criteria that decide the variant."""
    evidence = []
    for variant in [v for v in dict.fromkeys(table.variant) if v != KERAS]:
        entry = dict(variant=variant, bytes=model_bytes.get(variant))
        entry["computer"] = _accuracy(table, variant, "computer")
        criteria = {
            "gallery": (_count(table, variant, "gallery"), limits.gallery),
            "camera": (_count(table, variant, "camera", limits.severity), limits.camera),
        }
        for name, ((correct, n), threshold) in criteria.items():
            low, high = stats.wilson_interval(correct, n)
            entry[name] = correct / n if n else math.nan
            entry[f"passes_{name}"] = bool(n and correct / n >= threshold)
            entry[f"{name}_correct"], entry[f"{name}_n"] = correct, n
            entry[f"{name}_low"], entry[f"{name}_high"] = low, high
            entry[f"{name}_decision"] = stats.decide_against(correct, n, threshold)
            entry[f"{name}_images_needed"] = stats.images_needed(entry[name], threshold)
        for name, row in (
            ("gallery", _row(table, variant, "gallery")),
            ("camera", _row(table, variant, "camera", limits.severity)),
        ):  # the paired drop from Keras on the computer path (tables/mobile.csv)
            for key in ("drop_low", "drop_high", "drop_p_value"):
                value = row.get(key) if row is not None else None
                entry[f"{name}_{key}"] = None if value is None or pd.isna(value) else float(value)
        decisions = {name: entry[f"{name}_decision"] for name in criteria}
        if all(d == "pass" for d in decisions.values()):
            entry["outcome"], entry["deciding"] = "pass", list(criteria)
        elif any(d == "fail" for d in decisions.values()):
            entry["outcome"] = "fail"
            entry["deciding"] = [c for c, d in decisions.items() if d == "fail"]
        else:
            entry["outcome"] = "undecided"
            entry["deciding"] = [c for c, d in decisions.items() if d == "undecided"]
        evidence.append(entry)
    return evidence


def _criterion_text(entry: dict, name: str, limits: Thresholds) -> str:
    label = "gallery" if name == "gallery" else f"camera (severity {limits.severity})"
    threshold = limits.gallery if name == "gallery" else limits.camera
    if not entry[f"{name}_n"]:
        return f"{label} not measured (no holdout predictions on this path), needs {threshold:.0%}"
    measured = stats.percent_interval(entry[f"{name}_correct"], entry[f"{name}_n"])
    return f"{label} {measured}, needs {threshold:.0%}"


def _summary(
    outcome: str, recommended: str | None, evidence: list[dict], limits: Thresholds
) -> str:
    """One sentence naming only the criteria that decide the outcome, with their counts
    and intervals; variants with the same deciding numbers are named together."""
    if recommended:
        entry = next(e for e in evidence if e["variant"] == recommended)
        texts = "; ".join(_criterion_text(entry, c, limits) for c in entry["deciding"])
        return f"Deployable: {recommended} passes: {texts}."
    if not evidence:
        return "Not deployable: no TFLite variant was measured."
    wanted = "undecided" if outcome == INCONCLUSIVE else "fail"
    groups: dict[str, list[str]] = {}
    for entry in [e for e in evidence if e["outcome"] == wanted]:
        text = "; ".join(_criterion_text(entry, c, limits) for c in entry["deciding"])
        groups.setdefault(text, []).append(entry["variant"])
    reasons = " | ".join(f"{', '.join(names)}: {text}" for text, names in groups.items())
    if outcome == INCONCLUSIVE:
        needed = _images_needed(outcome, evidence)
        advice = (
            f" At the measured accuracy about {needed} holdout images would decide it."
            if needed
            else ""
        )
        several = max(len(e["deciding"]) for e in evidence if e["outcome"] == wanted) > 1
        straddle = (
            "the 95% intervals straddle their thresholds, so these holdout images cannot tell "
            "whether they are met"
            if several
            else "the 95% interval straddles the threshold, so these holdout images cannot "
            "tell whether it is met"
        )
        return f"Inconclusive: {straddle}. {reasons}.{advice}"
    return f"Not deployable: below the threshold with the whole 95% interval. {reasons}."


def _images_needed(outcome: str, evidence: list[dict]) -> int | None:
    """For an inconclusive verdict, the fewest holdout images that would decide some
    undecided variant at its measured accuracies (the largest over its deciding criteria)."""
    if outcome != INCONCLUSIVE:
        return None
    per_variant = []
    for entry in [e for e in evidence if e["outcome"] == "undecided"]:
        needed = [entry[f"{c}_images_needed"] for c in entry["deciding"]]
        if needed and all(n is not None for n in needed):
            per_variant.append(max(needed))
    return min(per_variant) if per_variant else None


def _more_images_step(outcome: str, evidence: list[dict]) -> list[dict]:
    needed = _images_needed(outcome, evidence)
    if outcome != INCONCLUSIVE:
        return []
    n = max((e["gallery_n"] for e in evidence), default=0)
    because = (
        f"the verdict is inconclusive on {n} holdout images: the 95% interval straddles a threshold"
    )
    if needed:
        because += f"; at the measured accuracy about {needed} images would decide it"
    else:
        because += "; the measured accuracy equals the threshold, so no number of images decides it"
    return [dict(action="more holdout images", because=because)]


def _camera_curve(table: pd.DataFrame) -> dict[str, dict[str, float]]:
    part = table[(table.subset == "holdout") & (table.path == "camera")]
    return {
        variant: {str(int(row.severity)): float(row.accuracy) for row in group.itertuples()}
        for variant, group in part.groupby("variant", sort=False)
    }


def next_steps(
    evidence: list[dict],
    baseline: float,
    limits: Thresholds,
    selection: dict,
    generator: dict,
    cv_summary: pd.DataFrame | None,
    baseline_count: tuple[int, int] | None = None,
    comparison: dict | None = None,
) -> list[dict]:
    """Ordered suggestions, each with the measured numbers that triggered it: the model's
    capacity, then quantisation, then the gallery path, then the camera path.
    ``baseline_count``: the Keras model's (correct, n) on the computer path, to state its
    accuracy with count and interval. When the camera path fails, the phone-path generator
    comes first: it is the lever that trains on what the camera gives."""
    if not evidence:
        return []
    size = int(selection.get("size", 0))
    float_variant = next((e for e in evidence if e["variant"] == "float32"), evidence[0])
    steps = _capacity_steps(baseline, limits, cv_summary, baseline_count)
    steps += _quantisation_steps(evidence, float_variant)
    steps += _gallery_steps(float_variant, size)
    if float_variant["camera"] < limits.camera:
        comparison = comparison or {"rows": []}
        steps += phone_step(float_variant, limits.severity, generator, comparison)
        camera = camera_steps(float_variant, limits.severity, selection, generator, size)
        if any(step["action"].startswith("bigger model") for step in steps):  # said once
            camera = [step for step in camera if step["action"] != "bigger model"]
        steps += camera
    return steps


def _capacity_steps(
    baseline: float, limits: Thresholds, cv_summary: pd.DataFrame | None, count=None
) -> list[dict]:
    """The Keras model itself is below the gallery threshold: no phone path can help."""
    if not math.isfinite(baseline) or baseline >= limits.gallery:
        return []  # not measured (no Keras computer-path rows): nothing to say, no "nan%"
    measured = stats.percent_interval(*count) if count and count[1] else f"{baseline:.0%}"
    because = (
        f"the Keras model reaches only {measured} on the holdout on the computer, below "
        f"the gallery threshold {limits.gallery:.0%}: no phone path can do better than this"
    )
    if cv_summary is not None and len(cv_summary):
        top = cv_summary.sort_values("mean_accuracy", ascending=False).iloc[0]
        because += (
            f"; the best CV cell ({top.arch}/{top.generator}/{int(top['size'])} px, "
            f"{top.mean_accuracy:.0%}) is the ceiling of the current grid"
        )
    return [dict(action="bigger model or more data", because=because)]


def _quantisation_steps(evidence: list[dict], float_variant: dict) -> list[dict]:
    steps = []
    for entry in [e for e in evidence if e["variant"] in ("int8", "dynamic")]:
        loss = float_variant["computer"] - entry["computer"]
        if loss > 0.02:
            steps.append(
                dict(
                    action=f"deploy float16 or float32 instead of {entry['variant']}",
                    because=(
                        f"{entry['variant']} loses {loss:.1%} accuracy against float32 on the same "
                        "computer inputs: quantisation, not the phone, costs this"
                    ),
                )
            )
    return steps


def _gallery_steps(float_variant: dict, size: int) -> list[dict]:
    gallery_drop = float_variant["computer"] - float_variant["gallery"]
    if not math.isfinite(gallery_drop) or gallery_drop <= 0.02:  # not measured: no "nan%"
        return []
    return [
        dict(
            action="other image size (larger) or match the phone's resizing",
            because=(
                f"the gallery path loses {gallery_drop:.1%} against the computer path"
                f"{drop_text(float_variant, 'gallery')} with the "
                "same model: the phone's bilinear scaling without antialiasing differs from the "
                f"training resize at {size} px; a larger size makes the two agree more closely"
            ),
        )
    ]
