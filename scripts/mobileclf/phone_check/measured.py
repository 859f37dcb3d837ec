"""What a phone sends back (measured/*.json) and how it is checked: one schema shared by
the server (which refuses anything else with 400) and the workflow (which reads the
accepted files into a table for the report).

A run is ``{"format", "dataset", "device", "mode", "variant", "results": [...]}`` with one
result per holdout image the page scored: ``id`` (the sheet's code), ``truth`` (that
image's class, which the page takes from its config), ``prediction``, ``confidence`` and
``timestamp``. The truth is checked against the page's own holdout list so a result can
never score an image under another image's class.
"""

from __future__ import annotations

import json
from pathlib import Path

from mobileclf.errors import UserError

FORMAT = "mobileclf-phone-check/1"
MODES = ("camera", "gallery")
MAX_RESULTS = 10_000
COLUMNS = [
    "run",
    "device",
    "mode",
    "variant",
    "id",
    "truth",
    "prediction",
    "confidence",
    "timestamp",
    "correct",
]


class MeasuredRunError(UserError):
    """A measured run that does not follow the schema (the message says which field)."""


def _text(value: object, field: str, limit: int = 500) -> str:
    if not isinstance(value, str) or not value or len(value) > limit:
        raise MeasuredRunError(f"{field}: a non-empty string of at most {limit} characters")
    return value


def validate_run(run: object, page: dict) -> dict:
    """``run`` checked against the schema and the page's config (page/config.json):
    returns it unchanged, or raises :class:`MeasuredRunError` naming the first bad field."""
    if not isinstance(run, dict):
        raise MeasuredRunError("the body must be a JSON object")
    extra = sorted(set(run) - {"format", "dataset", "device", "mode", "variant", "results"})
    if extra:
        raise MeasuredRunError(f"unknown field(s) {extra}")
    if run.get("format") != FORMAT:
        raise MeasuredRunError(f"format: must be {FORMAT!r}")
    if run.get("dataset") != page["dataset"]:
        raise MeasuredRunError(f"dataset: must be {page['dataset']!r}")
    _text(run.get("device"), "device")
    if run.get("mode") not in MODES:
        raise MeasuredRunError(f"mode: one of {list(MODES)}")
    if run.get("variant") not in page["variants"]:
        raise MeasuredRunError(f"variant: one of {sorted(page['variants'])}")
    results = run.get("results")
    if not isinstance(results, list) or not 0 < len(results) <= MAX_RESULTS:
        raise MeasuredRunError(f"results: a list of 1 to {MAX_RESULTS} entries")
    truths = {item["id"]: item["truth"] for item in page["holdout"]}
    for i, result in enumerate(results):
        _validate_result(result, f"results[{i}]", truths, page["labels"])
    return run


def _validate_result(result: object, where: str, truths: dict, labels: list[str]) -> None:
    if not isinstance(result, dict) or set(result) != {
        "id",
        "truth",
        "prediction",
        "confidence",
        "timestamp",
    }:
        raise MeasuredRunError(
            f"{where}: an object with exactly id, truth, prediction, confidence, timestamp"
        )
    if result["id"] not in truths:
        raise MeasuredRunError(f"{where}.id: not a holdout id of this page")
    if result["truth"] != truths[result["id"]]:
        raise MeasuredRunError(f"{where}.truth: not the class of {result['id']}")
    if result["prediction"] not in labels:
        raise MeasuredRunError(f"{where}.prediction: one of the labels {labels}")
    confidence = result["confidence"]
    if isinstance(confidence, bool) or not isinstance(confidence, int | float):
        raise MeasuredRunError(f"{where}.confidence: a number in 0..1")
    if not 0 <= confidence <= 1:
        raise MeasuredRunError(f"{where}.confidence: a number in 0..1")
    _text(result["timestamp"], f"{where}.timestamp", 64)


def measured_rows(paths: list[str], page: dict) -> list[dict]:
    """All results of the accepted runs, one row each (columns :data:`COLUMNS`); a file
    that no longer validates (edited by hand) is a user error naming it."""
    rows = []
    for path in sorted(paths):
        try:
            run = validate_run(json.loads(Path(path).read_text(encoding="utf-8")), page)
        except (json.JSONDecodeError, UnicodeDecodeError, MeasuredRunError) as error:
            raise MeasuredRunError(
                f"{path}: {error}; fix it or move it out of phone_check/measured/"
            ) from None
        for result in run["results"]:
            rows.append(
                {
                    "run": Path(path).stem,
                    "device": run["device"],
                    "mode": run["mode"],
                    "variant": run["variant"],
                    **result,
                    "correct": result["truth"] == result["prediction"],
                }
            )
    return rows


def phone_measured(args) -> None:
    """The phone_measured stage (``args``: scripts/phone_measured.py's flags): every
    accepted run under phone_check/measured/ as one table, checked against this run's
    holdout (ids in holdout.csv order, as the page numbers them) and labels."""
    import pandas as pd

    from mobileclf import atomic
    from mobileclf.phone_check.build import holdout_ids

    holdout = pd.read_csv(args.holdout, keep_default_na=False)
    page = {
        "dataset": args.dataset,
        "labels": Path(args.labels).read_text().split(),
        "variants": args.variants,
        "holdout": [
            {"id": i, "truth": t} for i, t in zip(holdout_ids(holdout), holdout.label, strict=True)
        ],
    }
    table = pd.DataFrame(measured_rows(args.runs, page), columns=COLUMNS)
    atomic.write_with(args.table, lambda p: table.to_csv(p, index=False))
