"""Training jobs that run out of resources are recorded, not lost, and retried later.

A grid of hundreds of training jobs should not stop at the first job that runs out of
memory (a too large image size on a small machine), and the cells that did finish must
still be tabulated. A job that fails for lack of resources therefore writes a
``metrics.json`` with ``status: failed`` and the error, and exits 0; the aggregation
marks its cell incomplete (``complete``, ``n_folds``, ``[k/n folds]`` in the tables) and
the selection ignores incomplete cells.

Retrying: every ``metrics.json`` carries an ``attempt`` number. The ``train_cv`` rule
passes the number found in the existing file as a parameter; a failed job writes
``attempt + 1``, a successful one keeps it. So after a failure the parameter differs from
the one Snakemake recorded for that job, and Snakemake's params trigger reruns exactly the
failed jobs on the next run; after a success it is unchanged and nothing reruns.

Mistakes the user must fix (bad config, tampered inputs, programming errors) are *not*
recorded here: they end the job with a non-zero exit and a clear message.
"""

from __future__ import annotations

import json
from pathlib import Path


def resource_errors() -> tuple[type[BaseException], ...]:
    """Exceptions that mean "this machine could not run this job", not "the input is wrong"."""
    import tensorflow as tf

    return (MemoryError, tf.errors.ResourceExhaustedError)


def attempt_of(metrics_path: str | Path) -> int:
    """The retry token for a job: the ``attempt`` in its existing metrics.json, else 0.

    Called at DAG-building time (from common.smk), so it must be cheap and never raise:
    an unreadable file is treated like a missing one (the job reruns anyway).
    """
    try:
        return int(json.loads(Path(metrics_path).read_text(encoding="utf-8")).get("attempt", 0))
    except (OSError, ValueError, TypeError, AttributeError):
        return 0


def failed_metrics(identity: dict, error: BaseException, attempt: int) -> dict:
    """The metrics.json of a job that ran out of resources (read by aggregate.read_runs)."""
    message = str(error).strip().splitlines()[0] if str(error).strip() else ""
    return {
        **identity,
        "status": "failed",
        "error": f"{type(error).__name__}: {message}"[:500],
        "attempt": attempt + 1,
    }
