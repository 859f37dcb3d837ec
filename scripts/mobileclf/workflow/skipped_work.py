"""What a successful run skipped, as console warnings (common.smk's ``onsuccess`` logs them).

Snakemake reports a run that ended well as a success even when ingest rejected files or
training jobs were recorded as failed (mobileclf.faults): the tables mark them, but a user
might miss them. Plain csv reading, no pandas: this runs in the Snakemake process.
"""

from __future__ import annotations

import csv
from pathlib import Path


def _rows(path: Path) -> list[dict]:
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def skipped_work_warnings(datasets: list[str], results: str | Path = "results") -> list[str]:
    """One line per dataset with rejected input files (tables/rejects.csv) and one per
    training job not recorded as ok (tables/cv_runs.csv); tables not written yet are
    skipped."""
    lines = []
    for dataset in datasets:
        rejects = Path(results, dataset, "tables", "rejects.csv")
        if rejects.exists():
            count = len(_rows(rejects))
            if count:
                lines.append(f"{dataset}: {count} file(s) rejected at ingest, see {rejects}")
        runs = Path(results, dataset, "tables", "cv_runs.csv")
        if runs.exists():
            for r in _rows(runs):
                if r["status"] == "ok":
                    continue
                lines.append(
                    f"{dataset}: training {r['arch']}/{r['generator']}/{r['size']} fold "
                    f"{r['fold']} {r['status']}: {r.get('error', '')}; its cell is marked "
                    "incomplete in cv_summary.csv and the next run retries it"
                )
    return lines
