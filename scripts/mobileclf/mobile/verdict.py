"""Deployable or not, with the evidence and what to try next (seed 000's loop, made explicit).

The paper's step 7 ends with "if accuracy is not sufficiently high, return to step 2.3 and
repeat": other image size, generator with brightness/rotation, bigger model. Here the
measured tables say which of these the numbers point to, so the next run is chosen by
evidence rather than by hand.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import pandas as pd

from mobileclf.mobile.predict import KERAS


def _accuracy(table: pd.DataFrame, variant: str, path: str, severity: int | None = None) -> float:
    part = table[(table.subset == "holdout") & (table.variant == variant) & (table.path == path)]
    if severity is not None:
        part = part[part.severity == severity]
    return float(part.accuracy.iloc[0]) if len(part) else math.nan


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
) -> dict:
    """The verdict for one dataset from tables/mobile.csv (holdout rows).

    A TFLite variant passes when its gallery accuracy and its camera accuracy at
    ``thresholds.camera_severity`` reach the thresholds; the dataset is deployable when
    one does, and the smallest passing file is recommended.
    """
    limits = Thresholds.from_config(thresholds)
    baseline = _accuracy(table, KERAS, "computer")
    evidence = _evidence(table, limits, model_bytes)
    passing = [e for e in evidence if e["passes_gallery"] and e["passes_camera"]]
    recommended = min(passing, key=lambda e: e["bytes"] or 0)["variant"] if passing else None
    return {
        "deployable": recommended is not None,
        "recommended_variant": recommended,
        "summary": _summary(recommended, evidence, limits),
        "thresholds": {
            "gallery_accuracy": limits.gallery,
            "camera_accuracy": limits.camera,
            "camera_severity": limits.severity,
        },
        "computer_accuracy_keras": baseline,
        "evidence": evidence,
        "camera_by_severity": _camera_curve(table),
        "next_steps": next_steps(evidence, baseline, limits, selection, generator, cv_summary),
    }


def _evidence(table: pd.DataFrame, limits: Thresholds, model_bytes: dict[str, int]) -> list:
    """One row per TFLite variant: its accuracies and whether it passes each threshold."""
    evidence = []
    for variant in [v for v in dict.fromkeys(table.variant) if v != KERAS]:
        gallery = _accuracy(table, variant, "gallery")
        camera = _accuracy(table, variant, "camera", limits.severity)
        evidence.append(
            dict(
                variant=variant,
                bytes=model_bytes.get(variant),
                computer=_accuracy(table, variant, "computer"),
                gallery=gallery,
                camera=camera,
                passes_gallery=bool(gallery >= limits.gallery),
                passes_camera=bool(camera >= limits.camera),
            )
        )
    return evidence


def _summary(recommended: str | None, evidence: list[dict], limits: Thresholds) -> str:
    if recommended:
        return (
            f"Deployable: {recommended} passes the gallery ({limits.gallery:.0%}) and camera "
            f"severity {limits.severity} ({limits.camera:.0%}) thresholds."
        )
    best_gallery = max((e["gallery"] for e in evidence), default=math.nan)
    best_camera = max((e["camera"] for e in evidence), default=math.nan)
    return (
        f"Not deployable: best gallery accuracy {best_gallery:.0%} "
        f"(needs {limits.gallery:.0%}), best camera accuracy at severity {limits.severity} "
        f"{best_camera:.0%} (needs {limits.camera:.0%})."
    )


def _camera_curve(table: pd.DataFrame) -> dict[str, dict[str, float]]:
    part = table[(table.subset == "holdout") & (table.path == "camera")]
    return {
        variant: {str(int(row.severity)): float(row.accuracy) for row in group.itertuples()}
        for variant, group in part.groupby("variant", sort=False)
    }


def _has_photometric_augmentation(generator: dict) -> bool:
    return bool(generator.get("brightness_range")) and bool(generator.get("rotation_range"))


def next_steps(
    evidence: list[dict],
    baseline: float,
    limits: Thresholds,
    selection: dict,
    generator: dict,
    cv_summary: pd.DataFrame | None,
) -> list[dict]:
    """Ordered suggestions, each with the measured numbers that triggered it: the model's
    capacity, then quantisation, then the gallery path, then the camera path."""
    if not evidence:
        return []
    size = int(selection.get("size", 0))
    float_variant = next((e for e in evidence if e["variant"] == "float32"), evidence[0])
    steps = _capacity_steps(baseline, limits, cv_summary)
    steps += _quantisation_steps(evidence, float_variant)
    steps += _gallery_steps(float_variant, size)
    if float_variant["camera"] < limits.camera:
        steps += _camera_steps(float_variant, limits, selection, generator, size)
    return steps


def _capacity_steps(
    baseline: float, limits: Thresholds, cv_summary: pd.DataFrame | None
) -> list[dict]:
    """The Keras model itself is below the gallery threshold: no phone path can help."""
    if baseline >= limits.gallery:
        return []
    because = (
        f"the Keras model reaches only {baseline:.0%} on the holdout on the computer, below "
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
    if gallery_drop <= 0.02:
        return []
    return [
        dict(
            action="other image size (larger) or match the phone's resizing",
            because=(
                f"the gallery path loses {gallery_drop:.1%} against the computer path with the "
                "same model: the phone's bilinear scaling without antialiasing differs from the "
                f"training resize at {size} px; a larger size makes the two agree more closely"
            ),
        )
    ]


def _camera_steps(
    float_variant: dict, limits: Thresholds, selection: dict, generator: dict, size: int
) -> list[dict]:
    """The camera path is below its threshold: augment, enlarge, or add capacity."""
    camera = float_variant["camera"]
    camera_drop = float_variant["computer"] - camera
    augmented = _has_photometric_augmentation(generator)
    steps = []
    if not augmented:
        steps.append(
            dict(
                action="generator with brightness and rotation",
                because=(
                    f"camera accuracy at severity {limits.severity} is {camera:.0%} "
                    f"({camera_drop:.1%} below the computer path) and the selected generator "
                    f"{selection.get('generator')!r} has no brightness_range/rotation_range: "
                    "train for the light and tilt the camera adds"
                ),
            )
        )
    if size and size < 100:
        steps.append(
            dict(
                action="other image size (larger)",
                because=(
                    f"the camera path crops 480 px and resizes to {size} px by nearest "
                    "neighbour: at this size a pixel of the model input is one sampled camera "
                    f"pixel (noise and aliasing pass through); camera accuracy {camera:.0%}"
                ),
            )
        )
    if augmented and (not size or size >= 100):
        steps.append(
            dict(
                action="bigger model",
                because=(
                    f"the generator already augments brightness and rotation and the size is "
                    f"{size} px, yet the camera path reaches {camera:.0%}: more capacity is the "
                    "remaining lever of the paper's loop"
                ),
            )
        )
    return steps
