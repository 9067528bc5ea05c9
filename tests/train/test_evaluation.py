"""The loop's measurements: the kNN of a problem seen before is answered from memory."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from rsdml.evaluate import knn_accuracy
from rsdml.storage import ContentMemo
from rsdml.train import evaluation
from rsdml.train.evaluation import REMEMBERED_KNN_PROBLEMS, remembered_knn_accuracy

CPU = torch.device("cpu")


@pytest.fixture
def counted(monkeypatch):
    """An empty memory, and a count of the searches it could not spare."""
    monkeypatch.setattr(evaluation, "_KNN_MEMO", ContentMemo(REMEMBERED_KNN_PROBLEMS))
    calls = []

    def counting(*args, **kwargs):
        calls.append(1)
        return knn_accuracy(*args, **kwargs)

    monkeypatch.setattr(evaluation, "knn_accuracy", counting)
    return calls


def problem(seed: int = 0):
    rng = np.random.default_rng(seed)
    return (
        torch.from_numpy(rng.normal(size=(30, 8)).astype(np.float32)),
        rng.integers(0, 3, size=30),
        torch.from_numpy(rng.normal(size=(50, 8)).astype(np.float32)),
        rng.integers(0, 3, size=50),
    )


def test_the_same_content_is_searched_once_and_answered_alike(counted):
    first = remembered_knn_accuracy(*problem(), (1, 10), device=CPU)
    assert first == knn_accuracy(*problem(), (1, 10), device=CPU)
    # new objects with the same values: answered from memory, and a copy of it
    again = remembered_knn_accuracy(*problem(), (1, 10), device=CPU)
    assert again == first and len(counted) == 1
    again["knn@1"] = -1.0
    assert remembered_knn_accuracy(*problem(), (1, 10), device=CPU) == first


def test_any_change_of_the_problem_is_searched_again(counted):
    query, query_labels, database, database_labels = problem()
    remembered_knn_accuracy(query, query_labels, database, database_labels, (10,), device=CPU)
    moved = database.clone()
    moved[7, 3] = torch.nextafter(moved[7, 3], torch.tensor(10.0))  # one value, one ulp
    relabelled = database_labels.copy()
    relabelled[4] = (relabelled[4] + 1) % 3
    variants = [
        ((query, query_labels, moved, database_labels), {}),
        ((query, query_labels, database, relabelled), {}),
        ((query, query_labels, database, database_labels.astype(np.int32)), {}),
        ((query, query_labels, database, database_labels), {"ks": (5,)}),
    ]
    for arrays, options in variants:
        ks = options.get("ks", (10,))
        assert remembered_knn_accuracy(*arrays, ks, device=CPU) == knn_accuracy(
            *arrays, ks, device=CPU
        )
    assert len(counted) == 1 + len(variants)


def test_the_memory_keeps_the_most_recent_problems(counted):
    for seed in range(REMEMBERED_KNN_PROBLEMS + 1):
        remembered_knn_accuracy(*problem(seed), (1,), device=CPU)
    assert len(evaluation._KNN_MEMO) == REMEMBERED_KNN_PROBLEMS
    remembered_knn_accuracy(*problem(REMEMBERED_KNN_PROBLEMS), (1,), device=CPU)  # kept
    remembered_knn_accuracy(*problem(0), (1,), device=CPU)  # the oldest, forgotten
    assert len(counted) == REMEMBERED_KNN_PROBLEMS + 2
