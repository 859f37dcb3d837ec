"""Resources as Snakemake plans them (dry runs) and the GPU resource in a real run."""

import json
import re

import pytest
from conftest import planned_jobs, run_snakemake

from mobileclf.workflow import resources as res


def _planned_resources(workdir, config, *extra):
    """rule -> list of resource dicts of the jobs a dry run plans."""
    result = run_snakemake(workdir, config, "-n", *extra)
    planned: dict[str, list[dict[str, str]]] = {}
    rule = None
    for line in (result.stdout + result.stderr).splitlines():
        stripped = line.strip()
        if stripped.startswith(("rule ", "localrule ", "checkpoint ")) and stripped.endswith(":"):
            rule = stripped.split()[1].rstrip(":")
        elif stripped.startswith("resources:") and rule:
            pairs = stripped.removeprefix("resources:").split(", ")
            planned.setdefault(rule, []).append(dict(p.strip().split("=", 1) for p in pairs))
    return planned


def test_every_rule_declares_resources_and_gpu_follows_config(tmp_path, tiny_config):
    planned = _planned_resources(tmp_path, tiny_config)
    assert set(planned) >= {"make_demo", "ingest", "split", "resize", "train_cv", "aggregate_cv"}
    for rule, jobs in planned.items():
        if rule != "all":
            # every job asks for an estimate of its own (no Snakemake default applies here):
            # at least the smallest baseline, and whole minutes
            floor = min(res.TABLE_BASELINE_MB, res.LIGHT_BASELINE_MB)
            assert all(int(j["mem_mb"]) >= floor and int(j["runtime"]) >= 1 for j in jobs), rule
    train = planned["train_cv"]
    assert {j["gpu"] for j in train} == {"0"}
    # before ingest: demo_per_class x 2 classes images, 2 classes, the config's batch size
    layers = tiny_config["architectures"]["tiny"]["layers"]
    params, activations, _ = res.arch_cost({"layers": layers}, 16, 2)
    expected = res.train_mem_mb(
        16, 2 * tiny_config["datasets"]["tiny"]["demo_per_class"], 8, params, activations, "adam"
    )
    assert expected in {int(j["mem_mb"]) for j in train}
    tiny_config["training"]["gpu"] = True
    gpu_train = _planned_resources(tmp_path, tiny_config)["train_cv"]
    assert {j["gpu"] for j in gpu_train} == {"1"}


@pytest.mark.slow
def test_gpu_jobs_run_one_at_a_time_and_state_the_cpu_fallback(tmp_path, tiny_config):
    """`--resources gpu=1` (profiles/default) serialises GPU training; no GPU here: CPU."""
    tiny_config["resize"]["sizes"] = [16]
    tiny_config["generators"] = {"g1": tiny_config["generators"]["g1"]}
    tiny_config["training"].update(epochs=1, gpu=True)
    targets = [f"results/tiny/cv/tiny/g1/16/fold{fold}/metrics.json" for fold in (0, 1)]
    run_snakemake(tmp_path, tiny_config, *targets)  # --cores 2: both would run at once
    spans = []
    for fold in (0, 1):
        log = (tmp_path / f"logs/train_cv/tiny/tiny/g1/16/fold{fold}.log").read_text()
        assert "no GPU visible: CPU fallback" in log
        stamps = re.findall(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) ", log, re.MULTILINE)
        spans.append((stamps[0], stamps[-1]))
        metrics = json.loads(
            (tmp_path / f"results/tiny/cv/tiny/g1/16/fold{fold}/metrics.json").read_text()
        )
        assert metrics["device"] == "CPU"
    first, second = sorted(spans)
    assert first[1] <= second[0], f"GPU jobs overlapped: {spans}"
    # where a job runs is not a reason to rerun it
    tiny_config["training"]["gpu"] = False
    assert planned_jobs(tmp_path, tiny_config, *targets) == []
