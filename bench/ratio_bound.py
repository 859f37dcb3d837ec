"""What issue 19's wall-time target needs: from one `compare.py --json` result, the
pipeline's wall time if its training steps ran at k times their roofline floor, all else
unchanged.

    python bench/ratio_bound.py compare.json --step-ratio 50=3.5 100=1.70 --cores 2

``--step-ratio SIZE=R``: the median step's measured / floor at that size
(`roofline.py --sizes 50 100 --metrics` on the same result). compare.py measures per
training job its seconds and the share spent outside training steps; the steps' span is
seconds x (1 - share), the same for every fold of an all-folds job (they share one span),
so fold 0's row stands for the job. Jobs of a size run ``cores / train_threads(size)`` at a
time (the workflow's thread rule), so a size's wall time is its job-seconds divided by
that. The model is checked against the measured wall time first; a model that does not
reproduce it within 10% says so. The model1 step ratio is applied to model2 too (roofline
counts model1 only); model2's steps are a larger share of its jobs, so this favours the
pipeline.
"""

from __future__ import annotations

import argparse
import collections
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))

from mobileclf.workflow.resources import train_threads


def _spans(result: dict) -> tuple[dict[int, float], dict[int, float]]:
    """Per size: all job-seconds (training and per-size jobs), and the steps' span."""
    job_seconds: dict[int, float] = collections.defaultdict(float)
    for row in result["pipeline_seconds_by_size"]:
        job_seconds[int(row["size"])] += row["seconds"]
    steps: dict[int, float] = collections.defaultdict(float)
    for job in result["pipeline_jobs"]:
        if job["fold"] == 0:
            steps[int(job["size"])] += job["seconds"] * (1 - job["outside_steps_share"])
    return dict(job_seconds), dict(steps)


def wall_parts(job_seconds, steps, cores: int, factor: dict[int, float]) -> tuple[float, float]:
    """Modelled pipeline wall time (outside the steps, in the steps) with each size's step
    span scaled by ``factor[size]``."""
    outside = in_steps = 0.0
    for size, seconds in job_seconds.items():
        at_once = max(1, cores // train_threads(size))
        outside += (seconds - steps[size]) / at_once
        in_steps += steps[size] * factor[size] / at_once
    return outside, in_steps


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("result", type=Path, help="compare.py --json output")
    parser.add_argument("--step-ratio", nargs="+", required=True, metavar="SIZE=R")
    parser.add_argument("--cores", type=int, default=2)
    args = parser.parse_args(argv)
    result = json.loads(args.result.read_text())
    measured = {int(k): float(v) for k, v in (item.split("=") for item in args.step_ratio)}
    job_seconds, steps = _spans(result)
    if set(measured) != set(job_seconds):
        parser.error(f"--step-ratio needs every size of the result: {sorted(job_seconds)}")
    published = result["published_seconds"]
    startup = result.get("snakemake_startup_seconds", 0.0)
    modelled = sum(wall_parts(job_seconds, steps, args.cores, dict.fromkeys(measured, 1.0)))
    modelled += startup
    actual = result["pipeline_seconds"]
    print(f"published {published:.1f} s, pipeline {actual:.1f} s (ratio {actual / published:.3f})")
    print(f"model of the pipeline: {modelled:.1f} s ({modelled / actual - 1:+.1%} of measured)")
    if abs(modelled / actual - 1) > 0.10:
        print("  the model misses the measured wall time by more than 10%: read with care")
    for size in sorted(job_seconds):
        share = steps[size] / job_seconds[size]
        print(
            f"  {size} px: {job_seconds[size]:.1f} job-s, training steps {steps[size]:.1f} "
            f"({share:.0%}), {train_threads(size)} thread(s) a job, steps at "
            f"{measured[size]:.2f}x their floor"
        )
    print(
        "steps at k x floor (never slower than measured), all else as measured; and what the "
        "wall time outside the steps must fall to for ratio 1/3:"
    )
    for k in (2.0, 1.5, 1.0):
        factor = {s: min(1.0, k / r) for s, r in measured.items()}
        outside, in_steps = wall_parts(job_seconds, steps, args.cores, factor)
        wall = outside + in_steps + startup
        room = published / 3 - in_steps - startup
        print(
            f"  k = {k:.1f}: {wall:7.1f} s, ratio {wall / published:.3f}; outside the steps "
            f"{outside:.1f} s -> at most {room:.1f} s ({room / outside:.0%})"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
