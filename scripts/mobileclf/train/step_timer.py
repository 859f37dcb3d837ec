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
import resource
import sys
import time


def process_seconds() -> float:
    """Wall seconds since this process started (includes interpreter and import time)."""
    import psutil  # a Snakemake dependency, so always installed with the workflow

    return time.time() - psutil.Process(os.getpid()).create_time()


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far, in MiB (Linux reports KiB, macOS bytes)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


def step_timer():
    """A Keras callback recording the duration of every train batch (``.durations``).

    The first batch of a fit includes tracing and graph building, so it is kept apart
    from the steady-state steps.
    """
    import keras

    class StepTimer(keras.callbacks.Callback):
        def __init__(self) -> None:
            super().__init__()
            self.durations: list[float] = []
            self.batch_sizes: list[int] = []
            self._started = 0.0

        def on_train_batch_begin(self, batch, logs=None) -> None:
            self._started = time.perf_counter()

        def on_train_batch_end(self, batch, logs=None) -> None:
            self.durations.append(time.perf_counter() - self._started)

    return StepTimer()


def job_figures(
    durations: list[float],
    n_train: int,
    epochs: int,
    batch_size: int,
    since: tuple[float, float] | None = None,
) -> dict:
    """Fields for metrics.json from the step durations of one fit.

    ``step_seconds_median`` excludes the first step (tracing); ``images_per_second`` is
    over all steady-state steps; ``outside_steps_share`` is the fraction of the process's
    life so far not spent in train steps. ``process_cpu_seconds`` (user + system) is less
    disturbed than wall time when other work shares the CPU. ``since`` (wall epoch
    seconds, CPU seconds) starts the clocks later than the process start: a job training
    several folds gives the first fold the start-up and each later fold its own share.
    """
    total_steps = sum(durations)
    steady = sorted(durations[1:])
    steady_images = n_train * epochs - min(batch_size, n_train)
    elapsed = process_seconds() if since is None else time.time() - since[0]
    cpu_seconds = sum(os.times()[:2]) - (0.0 if since is None else since[1])
    return {
        "train_steps": len(durations),
        "first_step_seconds": round(durations[0], 4) if durations else None,
        "step_seconds_median": round(steady[len(steady) // 2], 5) if steady else None,
        "step_seconds_total": round(total_steps, 3),
        "images_per_second": round(steady_images / sum(steady), 2) if steady else None,
        "process_seconds": round(elapsed, 3),
        "process_cpu_seconds": round(cpu_seconds, 3),
        "outside_steps_share": round(max(0.0, 1 - total_steps / elapsed), 4)
        if elapsed > 0
        else None,
        "peak_rss_mb": round(peak_rss_mb(), 1),
    }
