"""Tests for evaluate_embeddings, the one-call summary in rsdml/evaluate/__init__.py."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from rsdml.evaluate import (
    METRIC_NAMES,
    VALIDATION_METRICS,
    PrecisionRecall,
    clustering_scores,
    cutoff_scores,
    evaluate_embeddings,
    evaluate_leave_one_out,
    knn_accuracy,
    precision_recall_curve,
    retrieval_scores,
)
from rsdml.evaluate import knn as knn_module
from rsdml.evaluate.knn import knn_scores, knn_votes
from rsdml.metric_names import ALL_METRICS


def class_clusters(seed: int, rows: int, num_classes: int = 4, dim: int = 16, noise: float = 0.6):
    rng = np.random.default_rng(seed)
    centres = np.random.default_rng(99).normal(size=(num_classes, dim))
    labels = rng.integers(0, num_classes, size=rows)
    return centres[labels] + noise * rng.normal(size=(rows, dim)), labels


def test_returns_every_metric_as_a_float_consistent_with_the_parts():
    query, query_labels = class_clusters(0, 60)
    database, database_labels = class_clusters(1, 150)
    scores = evaluate_embeddings(
        query, query_labels, database, database_labels, device="cpu", n_init=2
    )
    assert tuple(scores) == METRIC_NAMES
    assert all(isinstance(value, float) and 0.0 <= value <= 1.0 for value in scores.values())
    parts = {
        **knn_accuracy(query, query_labels, database, database_labels, device="cpu"),
        **clustering_scores(query, query_labels, seed=0, n_init=2),
        **retrieval_scores(query, query_labels, database, database_labels, device="cpu"),
    }
    assert scores == {name: pytest.approx(parts[name], abs=1e-12) for name in METRIC_NAMES}
    assert scores["knn@10"] > 0.8 and scores["map@20"] > 0.6  # the classes are separable


def test_asked_for_metrics_only_and_the_cheap_validation_set_agrees_with_the_full_one():
    query, query_labels = class_clusters(5, 50)
    database, database_labels = class_clusters(6, 120)
    problem = (query, query_labels, database, database_labels)
    full = evaluate_embeddings(*problem, device="cpu", n_init=2)
    cheap = evaluate_embeddings(*problem, device="cpu", n_init=2, metrics=VALIDATION_METRICS)
    # the top-K metrics, no full ranking (map) and no K-means, in table order
    assert tuple(cheap) == VALIDATION_METRICS
    assert not {"map", "acc", "nmi", "ari"} & set(cheap)
    assert cheap == {name: pytest.approx(full[name], abs=1e-12) for name in cheap}
    only = evaluate_embeddings(*problem, device="cpu", n_init=2, metrics=["nmi", "map"])
    assert only == {"nmi": pytest.approx(full["nmi"]), "map": pytest.approx(full["map"])}
    with pytest.raises(ValueError, match="unknown metric.*'map@7'"):
        evaluate_embeddings(*problem, device="cpu", metrics=["map@7"])


@pytest.mark.parametrize("chunk_size", [None, 7])
def test_knn_votes_filled_by_a_retrieval_search_equal_knn_accuracy(chunk_size):
    query, query_labels = class_clusters(3, 40, noise=1.2)
    database, database_labels = class_clusters(4, 90, noise=1.2)
    database[5] = database[60]  # an exact duplicate: the vote's tie rule on distances
    problem = (query, query_labels, database, database_labels)
    alone = knn_accuracy(*problem, device="cpu")
    for search in (retrieval_scores, cutoff_scores):
        votes, codes = knn_votes(*problem, device="cpu")
        search(*problem, device="cpu", chunk_size=chunk_size, visit=votes)
        assert knn_scores(votes, codes) == alone, search.__name__
    unfilled, codes = knn_votes(*problem, device="cpu")
    with pytest.raises(RuntimeError, match="40 queries have no kNN votes"):
        knn_scores(unfilled, codes)


def test_one_search_serves_knn_and_retrieval(monkeypatch):
    """evaluate_embeddings and evaluate_leave_one_out give the kNN votes the retrieval's
    similarities: the kNN's own search is never run (it would raise here)."""
    query, query_labels = class_clusters(5, 30)
    database, database_labels = class_clusters(6, 70)
    problem = (query, query_labels, database, database_labels)
    expected = evaluate_embeddings(*problem, device="cpu", n_init=2)
    expected_alone = evaluate_leave_one_out(database, database_labels, device="cpu", n_init=2)

    def no_second_search(*args, **kwargs):
        raise AssertionError("the kNN ran a search of its own")

    monkeypatch.setattr(knn_module, "similarity_chunks", no_second_search)
    assert evaluate_embeddings(*problem, device="cpu", n_init=2) == expected
    cheap = evaluate_embeddings(*problem, device="cpu", metrics=VALIDATION_METRICS)
    assert cheap == {name: expected[name] for name in VALIDATION_METRICS}
    left_out = evaluate_leave_one_out(database, database_labels, device="cpu", n_init=2)
    assert left_out == expected_alone
    with pytest.raises(AssertionError, match="search of its own"):
        evaluate_embeddings(*problem, device="cpu", metrics=["knn@10"])  # nothing to ride on


def test_the_curve_comes_from_the_test_ranking_and_needs_it():
    query, query_labels = class_clusters(5, 40)
    database, database_labels = class_clusters(6, 90)
    problem = (query, query_labels, database, database_labels)
    curve = PrecisionRecall(21)
    scores = evaluate_embeddings(*problem, device="cpu", chunk_size=7, curve=curve)
    assert scores == evaluate_embeddings(*problem, device="cpu", chunk_size=7)
    expected = precision_recall_curve(*problem, 21, device="cpu", chunk_size=7)
    assert all(np.array_equal(a, b) for a, b in zip(curve.curve(), expected, strict=True))
    with pytest.raises(ValueError, match="whole ranking"):
        evaluate_embeddings(*problem, metrics=VALIDATION_METRICS, curve=PrecisionRecall())


def test_clustering_on_the_database_uses_the_database_labels():
    query, query_labels = class_clusters(2, 40)
    database, database_labels = class_clusters(3, 90)
    scores = evaluate_embeddings(
        torch.from_numpy(query),
        torch.from_numpy(query_labels),
        torch.from_numpy(database),
        torch.from_numpy(database_labels),
        device="cpu",
        clustering_on="database",
        seed=5,
        n_init=2,
    )
    expected = clustering_scores(database, database_labels, seed=5, n_init=2)
    assert {name: scores[name] for name in ("acc", "nmi", "ari")} == pytest.approx(expected)


def test_noisy_database_labels_lower_knn_but_not_clustering():
    query, query_labels = class_clusters(4, 50)
    database, database_labels = class_clusters(5, 120)
    noisy = database_labels.copy()
    noisy[::2] = (noisy[::2] + 1) % 4
    clean = evaluate_embeddings(
        query, query_labels, database, database_labels, device="cpu", n_init=2
    )
    corrupted = evaluate_embeddings(query, query_labels, database, noisy, device="cpu", n_init=2)
    assert corrupted["knn@1"] < clean["knn@1"] and corrupted["map"] < clean["map"]
    assert corrupted["acc"] == clean["acc"]  # clustering uses the query labels only


def test_unknown_clustering_target_is_rejected():
    with pytest.raises(ValueError, match="clustering_on"):
        evaluate_embeddings(np.ones((2, 2)), [0, 1], np.ones((2, 2)), [0, 1], clustering_on="train")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_gpu_and_cpu_agree():
    query, query_labels = class_clusters(6, 70)
    database, database_labels = class_clusters(7, 160)
    on_cpu = evaluate_embeddings(query, query_labels, database, database_labels, device="cpu")
    on_gpu = evaluate_embeddings(
        torch.from_numpy(query).cuda(),
        query_labels,
        torch.from_numpy(database).cuda(),
        database_labels,
        device="cuda",
        chunk_size=16,
    )
    assert on_gpu == {name: pytest.approx(value, abs=1e-6) for name, value in on_cpu.items()}


def brute_force_leave_one_out(embeddings, labels, **search):
    """Item i as the one query against every other item, one evaluation per item, averaged."""
    per_query = []
    for i in range(len(labels)):
        others = np.delete(np.arange(len(labels)), i)
        problem = (embeddings[i : i + 1], labels[i : i + 1], embeddings[others], labels[others])
        per_query.append(
            {
                **knn_accuracy(*problem, device="cpu", **search),
                **retrieval_scores(*problem, device="cpu", benchmark_metrics=True, **search),
            }
        )
    return {name: np.mean([scores[name] for scores in per_query]) for name in per_query[0]}


@pytest.mark.parametrize("chunk_size", [None, 7])
def test_leave_one_out_equals_one_evaluation_per_held_out_item(chunk_size):
    embeddings, labels = class_clusters(6, 45, num_classes=5, noise=1.0)
    embeddings[10] = embeddings[3]  # an exact duplicate: ties go to the lower index
    embeddings[11] = embeddings[3]
    labels[11] = labels[3] + 1
    labels[44] = 7  # a class of one image: nothing relevant once it is left out
    scores = evaluate_leave_one_out(
        embeddings, labels, device="cpu", n_init=2, chunk_size=chunk_size
    )
    oracle = brute_force_leave_one_out(embeddings, labels)
    assert tuple(scores) == ALL_METRICS
    for name, value in oracle.items():
        assert scores[name] == pytest.approx(value, abs=1e-12), name
    clusters = clustering_scores(embeddings, labels, seed=0, n_init=2)
    assert {name: scores[name] for name in clusters} == pytest.approx(clusters)
    # leaving the query in would find it first: a different (better) score
    kept_in = evaluate_embeddings(embeddings, labels, embeddings, labels, device="cpu", n_init=2)
    assert kept_in["knn@1"] > scores["knn@1"]


def test_leave_one_out_caps_k_at_the_other_items():
    embeddings, labels = class_clusters(7, 6, num_classes=2)
    scores = evaluate_leave_one_out(embeddings, labels, device="cpu", n_init=1)
    oracle = brute_force_leave_one_out(embeddings, labels)  # databases of 5: K capped at 5
    assert {name: scores[name] for name in oracle} == pytest.approx(oracle, abs=1e-12)


def test_leave_one_out_refuses_a_database_that_is_not_the_queries():
    embeddings, labels = class_clusters(8, 10)
    with pytest.raises(ValueError, match="row for row"):
        knn_accuracy(embeddings, labels, embeddings[:9], labels[:9], leave_one_out=True)
    with pytest.raises(ValueError, match="at least two"):
        retrieval_scores(embeddings[:1], labels[:1], embeddings[:1], labels[:1], leave_one_out=True)
