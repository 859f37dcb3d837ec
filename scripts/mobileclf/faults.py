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


ATTEMPT_FILE = ".attempt"  # beside metrics.json; not an output, so it survives reruns


def attempt_of(metrics_path: str | Path) -> int:
    """The retry token for a job: the ``attempt`` in its existing metrics.json; without
    one, the number a failed run left in ``.attempt`` beside it; else 0.

    Snakemake evaluates the parameter when it plans the job and again when the job starts,
    after it has deleted the job's old outputs; ``.attempt`` makes both give the same
    number. Must be cheap and never raise: an unreadable file counts as missing.
    """
    path = Path(metrics_path)
    try:
        return int(json.loads(path.read_text(encoding="utf-8")).get("attempt", 0))
    except (OSError, ValueError, TypeError, AttributeError):
        pass
    try:
        return int(path.with_name(ATTEMPT_FILE).read_text(encoding="utf-8").strip())
    except (OSError, ValueError):
        return 0


def record_attempt(metrics_path: str | Path, attempt: int) -> None:
    """Keep a failed job's next attempt number beside its outputs (see attempt_of)."""
    Path(metrics_path).with_name(ATTEMPT_FILE).write_text(f"{attempt}\n", encoding="utf-8")


def failed_metrics(identity: dict, error: BaseException, attempt: int) -> dict:
    """The metrics.json of a job that ran out of resources (read by aggregate.read_runs)."""
    message = str(error).strip().splitlines()[0] if str(error).strip() else ""
    return {
        **identity,
        "status": "failed",
        "error": f"{type(error).__name__}: {message}"[:500],
        "attempt": attempt + 1,
    }
