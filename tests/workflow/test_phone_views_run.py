"""The phone_views rule and a CV job of a phone_views generator, for real, on a copy of the
shared tiny run (only the new jobs run): the views exist for non-holdout images only, the
fold trains with them, and plain_probability reruns training but not the views."""

from __future__ import annotations

import copy
import json
import shutil

import numpy as np
import pandas as pd
from conftest import planned_jobs, run_snakemake


def test_phone_views_generator_trains_a_fold_from_the_views_file(finished_run, tmp_path):
    source, config = finished_run
    workdir = tmp_path / "run"
    shutil.copytree(source, workdir, symlinks=True, copy_function=shutil.copy2)
    config = copy.deepcopy(config)
    config["generators"]["phone"] = {
        "rescale": 0.00392156862745098,
        "horizontal_flip": True,
        "phone_views": {"views": 2, "plain_probability": 0.5},
    }
    target = "results/tiny/cv/tiny/phone/16/fold0/metrics.json"
    run_snakemake(workdir, config, target)
    results = workdir / "results" / "tiny"
    splits = pd.read_csv(results / "splits.csv", keep_default_na=False)
    views = np.load(results / "phone_views" / "16" / "phone.npy")
    table = pd.read_csv(results / "phone_views" / "16" / "phone.csv", keep_default_na=False)
    eligible = splits.path[splits.set != "holdout"]
    assert views.shape == (len(eligible), 2, 16, 16, 3)
    assert table.key.drop_duplicates().tolist() == eligible.tolist()
    metrics = json.loads((workdir / target).read_text())
    assert metrics["status"] == "ok" and metrics["phone_views"] == 2
    assert metrics["n_train"] == int((splits.fold0 == "train").sum())
    # plain_probability is a training setting: the views stay, the phone jobs retrain
    config["generators"]["phone"]["phone_views"]["plain_probability"] = 0.2
    planned = {rule for rule, _ in planned_jobs(workdir, config, target)}
    assert "train_cv" in planned and "phone_views" not in planned
    config["generators"]["phone"]["phone_views"]["blur"] = 1.0
    planned = {rule for rule, _ in planned_jobs(workdir, config, target)}
    assert {"train_cv", "phone_views"} <= planned
