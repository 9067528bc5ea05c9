"""Reading a study back for the report: which query a retrieval figure shows, method groups."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from rsdml import report
from rsdml.evaluate import recall_levels
from rsdml.losses import METHODS, available
from rsdml.metric_names import PR_CURVE_POINTS
from rsdml.report import Run, method_groups, retrieval_gallery

CLASSES = ["beach", "forest", "river"]


def _brute_force_ap(query: np.ndarray, label: int, database: np.ndarray, labels: np.ndarray):
    """AP over the whole ranking: cosine similarity descending, ties to the lower index."""
    q = query / np.linalg.norm(query)
    d = database / np.linalg.norm(database, axis=1, keepdims=True)
    similarity = d @ q
    order = np.lexsort((np.arange(len(d)), -similarity))
    relevant = labels[order] == label
    ranks = np.flatnonzero(relevant) + 1
    return float(np.mean(np.arange(1, len(ranks) + 1) / ranks)) if len(ranks) else 0.0


@pytest.fixture
def run(monkeypatch) -> Run:
    """A finished run held in memory: 3 classes in 3-D, one test query deep in another class."""
    rng = np.random.default_rng(0)
    centres = np.eye(3) * 4
    train_labels = np.repeat(np.arange(3), 10)
    train = centres[train_labels] + rng.normal(size=(30, 3))
    test_labels = np.repeat(np.arange(3), 4)
    test = centres[test_labels] + rng.normal(size=(12, 3))
    test[5] = centres[2] + 0.1  # a forest query among the rivers: the genuinely bad one
    run = Run(Path("unused"), "snca_mb", "uniform-0.4", 1)
    run.__dict__["embeddings"] = {
        "train": train.astype(np.float32),
        "test": test.astype(np.float32),
        "train_clean": train_labels,
        "test_labels": test_labels,
        "train_index": np.arange(30),
        "test_index": np.arange(30, 42),
    }
    run.__dict__["metrics"] = {"classes": CLASSES}
    run.__dict__["files"] = [f"image{i}.png" for i in range(42)]
    monkeypatch.setattr(
        report, "read_image", lambda path, size: np.zeros((size, size, 3), np.uint8)
    )
    return run


def test_the_worst_query_has_the_lowest_average_precision(run):
    arrays = run.embeddings
    expected = [
        _brute_force_ap(query, label, arrays["train"], arrays["train_clean"])
        for query, label in zip(arrays["test"], arrays["test_labels"], strict=True)
    ]
    np.testing.assert_allclose(report.query_average_precision(run), expected, atol=1e-6)
    gallery = retrieval_gallery(run, k=10, size=8, pick="worst")
    assert gallery.average_precision == pytest.approx(min(expected), abs=1e-6)
    assert gallery.query_title == "query: forest"
    assert not gallery.correct.all()  # a bad query shows wrong results
    # the title names the run and how the query was chosen
    assert gallery.title.startswith("snca_mb, uniform-0.4, seed 1: lowest AP of 12 test queries")


def test_the_typical_query_has_the_median_precision(run):
    gallery = retrieval_gallery(run, k=10, size=8)
    arrays = run.embeddings
    precisions = []
    for query, label in zip(arrays["test"], arrays["test_labels"], strict=True):
        d = arrays["train"] / np.linalg.norm(arrays["train"], axis=1, keepdims=True)
        top = np.argsort(-(d @ (query / np.linalg.norm(query))), kind="stable")[:10]
        precisions.append(np.mean(arrays["train_clean"][top] == label))
    assert gallery.correct.mean() == pytest.approx(np.sort(precisions)[len(precisions) // 2])
    assert "median precision@10" in gallery.title and "snca_mb, uniform-0.4" in gallery.title
    with pytest.raises(ValueError, match="pick"):
        retrieval_gallery(run, pick="best")


def test_method_groups_follow_the_registry_families():
    groups = method_groups(["srl", "snca_mb", "ce", "unknown", "snca_ce_mu"])
    assert groups == {
        f"{METHODS['ce'].family} losses": ["ce"],
        f"{METHODS['srl'].family} losses": ["srl"],
        f"{METHODS['snca_mb'].family} losses": ["snca_mb", "snca_ce_mu"],
    }
    every = method_groups(available())
    assert sorted(name for members in every.values() for name in members) == sorted(available())
    assert max(len(members) for members in every.values()) <= 6


def test_pr_curves_read_the_kept_curve_and_rank_again_without_one(run, monkeypatch):
    """A run that kept its curve (with the asked levels) is not ranked again; an older run
    without one, or one kept at other levels, is."""
    recomputed = report.pr_curves([run])["snca_mb"]
    levels = recall_levels(PR_CURVE_POINTS)
    np.testing.assert_array_equal(recomputed[0], levels)
    run.metrics["pr_curve"] = {"recall": levels.tolist(), "precision": [0.5] * len(levels)}
    ranked = []
    monkeypatch.setattr(
        report, "precision_recall_curve", lambda *a, **k: ranked.append(1) or recomputed
    )
    kept = report.pr_curves([run])["snca_mb"]
    assert ranked == [] and kept[1].tolist() == [0.5] * len(levels)
    assert report.pr_curves([run], points=11)["snca_mb"] is recomputed and ranked == [1]
