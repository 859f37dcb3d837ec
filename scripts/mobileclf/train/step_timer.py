"""Where a training job's time goes: train steps versus everything else.

The benchmark (bench/compare.py) and users sizing a grid need per-job figures that a
wall clock around the whole job cannot give: images per second and time per step while
training, and the share of the job spent outside training steps (Python and TensorFlow
start-up, graph building in the first step, validation, data loading, evaluation). A
Keras callback times every train batch; :func:`job_figures` turns that into the fields
written to metrics.json.
"""

from __future__ import annotations

import os
import re
import resource
import sys
import time
from pathlib import Path


def process_seconds() -> float:
    """Wall seconds since this process started (includes interpreter and import time)."""
    import psutil  # a Snakemake dependency, so always installed with the workflow

    return time.time() - psutil.Process(os.getpid()).create_time()


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far, in MiB.

    Linux: /proc/self/status ``VmHWM``, which counts the current resident set as well.
    getrusage's ``ru_maxrss`` lags it while memory is still at its peak (the kernel updates
    the high-water mark it reports only when memory is unmapped): a few hundred KiB below
    the peak reached. Elsewhere ru_maxrss (macOS reports bytes, Linux KiB).
    """
    try:
        status = Path("/proc/self/status").read_text()
    except OSError:
        status = ""
    found = re.search(r"^VmHWM:\s+(\d+) kB", status, re.MULTILINE)
    if found:
        return int(found.group(1)) / 1024
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


def step_timer():
    """A Keras callback recording the duration of every train call (``.durations``) and
    how many train steps each call ran (``.call_steps``).

    With ``steps_per_execution`` above 1 (mobileclf.train.finetune) Keras runs several
    steps in one call and calls the batch hooks once per call: ``on_train_batch_begin``
    gets the call's first step index, ``on_train_batch_end`` its last one *as if the call
    were full* (keras EpochIterator yields ``step + steps_per_execution - 1``), although an
    epoch's last call stops early when the data runs out. The steps of a call are therefore
    counted up to the epoch's last step (``params["steps"]``, the batches per epoch).
    The first call of a fit includes tracing and graph building, so it is kept apart
    from the steady-state calls (see :func:`job_figures`).
    """
    import keras

    class StepTimer(keras.callbacks.Callback):
        def __init__(self) -> None:
            super().__init__()
            self.durations: list[float] = []
            self.call_steps: list[int] = []
            self._started = 0.0
            self._first = 0

        def on_train_batch_begin(self, batch, logs=None) -> None:
            self._first = int(batch)
            self._started = time.perf_counter()

        def on_train_batch_end(self, batch, logs=None) -> None:
            self.durations.append(time.perf_counter() - self._started)
            per_epoch = (self.params or {}).get("steps")
            self.call_steps.append(call_steps(self._first, int(batch), per_epoch))

    return StepTimer()


def call_steps(first: int, last: int, steps_per_epoch: int | None) -> int:
    """Train steps of one call from its first and (nominal) last step index: ``last`` is
    cut at the epoch's last step when the epoch length is known (see :func:`step_timer`)."""
    if steps_per_epoch:
        last = min(last, int(steps_per_epoch) - 1)
    return max(1, last - first + 1)


def job_figures(
    durations: list[float],
    n_train: int,
    epochs: int,
    batch_size: int,
    since: tuple[float, float] | None = None,
    steps: list[int] | None = None,
) -> dict:
    """Fields for metrics.json from the call durations of one fit; per train *step*.

    ``steps`` gives the train steps each call ran (StepTimer.call_steps; None: one each,
    i.e. ``steps_per_execution`` 1). ``train_steps`` counts steps, not calls.
    ``step_seconds_median`` is the median over the steps after the first call (tracing) of
    their call's seconds per step, each call weighted by its steps (with one step per call:
    the median step). ``first_step_seconds`` estimates the tracing step: the first call
    minus its other steps at the median rate (the first call itself when it ran one step,
    None when no later call gives a rate to subtract). ``images_per_second`` is over the
    calls after the first. ``outside_steps_share`` is the fraction of the process's
    life so far not spent in train steps. ``process_cpu_seconds`` (user + system) is less
    disturbed than wall time when other work shares the CPU. ``since`` (wall epoch
    seconds, CPU seconds) starts the clocks later than the process start: a job training
    several folds gives the first fold the start-up and each later fold its own share.
    """
    steps = [1] * len(durations) if steps is None else list(steps)
    if len(steps) != len(durations):
        raise ValueError(f"{len(durations)} call durations but {len(steps)} step counts")
    total_steps = sum(durations)
    median = _weighted_median(
        [seconds / count for seconds, count in zip(durations[1:], steps[1:], strict=True)],
        steps[1:],
    )
    steady_seconds = sum(durations[1:])
    first_images = min(steps[0] * batch_size, n_train) if steps else 0
    steady_images = n_train * epochs - first_images
    elapsed = process_seconds() if since is None else time.time() - since[0]
    cpu_seconds = sum(os.times()[:2]) - (0.0 if since is None else since[1])
    return {
        "train_steps": sum(steps),
        "first_step_seconds": _first_step(durations, steps, median),
        "step_seconds_median": round(median, 5) if median is not None else None,
        "step_seconds_total": round(total_steps, 3),
        "images_per_second": round(steady_images / steady_seconds, 2)
        if steady_seconds > 0
        else None,
        "process_seconds": round(elapsed, 3),
        "process_cpu_seconds": round(cpu_seconds, 3),
        "outside_steps_share": round(max(0.0, 1 - total_steps / elapsed), 4)
        if elapsed > 0
        else None,
        "peak_rss_mb": round(peak_rss_mb(), 1),
    }


def _weighted_median(values: list[float], weights: list[int]) -> float | None:
    """The value at index ``sum(weights) // 2`` of ``values`` sorted, each repeated by its
    weight: the upper median, as job_figures always took (one step per call: the plain
    upper median of the step durations)."""
    total = sum(weights)
    if not total:
        return None
    position = total // 2
    for value, weight in sorted(zip(values, weights, strict=True)):
        if position < weight:
            return value
        position -= weight
    raise AssertionError("unreachable: position < total")


def _first_step(durations: list[float], steps: list[int], median: float | None) -> float | None:
    """The first step's seconds: the first call minus its other steps at the median rate
    (an estimate when the call ran several steps, see job_figures)."""
    if not durations:
        return None
    if steps[0] == 1:
        return round(durations[0], 4)
    if median is None:
        return None
    return round(max(0.0, durations[0] - (steps[0] - 1) * median), 4)
