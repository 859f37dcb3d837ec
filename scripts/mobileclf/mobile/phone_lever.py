"""The verdict's steps for a failing camera path, the phone-path lever first: train on
what the phone sees.

When the camera path is what fails, the paper's loop (other size, brightness/rotation,
bigger model) keeps training on computer-path images. A generator with a ``phone_views``
key trains on emulated gallery and camera views instead; cross-validation scores every cell
on the phone paths too (:mod:`mobileclf.mobile.phone_inputs`), so the verdict can show the
selected cell next to the best phone-path cell, computer vs phone, from the same folds.
"""

from __future__ import annotations

import math

import pandas as pd

from mobileclf import stats

PHONE_KEY = "phone_views"  # the generator key of the phone-path generator


def is_phone_generator(spec: dict | None) -> bool:
    """A generator spec that trains on phone-path views."""
    return bool(spec) and PHONE_KEY in spec


def _value(row, column: str) -> float | None:
    value = row.get(column) if column in row else None
    return None if value is None or pd.isna(value) else float(value)


def _entry(role: str, row) -> dict:
    """One row of the computer-vs-phone table: CV means of one cell."""
    entry = {
        "role": role,
        "cell": f"{row.arch}/{row.generator}/{int(row['size'])}",
        "computer": _value(row, "mean_accuracy"),
        "gallery": _value(row, "mean_gallery_accuracy"),
    }
    for column in sorted(c for c in row.index if c.startswith("mean_camera_accuracy_s")):
        entry[f"camera_s{column.rsplit('s', 1)[1]}"] = _value(row, column)
    return entry


def phone_comparison(
    cv_summary: pd.DataFrame | None, selection: dict, generators: dict, severity: int
) -> dict:
    """Computer vs phone (CV means) for the selected cell and for the best cell whose
    generator is a phone-path one (highest mean camera accuracy at ``severity``, the
    verdict's, complete cells only);
    ``note`` says what is missing when one of them cannot be shown."""
    if cv_summary is None or "mean_gallery_accuracy" not in cv_summary:
        return {"rows": [], "note": "the CV summary has no phone metrics (an older run)"}
    rows, notes = [], []
    chosen = cv_summary[
        (cv_summary.arch == selection.get("arch"))
        & (cv_summary.generator == selection.get("generator"))
        & (cv_summary["size"] == int(selection.get("size", -1)))
    ]
    if len(chosen):
        rows.append(_entry("selected", chosen.iloc[0]))
    phone = cv_summary[
        cv_summary.generator.map(lambda g: is_phone_generator(generators.get(g)))
        & cv_summary.complete.astype(str).str.lower().eq("true")
    ]
    camera = f"mean_camera_accuracy_s{severity}"
    phone = phone[phone[camera].notna()] if camera in phone else phone.iloc[:0]
    if len(phone):
        best = phone.sort_values(camera, ascending=False, kind="stable").iloc[0]
        rows.append(_entry("best phone-path", best))
    else:
        notes.append(
            f"no generator in the grid has a {PHONE_KEY!r} key: add one (docs/mobile-testing.md) "
            "to train on what the phone sees and compare it here"
        )
    return {"rows": rows, "note": "; ".join(notes)}


def phone_step(float_variant: dict, severity: int, generator: dict, comparison: dict) -> list:
    """Propose the phone-path generator when the selected generator is not one, with the
    measured camera drop (holdout, paired) and the best phone-path cell's CV camera score."""
    if is_phone_generator(generator):
        return []
    drop = float_variant["computer"] - float_variant["camera"]
    because = (
        f"camera accuracy at severity {severity} is {float_variant['camera']:.1%}, "
        f"{drop:.1%} below the computer path on the holdout with the same model: a generator "
        f"with a {PHONE_KEY!r} key trains on the gallery and camera views the phone feeds"
    )
    best = next((r for r in comparison["rows"] if r["role"] == "best phone-path"), None)
    camera = best.get(f"camera_s{severity}") if best else None
    if best and camera is not None and not math.isnan(camera):
        because += f"; in CV, {best['cell']} reaches {camera:.1%} on the camera path"
    because += "; select it with selection.metric: mean_camera_accuracy"
    return [dict(action=f"phone-path generator ({PHONE_KEY})", because=because)]


def drop_text(entry: dict, name: str) -> str:
    """' (95% CI a to b points, exact McNemar p = x; paired over the same images)'."""
    low, high = entry.get(f"{name}_drop_low"), entry.get(f"{name}_drop_high")
    if low is None or high is None:
        return ""
    return (
        f" (95% CI {100 * low:.0f} to {100 * high:.0f} points, exact McNemar "
        f"p = {entry[f'{name}_drop_p_value']:.2g}; paired over the same images)"
    )


def _trains_for_light_and_tilt(generator: dict) -> bool:
    """Table 1's brightness and rotation keys, or phone views (which draw light and tilt)."""
    table1 = bool(generator.get("brightness_range")) and bool(generator.get("rotation_range"))
    return table1 or is_phone_generator(generator)


def camera_steps(
    float_variant: dict, severity: int, selection: dict, generator: dict, size: int
) -> list[dict]:
    """The camera path is below its threshold: augment, enlarge, or add capacity. A phone
    generator already trains on the camera's light and tilt, so it is never told to add
    brightness and rotation (Table 1 shifts on top of the views cost accuracy on every path:
    docs/phone-views.md), and more capacity is proposed at any size: with the same views the
    paper's model2 gains 3-4 points over model1 at camera severity 2 on the CT slices."""
    camera = float_variant["camera"]
    camera_drop = float_variant["computer"] - camera
    camera_text = stats.percent_interval(float_variant["camera_correct"], float_variant["camera_n"])
    augmented = _trains_for_light_and_tilt(generator)
    phone = is_phone_generator(generator)
    steps = []
    if not augmented:
        steps.append(
            dict(
                action="generator with brightness and rotation",
                because=(
                    f"camera accuracy at severity {severity} is {camera_text}, "
                    f"{camera_drop:.1%} below the computer path"
                    f"{drop_text(float_variant, 'camera')}, and the selected generator "
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
                    f"pixel (noise and aliasing pass through); camera accuracy {camera_text}"
                ),
            )
        )
    if phone or (augmented and (not size or size >= 100)):
        trained = (
            f"the generator {selection.get('generator')!r} already trains on the phone's "
            "gallery and camera views"
            if phone
            else f"the generator already augments brightness and rotation and the size is {size} px"
        )
        steps.append(
            dict(
                action="bigger model",
                because=(
                    f"{trained}, yet the camera path reaches {camera_text} at severity "
                    f"{severity}: more capacity (another convolution block, a larger "
                    "backbone) is the remaining lever of the paper's loop"
                ),
            )
        )
    return steps
