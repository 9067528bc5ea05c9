"""The study runner end to end on a tiny grid: every notebook runs through papermill, a failed
cell is recorded without stopping the others, finished cells are skipped, figures regenerate."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import pandas as pd
import pytest
import yaml

from rsdml.study import StudyError, expand, load_study, regenerate_figures, run_study

TINY_STUDY = {
    "name": "tiny",
    "notebook": "train",
    "shared": {
        "dataset": "synthetic",
        "dataset_options": {"num_classes": 4, "images_per_class": 20, "image_size": 48},
        "image_size": 64,
        "epochs": 4,
        "batch_size": 32,
    },
    "methods": ["nsl", "trnsl", "no_such_method"],
    "seeds": [0],
    "settings": {
        "clean": {},
        "uniform-0.3": {"noise": "uniform", "noise_rate": 0.3},
        "labelled-0.5": {"label_fraction": 0.5},
    },
    "only": {"uniform-0.3": ["nsl", "trnsl"], "labelled-0.5": ["arcface", "hr_s2dml"]},
    "report": ["results", "embeddings", "rank_analysis", "data_overview"],
    # t-SNE only: UMAP's first fit costs ~20 s of JIT compilation in every fresh kernel
    "report_parameters": {
        "embeddings": {
            "noisy_setting": "uniform-0.3",
            "clean_methods": ["nsl"],
            "projections": ["tsne"],
        },
        "results": {"pr_settings": ["uniform-0.3"]},
    },
}


def png_size(path: Path) -> tuple[int, int]:
    header = path.read_bytes()[:24]
    assert header[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    return struct.unpack(">II", header[16:24])


@pytest.fixture(scope="module")
def tiny_study(tmp_path_factory):
    """Run the tiny study once (about a minute on 2 cores); tests read its folder."""
    base = tmp_path_factory.mktemp("study")
    spec = base / "tiny.yaml"
    spec.write_text(yaml.safe_dump(TINY_STUDY))
    # the kernels inherit the environment: keep the cache private to the test session
    patch = pytest.MonkeyPatch()
    patch.setenv("RSDML_CACHE", str(base / "cache"))
    summary = run_study(spec, out=base / "out", workers=2, figures=base / "figures")
    yield base, spec, summary
    patch.undo()


def test_failed_cell_is_recorded_and_the_others_finish(tiny_study):
    base, _, summary = tiny_study
    assert summary["cells"] == 7
    assert summary["failed"] == ["no_such_method/clean/seed0"]
    record_path = next((base / "out" / "cells" / "no_such_method").glob("*/*/cell.json"))
    record = json.loads(record_path.read_text())
    assert record["status"] == "failed"
    assert "available" in record["error"] or "unknown method" in record["traceback"]
    done = [json.loads(p.read_text()) for p in (base / "out" / "cells").glob("*/*/*/cell.json")]
    assert sum(r["status"] == "done" for r in done) == 6


def test_each_cell_writes_its_metrics_and_executed_notebook(tiny_study):
    base, _, _ = tiny_study
    for metrics_path in (base / "out" / "cells").glob("*/*/*/metrics.json"):
        metrics = json.loads(metrics_path.read_text())
        assert 0.0 <= metrics["test"]["knn@10"] <= 1.0
        assert (metrics_path.parent / "notebook.ipynb").exists()
        assert (metrics_path.parent / "learning_curve.png").exists()
        assert (metrics_path.parent / "embeddings.npz").exists()


def test_report_writes_tables_and_figures(tiny_study):
    base, _, summary = tiny_study
    assert summary["report_failed"] == []
    figures = base / "figures"
    table = pd.read_csv(figures / "results.csv")
    assert {"method", "setting", "n_seeds", "knn@10_mean", "knn@10_std", "map@20_mean"} <= set(
        table.columns
    )
    assert set(table["setting"]) == {"clean", "uniform-0.3", "labelled-0.5"}
    assert table["knn@10_mean"].between(0, 1).all()
    for name in (
        "results.md",
        "results.tex",
        "results_paper.csv",
        "rank_analysis.csv",
        "by_uniform_knn10.md",
        "by_labelled_map20.tex",
    ):
        assert (figures / name).stat().st_size > 0, name
    for stem in (
        "learning_curves",
        "pr_curves",
        "retrieval_best",
        "class_examples",
        "transition_uniform-0.3",
        "rank_over_training_labelled-0.5",
        "singular_values_labelled-0.5",
        "embedding_nsl_uniform-0.3",
        "pr_curves_uniform-0.3",
        "knn10_by_uniform",
        "knn10_by_labelled",
    ):
        width, height = png_size(figures / f"{stem}.png")
        assert width > 200 and height > 100, stem
        assert (figures / f"{stem}.pdf").read_bytes()[:4] == b"%PDF", stem
    assert not (figures / "knn10_by_dependent.png").exists()  # no such settings in the grid


def test_second_run_skips_finished_cells(tiny_study):
    base, spec, _ = tiny_study
    summary = run_study(spec, out=base / "out", workers=1, report=False)
    assert summary["skipped"] == 6
    assert summary["ran"] == 1  # only the failed cell is tried again


def test_figures_regenerate_without_training(tiny_study, tmp_path):
    base, _, _ = tiny_study
    summary = regenerate_figures(base / "out", figures=tmp_path / "again")
    assert summary["report_failed"] == []
    again = pd.read_csv(tmp_path / "again" / "results.csv")
    first = pd.read_csv(base / "figures" / "results.csv")
    pd.testing.assert_frame_equal(again, first)


def test_cells_are_keyed_by_their_parameters(tmp_path):
    spec = tmp_path / "s.yaml"
    spec.write_text(yaml.safe_dump(TINY_STUDY))
    cells = expand(load_study(spec), tmp_path / "out")
    assert len({cell.folder for cell in cells}) == len(cells)
    changed = dict(TINY_STUDY, shared={**TINY_STUDY["shared"], "epochs": 5})
    spec.write_text(yaml.safe_dump(changed))
    moved = expand(load_study(spec), tmp_path / "out")
    assert {c.folder for c in cells}.isdisjoint({c.folder for c in moved})


def test_bad_study_files_are_explained(tmp_path):
    with pytest.raises(StudyError, match="presets: .*quick"):
        load_study("no-such-study")
    spec = tmp_path / "bad.yaml"
    spec.write_text(yaml.safe_dump({"methods": ["nsl"], "settings": {"a": {}}, "grid": 1}))
    with pytest.raises(StudyError, match="unknown key"):
        load_study(spec)
    spec.write_text(yaml.safe_dump({"methods": ["nsl"], "settings": {"a": {}}, "report": ["nope"]}))
    with pytest.raises(StudyError, match="notebook 'nope' not found"):
        load_study(spec)


@pytest.mark.parametrize("preset", ["quick", "ucmerced", "paper"])
def test_presets_load(preset):
    study = load_study(preset)
    assert study.methods and study.settings


def test_warm_kernels_give_the_same_results_as_fresh_ones(tiny_study, tmp_path):
    # the tiny study ran its cells in warm kernels; rerun two of them, one fresh kernel each
    base, _, _ = tiny_study
    spec = tmp_path / "fresh.yaml"
    fresh_study = {
        **TINY_STUDY,
        "methods": ["trnsl"],
        "settings": {"uniform-0.3": TINY_STUDY["settings"]["uniform-0.3"]},
        "seeds": [0],
        "only": {},
        "report": [],
    }
    spec.write_text(yaml.safe_dump(fresh_study))
    fresh = tmp_path / "out"
    summary = run_study(spec, out=fresh, workers=1, fresh_kernels=True)
    assert summary["ran"] == 1 and summary["failed"] == []
    [fresh_metrics] = fresh.glob("cells/trnsl/uniform-0.3/*/metrics.json")
    warm_metrics = base / "out" / fresh_metrics.relative_to(fresh)
    fresh_run, warm_run = (json.loads(p.read_text()) for p in (fresh_metrics, warm_metrics))
    assert fresh_run["test"] == warm_run["test"]
    assert [r["loss"] for r in fresh_run["history"]] == [r["loss"] for r in warm_run["history"]]
