"""The unseen-classes and transfer report: tables re-derived from the runs, the frozen row from
features computed the training way, and the report notebook executed headless."""

from __future__ import annotations

import nbformat
import numpy as np
import pandas as pd
import pytest
import yaml

from rsdml.data import generate_synthetic
from rsdml.evaluate import evaluate_leave_one_out
from rsdml.execution import WarmKernel, notebook_path
from rsdml.generalisation import FROZEN_FEATURES, method_scores, unseen_records
from rsdml.metric_names import ALL_METRICS, DML_METRICS
from rsdml.report import find_runs
from rsdml.study import run_study
from rsdml.train import TrainConfig, Trainer

TINY = {"num_classes": 4, "images_per_class": 16, "image_size": 32}
SHARED = {
    "dataset": "synthetic",
    "dataset_options": TINY,
    "image_size": 32,
    "epochs": 3,
    "batch_size": 32,
}


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    """A finished study with unseen-classes runs (2 partitions x 2 seeds) and transfer runs,
    and its report notebook executed."""
    base = tmp_path_factory.mktemp("generalisation")
    patch = pytest.MonkeyPatch()
    patch.setenv("RSDML_CACHE", str(base / "cache"))
    patch.setenv("RSDML_PROGRESS", "0")
    target = generate_synthetic(num_classes=3, images_per_class=15, image_size=32, seed=7)
    spec = {
        "name": "generalisation",
        "notebook": "train",
        "shared": SHARED,
        "methods": ["nsl", "ce"],
        "seeds": [0, 1],
        "settings": {
            "partition-0": {"protocol": "unseen-classes", "class_seed": 0},
            "partition-1": {"protocol": "unseen-classes", "class_seed": 1},
            "to-folder": {"eval_dataset": "folder", "eval_root": str(target)},
        },
        "report": ["generalisation"],
    }
    path = base / "study.yaml"
    path.write_text(yaml.safe_dump(spec))
    out, figures = base / "study", base / "figures"
    summary = run_study(path, out=out, workers=1, figures=figures)
    assert summary["failed"] == [], summary["errors"]
    yield {"out": out, "figures": figures, "target": target}
    patch.undo()


def test_unseen_table_means_are_the_runs_means(study):
    frame = pd.read_csv(study["figures"] / "unseen.csv")
    runs = [run for run in find_runs(study["out"]) if "protocol" in run.metrics]
    assert len(runs) == 8
    for method in ("nsl", "ce"):
        row = frame[frame["method"] == method].iloc[0]
        assert row["setting"] == "synthetic" and row["n_seeds"] == 4
        for name in ALL_METRICS:
            values = [run.metrics["test"][name] for run in runs if run.method == method]
            assert row[f"{name}_mean"] == pytest.approx(np.mean(values), abs=1e-12), name
            assert row[f"{name}_std"] == pytest.approx(np.std(values, ddof=1), abs=1e-12), name
    assert set(DML_METRICS) <= {c[: -len("_mean")] for c in frame.columns if c.endswith("_mean")}


def test_frozen_row_is_the_plain_features_scored_on_each_partitions_held_out_images(study):
    runs = [run for run in find_runs(study["out"]) if "protocol" in run.metrics]
    # the raw plain features the training path computes (no LayerNorm), in image order
    config = TrainConfig(**SHARED, method="nsl", progress=False, layernorm=False)
    features = Trainer(config).inputs.views["plain"]
    expected = {}
    for run in runs:
        arrays = run.embeddings
        partition = run.metrics["protocol"]["seed"]
        held_out = features[arrays["test_index"]]
        expected[partition] = evaluate_leave_one_out(held_out, arrays["test_labels"], device="cpu")
        assert set(arrays["test_labels"]) == {2, 3}  # the held-out codes of 4 classes
    assert sorted(expected) == [0, 1]
    frozen = [r for r in unseen_records(runs, device="cpu") if r["method"] == FROZEN_FEATURES]
    assert sorted(r["seed"] for r in frozen) == ["partition 0", "partition 1"]
    for record in frozen:
        partition = int(record["seed"].split()[-1])
        for name in ALL_METRICS:
            assert record[name] == pytest.approx(expected[partition][name], abs=1e-6), name
    frame = pd.read_csv(study["figures"] / "unseen.csv")
    row = frame[frame["method"] == FROZEN_FEATURES].iloc[0]
    assert row["n_seeds"] == 2
    assert row["map@r_mean"] == pytest.approx(
        np.mean([expected[p]["map@r"] for p in expected]), abs=1e-6
    )


def test_method_scores_split_methods_from_the_reference(study):
    frame = pd.read_csv(study["figures"] / "unseen.csv")
    panels, references = method_scores(frame, "map@r")
    assert list(panels) == ["synthetic"] and list(panels["synthetic"]) == ["ce", "nsl"]
    assert set(references) == {"synthetic"}
    frozen = frame[frame["method"] == FROZEN_FEATURES].iloc[0]
    assert references["synthetic"] == (frozen["map@r_mean"], frozen["map@r_std"])


def test_transfer_table_reads_the_target_the_source_and_the_frozen_features(study):
    frame = pd.read_csv(study["figures"] / "transfer.csv")
    runs = [run for run in find_runs(study["out"]) if "transfer" in run.metrics]
    assert len(runs) == 4
    direction = "synthetic → folder"
    assert set(frame["setting"]) == {direction, "synthetic (in domain)"}
    for method in ("nsl", "ce"):
        of_method = [run for run in runs if run.method == method]
        on_target = frame[(frame["method"] == method) & (frame["setting"] == direction)].iloc[0]
        assert on_target["knn@10_mean"] == pytest.approx(
            np.mean([run.metrics["transfer"]["test"]["knn@10"] for run in of_method])
        )
        at_home = frame[(frame["method"] == method) & (frame["setting"] != direction)].iloc[0]
        assert at_home["knn@10_mean"] == pytest.approx(
            np.mean([run.metrics["test"]["knn@10"] for run in of_method])
        )
    frozen = frame[frame["method"] == FROZEN_FEATURES].iloc[0]
    assert frozen["setting"] == direction
    assert frozen["knn@10_mean"] == runs[0].metrics["transfer"]["frozen"]["knn@10"]
    wide = (study["figures"] / "transfer_knn10.md").read_text()
    assert direction in wide and FROZEN_FEATURES in wide


def test_report_writes_the_figure_and_an_empty_study_is_refused(study, tmp_path):
    assert (study["figures"] / "unseen_mapr.png").stat().st_size > 0
    for stem in ("unseen", "unseen_benchmark", "transfer", "transfer_knn10"):
        for suffix in (".csv", ".md", ".tex"):
            assert (study["figures"] / f"{stem}{suffix}").stat().st_size > 0, stem + suffix
    # the notebook headless with another metric, and its output free of warnings
    output = tmp_path / "generalisation.ipynb"
    with WarmKernel() as kernel:
        kernel.execute(
            notebook_path("generalisation", tmp_path / "converted"),
            output,
            {"study_dir": str(study["out"]), "figures_dir": str(tmp_path), "metric": "recall@1"},
        )
    assert (tmp_path / "unseen_recall1.png").stat().st_size > 0
    cells = [c for c in nbformat.read(output, as_version=4).cells if c.cell_type == "code"]
    stderr = [o for c in cells for o in c.outputs if o.get("name") == "stderr"]
    assert not stderr, stderr


def test_standard_runs_give_no_unseen_records(study):
    runs = [run for run in find_runs(study["out"]) if "protocol" not in run.metrics]
    assert runs and unseen_records(runs) == []


def test_unseen_setting_names_the_labelled_fraction(study):
    from rsdml.generalisation import unseen_setting

    run = next(run for run in find_runs(study["out"]) if "protocol" in run.metrics)
    run.__dict__["metrics"] = {
        **run.metrics,
        "config": {**run.metrics["config"], "label_fraction": 0.2},
    }
    assert unseen_setting(run) == "synthetic, 0.2 labelled"
