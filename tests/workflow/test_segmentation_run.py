"""The segmentation stage through Snakemake and its rerun contract."""

import numpy as np
import pytest
from conftest import planned_jobs, run_snakemake
from PIL import Image

from mobileclf.data.images import load_rgb


@pytest.mark.slow
def test_segmentation_stage_feeds_resize_and_reruns_only_downstream(tmp_path, tiny_config):
    config = tiny_config
    config["datasets"]["tiny"]["segmentation"] = {"enabled": True, "clusters": 2}
    targets = ["results/tiny/arrays/16.npy", "results/tiny/plots/segmentation.png"]
    run_snakemake(tmp_path, config, *targets)
    manifest = (tmp_path / "results/tiny/manifest.csv").read_text().splitlines()
    first = manifest[1].split(",")[0]
    original = load_rgb(tmp_path / "results/tiny/demo_data" / first).rgb
    segmented = load_rgb(tmp_path / "results/tiny/segmented" / first).rgb
    assert segmented.shape == original.shape
    background = ~segmented.any(-1)
    assert 0.05 < background.mean() < 0.95  # part of each image was masked out...
    assert (segmented[~background] == original[~background]).all()  # ...the rest kept
    table = (tmp_path / "results/tiny/tables/segmentation.csv").read_text()
    assert table.startswith("path,label,status,foreground")
    assert Image.open(tmp_path / "results/tiny/plots/segmentation.png").size[0] > 600
    arrays = np.load(tmp_path / "results/tiny/arrays/16.npy")
    assert (arrays.reshape(len(arrays), -1, 3).max(-1) == 0).mean() > 0.05
    # rerun contract: a segmentation setting reruns segment and resize, not ingest
    config["datasets"]["tiny"]["segmentation"]["clusters"] = 3
    rules = [rule for rule, _ in planned_jobs(tmp_path, config, *targets)]
    assert sorted(rules) == ["resize", "segment"]
