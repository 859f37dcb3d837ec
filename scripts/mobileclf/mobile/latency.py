"""Latency and memory of a TFLite model in the LiteRT interpreter (XNNPACK), per thread count.

Each measurement runs in a fresh Python process: the peak resident memory of that
process after loading the model and running it, minus its peak before loading, is the
memory the model costs (weights, arena, XNNPACK packing); in a shared process the
peak of earlier work would hide it. The import of the runtime sets the high-water mark
first, so for kilobyte models the peak delta is 0 and the resident delta
(``rss_delta_mb``, current RSS after the runs minus before loading) is the better figure.
The figures are for this computer's CPU: a phone is
typically several times slower, but the ratios between variants carry over.
"""

from __future__ import annotations

import json
import os
import resource
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mobileclf.export.verify import VerificationError


@dataclass(frozen=True)
class LatencySettings:
    """``mobile.latency`` in config: thread counts, warm-up and measured runs."""

    threads: tuple[int, ...] = (1, 4)
    warmup: int = 5
    runs: int = 50

    @classmethod
    def from_config(cls, section: dict) -> LatencySettings:
        return cls(
            threads=tuple(int(t) for t in section.get("threads", (1, 4))),
            warmup=int(section.get("warmup", 5)),
            runs=int(section.get("runs", 50)),
        )


def _peak_rss_mb() -> float:
    """This process image's peak resident memory (Linux VmHWM). getrusage's ru_maxrss
    would carry the parent's peak over through fork and exec and hide the model's."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kilobytes


def _rss_mb() -> float:
    """Current resident memory (Linux /proc; NaN elsewhere)."""
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
    except (OSError, IndexError, ValueError):
        return float("nan")
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def example_input(detail: dict, seed: int = 0) -> np.ndarray:
    """A random input of the model's shape and dtype (latency does not depend on values)."""
    rng = np.random.default_rng(seed)
    shape = tuple(int(s) for s in detail["shape"])
    dtype = np.dtype(detail["dtype"])
    if np.issubdtype(dtype, np.integer):
        info = np.iinfo(dtype)
        return rng.integers(info.min, info.max, shape, endpoint=True).astype(dtype)
    return rng.uniform(0, 255, shape).astype(dtype)


def _measure(model_path: str, threads: int, warmup: int, runs: int) -> dict:
    """Runs in the child process: load, warm up, time ``runs`` single-image invocations."""
    from mobileclf.export.verify import open_interpreter

    before, resident = _peak_rss_mb(), _rss_mb()
    started = time.perf_counter()
    interpreter = open_interpreter(Path(model_path), threads)
    detail = interpreter.get_input_details()[0]
    interpreter.set_tensor(detail["index"], example_input(detail))
    interpreter.invoke()  # the first invocation also packs weights for XNNPACK
    load_ms = (time.perf_counter() - started) * 1000
    for _ in range(warmup):
        interpreter.invoke()
    times = []
    for _ in range(runs):
        tick = time.perf_counter()
        interpreter.invoke()
        times.append((time.perf_counter() - tick) * 1000)
    return {
        "threads": threads,
        "runs": runs,
        "median_ms": statistics.median(times),
        "p90_ms": float(np.percentile(times, 90)),
        "min_ms": min(times),
        "load_ms": load_ms,
        "peak_rss_delta_mb": max(0.0, _peak_rss_mb() - before),
        "rss_delta_mb": _rss_mb() - resident,
        "input_dtype": np.dtype(detail["dtype"]).name,
    }


def measure(model_path: str | Path, settings: LatencySettings) -> list[dict]:
    """One row per thread count: median/p90/min ms, load ms, peak RSS delta, model bytes."""
    package_root = str(Path(__file__).resolve().parents[2])  # scripts/, above mobileclf/
    rows = []
    for threads in settings.threads:
        code = (
            f"import json, sys; sys.path.insert(0, {package_root!r}); "
            "from mobileclf.mobile.latency import _measure; "
            f"print(json.dumps(_measure({str(model_path)!r}, {threads}, {settings.warmup}, "
            f"{settings.runs})))"
        )
        result = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=False
        )
        if result.returncode != 0:
            refused = [line for line in result.stderr.splitlines() if "XNNPACK" in line]
            if refused and "VerificationError" in refused[-1]:  # the model, not this code
                raise VerificationError(f"{model_path}: {refused[-1].split(': ', 1)[1]}")
            raise RuntimeError(
                f"latency measurement of {model_path} failed:\n{result.stderr[-2000:]}"
            )
        row = json.loads(result.stdout.strip().splitlines()[-1])
        row["model_bytes"] = os.path.getsize(model_path)
        row["cpu_count"] = os.cpu_count()
        rows.append(row)
    return rows
