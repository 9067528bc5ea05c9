"""Tests for kNN classification: identical predictions to scikit-learn's KNeighborsClassifier."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.neighbors import KNeighborsClassifier

from rsdml.evaluate.knn import knn_accuracy, knn_predict


def normalised(rng: np.random.Generator, rows: int, dim: int) -> np.ndarray:
    """Random L2-normalised float32 embeddings, returned as float64 for scikit-learn."""
    x = rng.normal(size=(rows, dim))
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32).astype(np.float64)


def sklearn_predict(query, database, labels, k, weights="distance"):
    model = KNeighborsClassifier(n_neighbors=k, weights=weights, algorithm="brute")
    return model.fit(database, labels).predict(query)


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("weighted", [True, False])
def test_predictions_match_sklearn_on_random_data(seed, weighted):
    rng = np.random.default_rng(seed)
    database, query = normalised(rng, 300, 12), normalised(rng, 120, 12)
    labels = rng.choice([3, 7, 11, 20], size=300)  # non-contiguous label values
    weights = "distance" if weighted else "uniform"
    for k in (1, 5, 10):
        ours = knn_predict(
            query, database, labels, k, weighted=weighted, normalize=False, device="cpu"
        )
        np.testing.assert_array_equal(ours, sklearn_predict(query, database, labels, k, weights))


def test_accuracy_matches_sklearn_score_with_chunking():
    rng = np.random.default_rng(5)
    database, query = normalised(rng, 200, 6), normalised(rng, 90, 6)
    database_labels, query_labels = rng.integers(0, 5, 200), rng.integers(0, 5, 90)
    scores = knn_accuracy(
        query, query_labels, database, database_labels, device="cpu", chunk_size=7
    )
    assert list(scores) == ["knn@1", "knn@5", "knn@10"]
    for k in (1, 5, 10):
        model = KNeighborsClassifier(n_neighbors=k, weights="distance").fit(
            database, database_labels
        )
        assert scores[f"knn@{k}"] == pytest.approx(model.score(query, query_labels), abs=1e-12)
        assert isinstance(scores[f"knn@{k}"], float)


def test_zero_distances_give_all_the_weight_to_duplicates_like_sklearn():
    # Unit vectors in {-0.5, 0.5}^4 and +-e_i have exact dot products (0, +-0.5, +-1), so
    # duplicates sit at distance exactly 0 and equal distances tie exactly, for scikit-learn
    # too (with inexact values its BLAS rounding, not the index, would break the ties).
    rng = np.random.default_rng(6)
    corners = np.array(np.meshgrid(*[[-0.5, 0.5]] * 4)).reshape(4, -1).T
    database = corners[rng.integers(0, 16, size=60)]
    labels = rng.integers(0, 3, size=60)
    query = np.concatenate([corners, np.eye(4), -np.eye(4)])
    for k in (1, 3, 5, 10):
        np.testing.assert_array_equal(
            knn_predict(query, database, labels, k, device="cpu"),
            sklearn_predict(query, database, labels, k),
        )


def on_circle(*angles: float) -> np.ndarray:
    return np.array([[np.cos(a), np.sin(a)] for a in angles])


def test_distance_weighting_by_hand():
    # One neighbour at distance 0.1 (weight 10, label 2) against two at distance 1 (weight 1
    # each, label 3): the weighted vote picks 2, the majority vote picks 3.
    near, far = 2 * np.arcsin(0.05), np.pi / 3
    database = on_circle(near, far, -far)
    labels = np.array([2, 3, 3])
    query = on_circle(0.0)
    assert knn_predict(query, database, labels, 3, device="cpu").tolist() == [2]
    assert knn_predict(query, database, labels, 3, weighted=False, device="cpu").tolist() == [3]


def test_duplicates_take_all_the_weight_by_hand():
    # Two exact duplicates of the query (labels 6 and 5) tie at weight 1; the three close
    # neighbours of label 1 get weight 0, however close they are.
    database = on_circle(0.0, 0.0, 0.01, -0.01, 0.02)
    labels = np.array([6, 5, 1, 1, 1])
    assert knn_predict(on_circle(0.0), database, labels, 5, device="cpu").tolist() == [5]


def test_tied_votes_go_to_the_smallest_label_like_sklearn():
    # The query is equidistant (sqrt 2) from both database items: equal weights, a tie.
    database = np.array([[0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
    query = np.array([[1.0, 0.0, 0.0]])
    for labels in (np.array([9, 4]), np.array([4, 9])):
        assert knn_predict(query, database, labels, 2, device="cpu").tolist() == [4]
        assert sklearn_predict(query, database, labels, 2).tolist() == [4]
    # Two duplicates of the query with different labels: a tie at weight 1 each.
    database = np.array([[1.0, 0.0, 0.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    labels = np.array([8, 2, 0])
    assert knn_predict(query, database, labels, 3, device="cpu").tolist() == [2]
    assert sklearn_predict(query, database, labels, 3).tolist() == [2]


def test_ties_in_distance_at_the_kth_place_keep_the_lowest_index_like_sklearn():
    eye = np.eye(3)
    rng = np.random.default_rng(7)
    database = eye[rng.integers(0, 3, size=40)]
    labels = rng.integers(0, 4, size=40)
    query = eye
    for k in (1, 2, 3, 5, 9):
        np.testing.assert_array_equal(
            knn_predict(query, database, labels, k, weighted=False, device="cpu"),
            sklearn_predict(query, database, labels, k, "uniform"),
        )


def test_query_class_missing_from_the_database_counts_as_an_error():
    database = np.array([[1.0, 0.0], [0.0, 1.0]])
    query = np.array([[1.0, 0.1], [0.1, 1.0]])
    scores = knn_accuracy(query, [0, 2], database, [0, 1], ks=(1,), device="cpu")
    assert scores == {"knn@1": 0.5}


def test_k_larger_than_the_database_is_capped_at_its_size():
    rng = np.random.default_rng(8)
    database, query = normalised(rng, 6, 3), normalised(rng, 20, 3)
    labels = rng.integers(0, 3, size=6)
    np.testing.assert_array_equal(
        knn_predict(query, database, labels, 50, device="cpu"),
        sklearn_predict(query, database, labels, 6),
    )


def test_normalisation_is_applied_to_unnormalised_inputs():
    rng = np.random.default_rng(9)
    database, query = rng.normal(size=(80, 5)) * 7, rng.normal(size=(30, 5)) * 0.1
    labels = rng.integers(0, 4, size=80)
    unit = lambda x: x / np.linalg.norm(x, axis=1, keepdims=True)  # noqa: E731
    np.testing.assert_array_equal(
        knn_predict(query, database, labels, 5, device="cpu"),
        sklearn_predict(unit(query), unit(database), labels, 5),
    )


def test_labels_and_embeddings_as_torch_tensors():
    rng = np.random.default_rng(10)
    database, query = normalised(rng, 50, 4), normalised(rng, 15, 4)
    database_labels, query_labels = rng.integers(0, 3, 50), rng.integers(0, 3, 15)
    from_numpy = knn_accuracy(query, query_labels, database, database_labels, device="cpu")
    from_torch = knn_accuracy(
        torch.from_numpy(query).float(),
        torch.from_numpy(query_labels),
        torch.from_numpy(database).float(),
        torch.from_numpy(database_labels),
        device="cpu",
    )
    assert from_numpy == from_torch


def test_bad_arguments_raise_clear_errors():
    with pytest.raises(ValueError, match="positive"):
        knn_accuracy(np.ones((2, 2)), [0, 1], np.ones((2, 2)), [0, 1], ks=(0,))
    with pytest.raises(ValueError, match="one label per"):
        knn_accuracy(np.ones((2, 2)), [0], np.ones((2, 2)), [0, 1])
