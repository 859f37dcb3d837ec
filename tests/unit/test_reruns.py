"""The rerun contract and the recovery model without Snakemake: what the later stages read
stays byte-identical when a cell that does not win is added, and the default target names
every file a job writes (so a deleted one is rebuilt). Real runs: tests/workflow/
test_reruns_run.py."""

from __future__ import annotations

import copy
import json
import sys
from pathlib import Path
from types import SimpleNamespace

import pandas as pd
import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "scripts"))

from mobileclf.data.datasets import DataMismatch, check_labels  # noqa: E402
from mobileclf.data.split import REBUILD  # noqa: E402
from mobileclf.errors import REPAIR, UserError  # noqa: E402
from mobileclf.select.selection import choice_of, grid_best, select_best  # noqa: E402
from mobileclf.workflow import outputs as O  # noqa: E402
from mobileclf.workflow import params as P  # noqa: E402
from mobileclf.workflow import targets as T  # noqa: E402
from mobileclf.workflow.config import prepare_config  # noqa: E402

SCHEMA_PATH = REPO / "workflow" / "schemas" / "config.schema.yaml"


def cell(arch, generator, size, mean, std=0.02, n_params=100, tied=False):
    return dict(
        arch=arch,
        generator=generator,
        size=size,
        mean_accuracy=mean,
        std_accuracy=std,
        n_folds=2,
        complete=True,
        n_failed=0,
        n_params=n_params,
        tied_with_best=tied,
    )


SUMMARY = pd.DataFrame(
    [cell("m", "g1", 16, 0.9, tied=True), cell("m", "g3", 16, 0.7), cell("m", "g1", 24, 0.6)]
)


@pytest.fixture
def tiny() -> dict:
    raw = yaml.safe_load((REPO / ".test" / "config" / "config.yaml").read_text())
    return prepare_config(copy.deepcopy(raw), SCHEMA_PATH)


def test_a_cell_that_does_not_win_changes_selection_json_but_not_choice_json():
    grown = pd.concat([SUMMARY, pd.DataFrame([cell("m", "g1", 20, 0.8, tied=True)])])
    before, after = select_best(SUMMARY), select_best(grown)
    # the report's record moves (one more candidate, one more tied cell) ...
    assert (before["candidates"], after["candidates"]) == (3, 4)
    assert before["tied_cells"] != after["tied_cells"]
    # ... what the later stages read keeps its bytes, and carries the chosen cell's scores
    assert json.dumps(choice_of(after)) == json.dumps(choice_of(before))
    assert choice_of(before) == {
        "arch": "m",
        "generator": "g1",
        "size": 16,
        "metric": "mean_accuracy",
        "score": 0.9,
        "mean_accuracy": 0.9,
        "std_accuracy": 0.02,
        "n_folds": 2,
        "n_params": 100,
    }
    assert grid_best(grown).to_csv(index=False) == grid_best(SUMMARY).to_csv(index=False)
    assert grid_best(SUMMARY).to_dict("records") == [
        {"arch": "m", "generator": "g1", "size": 16, "mean_accuracy": 0.9, "complete": True}
    ]


def test_a_new_best_cell_changes_the_choice():
    grown = pd.concat([SUMMARY, pd.DataFrame([cell("m", "g1", 20, 0.95, tied=True)])])
    assert choice_of(select_best(grown))["size"] == 20
    assert grid_best(grown)["size"].tolist() == [20]


def test_cv_best_holds_the_selected_and_best_phone_path_cells():
    """The verdict's computer-vs-phone table reads these rows from cv_best.csv: the best
    cell first (the ceiling), the selected one, the phone-path cell best on each camera
    level; a cell that is none of these does not change the file."""
    rows = [
        {**cell("m", "g1", 16, 0.9), "mean_camera_accuracy_s1": 0.5},
        {**cell("m", "phone", 16, 0.85), "mean_camera_accuracy_s1": 0.8},
        {**cell("m", "phone", 20, 0.8), "mean_camera_accuracy_s1": 0.7},
        {**cell("m", "g3", 16, 0.88), "mean_camera_accuracy_s1": 0.6},
    ]
    summary = pd.DataFrame(rows)
    selected = {"arch": "m", "generator": "g3", "size": 16}
    best = grid_best(summary, selected, ["phone"])
    pairs = list(zip(best.generator, best["size"], strict=True))
    assert pairs == [("g1", 16), ("g3", 16), ("phone", 16)]
    assert list(best.columns)[-1] == "mean_camera_accuracy_s1"
    weaker = pd.DataFrame([{**cell("m", "phone", 24, 0.7), "mean_camera_accuracy_s1": 0.6}])
    grown = grid_best(pd.concat([summary, weaker]), selected, ["phone"])
    assert grown.to_csv(index=False) == best.to_csv(index=False)


def test_final_model_params_name_only_the_chosen_architecture_and_generator(tiny):
    choice = {"arch": "tiny", "generator": "g3", "size": 16}
    before = (P.final_architecture(tiny, choice), P.final_generator(tiny, choice))
    grown = copy.deepcopy(tiny)
    grown["architectures"]["other"] = {"layers": [{"type": "flatten"}]}
    grown["generators"]["g1"]["rotation_range"] = 10
    assert (P.final_architecture(grown, choice), P.final_generator(grown, choice)) == before
    assert json.loads(before[1]) == {"g3": tiny["generators"]["g3"]}
    assert list(json.loads(before[0])) == ["tiny"]
    assert T.selected_array(SimpleNamespace(dataset="tiny"), choice) == "results/tiny/arrays/16.npy"


def test_the_default_target_names_every_file_a_job_writes(tiny):
    outputs = O.job_outputs(tiny)
    assert len(outputs) == len(set(outputs))
    folds = [p for p in outputs if p.endswith("/metrics.json") and "/cv/" in p]
    # 1 arch x 2 generators x 2 sizes x 2 folds
    assert len(folds) == 8 and "results/tiny/cv/tiny/g3/24/fold1/metrics.json" in folds
    for path in (
        "results/tiny/splits.csv",
        "results/tiny/labels.txt",
        "results/tiny/arrays/16.npy",
        "results/tiny/choice.json",
        "results/tiny/export/plain_int8.tflite",
        "results/tiny/mobile/predictions/keras.csv",
        "results/tiny/mobile/inputs/camera_0_examples.npz",
        "results/tiny/phone_inputs/16.npz",
    ):
        assert path in outputs
    grown = copy.deepcopy(tiny)
    grown["resize"]["sizes"].append(20)
    added = set(O.job_outputs(grown)) - set(outputs)
    assert added == {
        "results/tiny/arrays/20.npy",
        "results/tiny/checks/20.json",
        "results/tiny/phone_inputs/20.npz",
    } | {
        f"results/tiny/cv/tiny/{g}/20/fold{k}/{name}"
        for g in ("g1", "g3")
        for k in (0, 1)
        for name in ("metrics.json", "history.csv")
    }


def test_delete_and_rerun_messages_name_the_recovery_command():
    assert "make repair" in REPAIR
    assert REBUILD.endswith(f"delete it and {REPAIR}")
    with pytest.raises(DataMismatch, match="delete it and run `make repair`"):
        check_labels(["b", "a"], {"a", "b"}, "results/x/labels.txt")


def write_inputs(folder: Path, rows: int = 6, size: int = 4):
    """A consistent manifest, labels, splits (2 folds + holdout) and array."""
    import numpy as np

    paths = [f"{'ab'[i % 2]}/{i}.png" for i in range(rows)]
    labels = ["ab"[i % 2] for i in range(rows)]
    pd.DataFrame({"path": paths, "label": labels, "status": "ok", "reason": ""}).to_csv(
        folder / "manifest.csv", index=False
    )
    (folder / "labels.txt").write_text("a\nb\n")
    sets = ["holdout", "holdout"] + ["cv"] * (rows - 2)
    fold0 = ["holdout"] * 2 + ["test", "test", "train", "train"]
    fold1 = ["holdout"] * 2 + ["train", "train", "test", "test"]
    pd.DataFrame(
        {"path": paths, "label": labels, "group": "", "set": sets, "fold0": fold0, "fold1": fold1}
    ).to_csv(folder / "splits.csv", index=False)
    np.save(folder / "4.npy", np.zeros((rows, size, size, 3), dtype=np.uint8))
    return SimpleNamespace(
        images=str(folder / "4.npy"),
        splits=str(folder / "splits.csv"),
        labels=str(folder / "labels.txt"),
        manifest=str(folder / "manifest.csv"),
        size="4",
        out=str(folder / "checks" / "4.json"),
    )


def test_check_data_records_what_readers_depend_on_and_refuses_tampered_files(tmp_path):
    import numpy as np

    from mobileclf.data.check import check_data

    args = write_inputs(tmp_path)
    check_data(args)
    record = Path(args.out).read_bytes()
    assert json.loads(record) == {"images": 6, "labels": ["a", "b"], "folds": 2, "size": 4}
    check_data(args)  # the same inputs write the same bytes: their readers rerun nothing
    assert Path(args.out).read_bytes() == record
    np.save(args.images, np.zeros((5, 4, 4, 3), dtype=np.uint8))  # a short array
    with pytest.raises(DataMismatch, match=r"has 5 images .* lists 6.*delete both and run"):
        check_data(args)
    np.save(args.images, np.zeros((6, 8, 8, 3), dtype=np.uint8))  # another size's array
    with pytest.raises(DataMismatch, match=r"4.npy holds uint8 images of shape \(8, 8, 3\)"):
        check_data(args)
    args = write_inputs(tmp_path)
    Path(args.splits).write_text("garbage\n")
    with pytest.raises(UserError, match=r"splits\.csv has no column 'path'.*make repair"):
        check_data(args)
