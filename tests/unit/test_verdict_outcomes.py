"""The verdict's three outcomes from fixed counts at and around each threshold: a criterion
decides only when its 95% Wilson interval lies wholly on one side of the threshold, and the
summary names only the criteria that decide."""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd
import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "scripts"))

from mobileclf import stats  # noqa: E402
from mobileclf.mobile.verdict import decide  # noqa: E402

THRESHOLDS = {"gallery_accuracy": 0.85, "camera_accuracy": 0.8, "camera_severity": 1}
N = 100
# With 100 images (Wilson 95%): gallery (85%) passes from 92 right (interval from
# 85.002%) and fails at 78 or fewer (up to 84.999%); camera (80%) passes from 88 right
# (from 80.19%) and fails at 72 or fewer (up to 79.86%).


def _table(counts: dict[str, tuple[int, int]]) -> pd.DataFrame:
    """tables/mobile.csv holdout rows: Keras on the computer path, and per variant its
    (gallery, camera severity 1) counts of N; the computer path equals the gallery."""
    rows = [("keras", "computer", None, N)]
    for variant, (gallery, camera) in counts.items():
        rows += [
            (variant, "computer", None, gallery),
            (variant, "gallery", None, gallery),
            (variant, "camera", 1, camera),
        ]
    return pd.DataFrame(
        [
            dict(
                subset="holdout",
                variant=variant,
                path=path,
                severity=severity,
                n_images=N,
                accuracy=correct / N,
                n_correct=correct,
            )
            for variant, path, severity, correct in rows
        ]
    )


def _verdict(counts: dict[str, tuple[int, int]]) -> dict:
    generator = {"brightness_range": [0.5, 1.5], "rotation_range": 20}
    return decide(
        _table(counts),
        THRESHOLDS,
        {"generator": "g", "size": 128},
        generator,
        None,
        {"float32": 4000, "int8": 1000},
    )


@pytest.mark.parametrize(
    ("gallery", "camera", "outcome", "deciding"),
    [
        (93, 88, "deployable", ["camera", "gallery"]),  # both intervals above
        (100, 100, "deployable", ["camera", "gallery"]),  # n/n
        (92, 88, "deployable", ["camera", "gallery"]),  # the lowest counts that pass
        (91, 88, "inconclusive", ["gallery"]),  # gallery interval from 83.8%: straddles 85%
        (85, 95, "inconclusive", ["gallery"]),  # exactly at the threshold
        (93, 87, "inconclusive", ["camera"]),
        (90, 80, "inconclusive", ["camera", "gallery"]),  # both straddle
        (77, 95, "not deployable", ["gallery"]),  # gallery interval below
        (78, 95, "not deployable", ["gallery"]),  # interval up to 84.999%: just below
        (79, 95, "inconclusive", ["gallery"]),
        (93, 73, "inconclusive", ["camera"]),  # camera interval up to 80.7%
        (77, 80, "not deployable", ["gallery"]),  # a failure decides; the undecided not
        (93, 72, "not deployable", ["camera"]),
        (0, 0, "not deployable", ["camera", "gallery"]),  # 0/n
    ],
)
def test_outcome_and_deciding_criteria_from_fixed_counts(gallery, camera, outcome, deciding):
    verdict = _verdict({"float32": (gallery, camera)})
    assert verdict["outcome"] == outcome
    assert verdict["deployable"] is (outcome == "deployable")
    assert verdict["deciding_criteria"] == deciding
    summary = verdict["summary"]
    assert summary.lower().startswith(outcome)
    assert ("gallery" in summary) is ("gallery" in deciding)
    assert ("camera" in summary) is ("camera" in deciding)
    for name, correct in (("gallery", gallery), ("camera", camera)):
        if name in deciding:
            assert stats.percent_interval(correct, N) in summary
    entry = verdict["evidence"][0]
    assert (entry["gallery_correct"], entry["gallery_n"]) == (gallery, N)
    low, high = stats.wilson_interval(camera, N)
    assert (entry["camera_low"], entry["camera_high"]) == (low, high)


def test_point_estimate_flags_keep_their_meaning():
    entry = _verdict({"float32": (90, 80)})["evidence"][0]
    assert entry["passes_gallery"] and entry["passes_camera"]  # 90% >= 85%, 80% >= 80%
    assert entry["gallery_decision"] == entry["camera_decision"] == "undecided"


def test_inconclusive_says_how_many_images_would_decide_it():
    verdict = _verdict({"float32": (90, 95)})
    needed = stats.images_needed(0.90, 0.85)
    assert verdict["holdout_images_needed"] == needed
    assert f"about {needed} holdout images would decide it" in verdict["summary"]
    step = verdict["next_steps"][-1]
    assert step["action"] == "more holdout images"
    assert f"{N} holdout images" in step["because"] and f"about {needed}" in step["because"]
    at_threshold = _verdict({"float32": (85, 95)})
    assert at_threshold["holdout_images_needed"] is None
    assert "no number of images decides it" in at_threshold["next_steps"][-1]["because"]


def test_decided_verdicts_ask_for_no_more_images():
    for counts in ((93, 88), (77, 95)):
        verdict = _verdict({"float32": counts})
        assert verdict["holdout_images_needed"] is None
        assert "more holdout images" not in [s["action"] for s in verdict["next_steps"]]


def test_only_a_decided_pass_is_recommended_even_when_a_smaller_file_looks_better():
    # int8 is smaller and its point estimates are above both thresholds, but its gallery
    # interval straddles 85%; float32's intervals clear both
    verdict = _verdict({"float32": (95, 90), "int8": (90, 90)})
    assert verdict["outcome"] == "deployable" and verdict["recommended_variant"] == "float32"
    assert verdict["summary"].startswith("Deployable: float32 passes: gallery 95% (95/100")
    # one variant undecided, the other failing: inconclusive, naming the undecided one only
    mixed = _verdict({"float32": (70, 95), "int8": (90, 95)})
    assert mixed["outcome"] == "inconclusive"
    assert "int8: gallery 90% (90/100" in mixed["summary"] and "float32" not in mixed["summary"]


def test_variants_with_the_same_numbers_are_named_together():
    verdict = _verdict({"float32": (10, 95), "int8": (10, 95)})
    assert verdict["outcome"] == "not deployable"
    assert "float32, int8: gallery 10% (10/100" in verdict["summary"]
    assert verdict["summary"].count("gallery") == 1


def test_index_page_says_when_no_is_inconclusive():
    from mobileclf.report.index import render_index

    verdicts = [
        {"dataset": "a", **_verdict({"float32": (90, 95)})},
        {"dataset": "b", **_verdict({"float32": (10, 95)})},
    ]
    page = render_index(verdicts, ["a/report.html", "b/report.html"])
    assert page.count("no (inconclusive)</td>") == 1
    assert '<td class="bad">no</td>' in page
