"""Deployable or not, with the evidence and what to try next (seed 000's loop, made explicit).

The paper's step 7 ends with "if accuracy is not sufficiently high, return to step 2.3 and
repeat": other image size, generator with brightness/rotation, bigger model. Here the
measured tables say which of these the numbers point to, so the next run is chosen by
evidence rather than by hand.
"""

from __future__ import annotations

import math

import pandas as pd

from mobileclf.mobile.predict import KERAS


def _accuracy(table: pd.DataFrame, variant: str, path: str, severity: int | None = None) -> float:
    part = table[(table.subset == "holdout") & (table.variant == variant) & (table.path == path)]
    if severity is not None:
        part = part[part.severity == severity]
    return float(part.accuracy.iloc[0]) if len(part) else math.nan


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
    gallery_min = float(thresholds["gallery_accuracy"])
    camera_min = float(thresholds["camera_accuracy"])
    severity = int(thresholds["camera_severity"])
    baseline = _accuracy(table, KERAS, "computer")
    variants = [v for v in dict.fromkeys(table.variant) if v != KERAS]
    evidence = []
    for variant in variants:
        gallery = _accuracy(table, variant, "gallery")
        camera = _accuracy(table, variant, "camera", severity)
        evidence.append(
            dict(
                variant=variant,
                bytes=model_bytes.get(variant),
                computer=_accuracy(table, variant, "computer"),
                gallery=gallery,
                camera=camera,
                passes_gallery=bool(gallery >= gallery_min),
                passes_camera=bool(camera >= camera_min),
            )
        )
    passing = [e for e in evidence if e["passes_gallery"] and e["passes_camera"]]
    recommended = min(passing, key=lambda e: e["bytes"] or 0)["variant"] if passing else None
    best_gallery = max((e["gallery"] for e in evidence), default=math.nan)
    best_camera = max((e["camera"] for e in evidence), default=math.nan)
    summary = (
        f"Deployable: {recommended} passes the gallery ({gallery_min:.0%}) and camera "
        f"severity {severity} ({camera_min:.0%}) thresholds."
        if recommended
        else f"Not deployable: best gallery accuracy {best_gallery:.0%} (needs {gallery_min:.0%}), "
        f"best camera accuracy at severity {severity} {best_camera:.0%} (needs {camera_min:.0%})."
    )
    return {
        "deployable": recommended is not None,
        "recommended_variant": recommended,
        "summary": summary,
        "thresholds": {
            "gallery_accuracy": gallery_min,
            "camera_accuracy": camera_min,
            "camera_severity": severity,
        },
        "computer_accuracy_keras": baseline,
        "evidence": evidence,
        "camera_by_severity": _camera_curve(table),
        "next_steps": next_steps(
            table,
            evidence,
            baseline,
            gallery_min,
            camera_min,
            severity,
            selection,
            generator,
            cv_summary,
        ),
    }


def _camera_curve(table: pd.DataFrame) -> dict[str, dict[str, float]]:
    part = table[(table.subset == "holdout") & (table.path == "camera")]
    return {
        variant: {str(int(row.severity)): float(row.accuracy) for row in group.itertuples()}
        for variant, group in part.groupby("variant", sort=False)
    }


def _has_photometric_augmentation(generator: dict) -> bool:
    return bool(generator.get("brightness_range")) and bool(generator.get("rotation_range"))


def next_steps(
    table: pd.DataFrame,
    evidence: list[dict],
    baseline: float,
    gallery_min: float,
    camera_min: float,
    severity: int,
    selection: dict,
    generator: dict,
    cv_summary: pd.DataFrame | None,
) -> list[dict]:
    """Ordered suggestions, each with the measured numbers that triggered it."""
    steps: list[dict] = []
    if not evidence:
        return steps
    size = int(selection.get("size", 0))
    float_variant = next((e for e in evidence if e["variant"] == "float32"), evidence[0])
    if baseline < gallery_min:
        steps.append(
            dict(
                action="bigger model or more data",
                because=(
                    f"the Keras model reaches only {baseline:.0%} on the holdout on the "
                    "computer, below "
                    f"the gallery threshold {gallery_min:.0%}: no phone path can do better "
                    "than this"
                ),
            )
        )
        if cv_summary is not None and len(cv_summary):
            ranked = cv_summary.sort_values("mean_accuracy", ascending=False)
            top = ranked.iloc[0]
            steps[-1]["because"] += (
                f"; the best CV cell ({top.arch}/{top.generator}/{int(top['size'])} px, "
                f"{top.mean_accuracy:.0%}) is the ceiling of the current grid"
            )
    quantized = [e for e in evidence if e["variant"] in ("int8", "dynamic")]
    for entry in quantized:
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
    gallery_drop = float_variant["computer"] - float_variant["gallery"]
    if gallery_drop > 0.02:
        steps.append(
            dict(
                action="other image size (larger) or match the phone's resizing",
                because=(
                    f"the gallery path loses {gallery_drop:.1%} against the computer path "
                    "with the same "
                    "model: the phone's bilinear scaling without antialiasing differs from "
                    "the training "
                    f"resize at {size} px; a larger size makes the two agree more closely"
                ),
            )
        )
    camera = float_variant["camera"]
    camera_drop = float_variant["computer"] - camera
    if camera < camera_min:
        if not _has_photometric_augmentation(generator):
            steps.append(
                dict(
                    action="generator with brightness and rotation",
                    because=(
                        f"camera accuracy at severity {severity} is {camera:.0%} "
                        f"({camera_drop:.1%} below "
                        "the computer path) and the selected generator "
                        f"{selection.get('generator')!r} has "
                        "no brightness_range/rotation_range: train for the light and tilt "
                        "the camera adds"
                    ),
                )
            )
        if size and size < 100:
            steps.append(
                dict(
                    action="other image size (larger)",
                    because=(
                        f"the camera path crops 480 px and resizes to {size} px "
                        "by nearest neighbour: "
                        f"at this size a pixel of the model input is one sampled camera pixel "
                        f"(noise and aliasing pass through); camera accuracy {camera:.0%}"
                    ),
                )
            )
        if _has_photometric_augmentation(generator) and (not size or size >= 100):
            steps.append(
                dict(
                    action="bigger model",
                    because=(
                        f"the generator already augments brightness and rotation and the size is "
                        f"{size} px, yet the camera path reaches {camera:.0%}: more "
                        "capacity is the "
                        "remaining lever of the paper's loop"
                    ),
                )
            )
    return steps
