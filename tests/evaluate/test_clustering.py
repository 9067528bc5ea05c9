"""Tests for K-means clustering scores: Hungarian ACC against a brute-force permutation search."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
from sklearn.cluster import KMeans
from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

from rsdml.evaluate.clustering import clustering_accuracy, clustering_scores, kmeans_assignments


def brute_force_accuracy(labels: np.ndarray, assignments: np.ndarray) -> float:
    """Best accuracy over every one-to-one map from classes to clusters."""
    classes, clusters = np.unique(labels), np.unique(assignments)
    best = 0
    if len(classes) <= len(clusters):
        for chosen in itertools.permutations(clusters, len(classes)):
            mapping = dict(zip(chosen, classes, strict=True))
            best = max(
                best, sum(mapping.get(a) == y for a, y in zip(assignments, labels, strict=True))
            )
    else:
        for chosen in itertools.permutations(classes, len(clusters)):
            mapping = dict(zip(clusters, chosen, strict=True))
            best = max(best, sum(mapping[a] == y for a, y in zip(assignments, labels, strict=True)))
    return best / len(labels)


@pytest.mark.parametrize("trial", range(6))
def test_hungarian_accuracy_matches_brute_force(trial):
    rng = np.random.default_rng(trial)
    num_classes = int(rng.integers(2, 6))
    num_clusters = num_classes + int(rng.integers(-1, 2))  # fewer, equal or more clusters
    labels = rng.choice([2, 5, 11, 13, 40], size=num_classes, replace=False)[
        rng.integers(0, num_classes, size=60)
    ]
    assignments = rng.integers(0, max(num_clusters, 1), size=60)
    assert clustering_accuracy(labels, assignments) == pytest.approx(
        brute_force_accuracy(labels, assignments), abs=1e-12
    )


def test_accuracy_is_invariant_to_renaming_clusters():
    labels = np.array([0, 0, 1, 1, 2, 2, 2])
    assignments = np.array([7, 7, 3, 3, 9, 9, 3])
    assert clustering_accuracy(labels, assignments) == pytest.approx(6 / 7)
    assert clustering_accuracy(labels, torch.tensor([1, 1, 0, 0, 2, 2, 0])) == pytest.approx(6 / 7)


def blobs(seed: int, per_class: int = 20, dim: int = 8, spread: float = 0.05):
    rng = np.random.default_rng(seed)
    centres = np.eye(dim)[:4] * 3
    labels = np.repeat(np.array([10, 20, 30, 40]), per_class)
    points = centres[np.repeat(np.arange(4), per_class)] + spread * rng.normal(
        size=(4 * per_class, dim)
    )
    return points, labels


def test_well_separated_blobs_score_perfectly():
    points, labels = blobs(0)
    scores = clustering_scores(points, labels, seed=0, n_init=3)
    assert scores == {"acc": 1.0, "nmi": pytest.approx(1.0), "ari": pytest.approx(1.0)}
    assert all(isinstance(value, float) for value in scores.values())


def test_scores_equal_sklearn_kmeans_on_normalised_points():
    rng = np.random.default_rng(1)
    points, labels = rng.normal(size=(90, 5)), rng.integers(0, 3, size=90)
    unit = points / np.linalg.norm(points, axis=1, keepdims=True)
    predicted = KMeans(n_clusters=3, n_init=2, random_state=4).fit_predict(
        unit.astype(np.float32).astype(np.float64)
    )
    scores = clustering_scores(torch.from_numpy(points), torch.from_numpy(labels), seed=4, n_init=2)
    assert scores["acc"] == pytest.approx(brute_force_accuracy(labels, predicted))
    assert scores["nmi"] == pytest.approx(normalized_mutual_info_score(labels, predicted))
    assert scores["ari"] == pytest.approx(adjusted_rand_score(labels, predicted))


def test_seed_makes_it_deterministic_and_num_clusters_can_be_set():
    rng = np.random.default_rng(2)
    points, labels = rng.normal(size=(50, 4)), rng.integers(0, 4, size=50)
    assert clustering_scores(points, labels, seed=3, n_init=2) == clustering_scores(
        points, labels, seed=3, n_init=2
    )
    assert len(np.unique(kmeans_assignments(points, 6, seed=0, n_init=1))) == 6


def test_bad_inputs_raise_clear_errors():
    with pytest.raises(ValueError, match="num_clusters"):
        clustering_scores(np.ones((3, 2)), [0, 1, 2], num_clusters=5)
    with pytest.raises(ValueError, match="one label per"):
        clustering_scores(np.ones((3, 2)), [0, 1])
