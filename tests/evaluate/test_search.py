"""Tests for the chunked top-k search and the input conversions of rsdml.evaluate."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from rsdml.evaluate.search import (
    as_embeddings,
    as_labels,
    chunk_rows,
    encode_labels,
    top_k,
    top_k_rows,
)


def brute_force_top_k(query: np.ndarray, database: np.ndarray, k: int):
    """Rank by (-cosine similarity, index) with Python's sort, in float64."""
    q = query / np.linalg.norm(query, axis=1, keepdims=True)
    d = database / np.linalg.norm(database, axis=1, keepdims=True)
    similarities = q @ d.T
    indices = []
    for row in similarities:
        order = sorted(range(len(row)), key=lambda j, row=row: (-row[j], j))
        indices.append(order[:k])
    indices = np.array(indices)
    return np.take_along_axis(similarities, indices, axis=1), indices


def test_top_k_matches_brute_force_on_random_data():
    rng = np.random.default_rng(0)
    query, database = rng.normal(size=(23, 8)), rng.normal(size=(57, 8))
    expected_values, expected_indices = brute_force_top_k(query, database, 6)
    values, indices = top_k(query, database, 6, device="cpu")
    assert values.dtype == torch.float32 and indices.dtype == torch.int64
    np.testing.assert_array_equal(indices.numpy(), expected_indices)
    np.testing.assert_allclose(values.numpy(), expected_values, atol=1e-6)


@pytest.mark.parametrize("chunk_size", [1, 4, 1000])
def test_top_k_is_independent_of_the_chunking(chunk_size):
    rng = np.random.default_rng(1)
    query, database = rng.normal(size=(10, 5)), rng.normal(size=(30, 5))
    reference_values, reference_indices = top_k(query, database, 4, device="cpu")
    values, indices = top_k(query, database, 4, device="cpu", chunk_size=chunk_size)
    # A one-row chunk may use a different BLAS kernel: the last bit can differ.
    torch.testing.assert_close(values, reference_values, rtol=0, atol=1e-6)
    torch.testing.assert_close(indices, reference_indices, rtol=0, atol=0)


def test_tiny_memory_budget_still_works_one_row_at_a_time():
    rng = np.random.default_rng(2)
    query, database = rng.normal(size=(5, 4)), rng.normal(size=(9, 4))
    reference_values, reference_indices = top_k(query, database, 3, device="cpu")
    values, indices = top_k(query, database, 3, device="cpu", memory_mb=1e-9)
    torch.testing.assert_close(values, reference_values, rtol=0, atol=1e-6)
    torch.testing.assert_close(indices, reference_indices, rtol=0, atol=0)


def test_ties_go_to_the_lowest_database_index():
    # One-hot vectors: similarities are exactly 0 or 1, so ties are exact.
    eye = np.eye(3)
    database = eye[[2, 0, 1, 0, 2, 0, 0, 1]]
    query = eye[[0, 2]]
    values, indices = top_k(query, database, 3, device="cpu")
    assert indices.tolist() == [[1, 3, 5], [0, 4, 1]]
    assert values.tolist() == [[1.0, 1.0, 1.0], [1.0, 1.0, 0.0]]


def test_top_k_rows_fixes_ties_straddling_the_cut():
    similarities = torch.tensor([[0.5, 0.75, 0.5, 0.5, 0.25, 0.5]])
    values, indices = top_k_rows(similarities, 3)
    assert indices.tolist() == [[1, 0, 2]]
    assert values.tolist() == [[0.75, 0.5, 0.5]]


def wide_rows(kind: str, width: int, rng: np.random.Generator) -> torch.Tensor:
    """Rows wide enough for the blocked search: distinct values, many ties, or -inf halves."""
    if kind == "distinct":
        rows = rng.normal(size=(40, width))
    elif kind == "ties":
        rows = rng.integers(0, 4, size=(40, width)).astype(float)
    else:  # a leave-one-out row's -inf, and the largest values in the columns past the blocks
        rows = rng.normal(size=(40, width))
        rows[:, : width // 2] = -np.inf
        rows[:5, -3:] = 10.0
    return torch.from_numpy(rows.astype(np.float32))


@pytest.mark.parametrize("kind", ["distinct", "ties", "infinite"])
@pytest.mark.parametrize("width", [5_000, 64 * 90, 18_900])
def test_top_k_rows_of_wide_rows_match_a_full_stable_sort(kind, width):
    from rsdml.evaluate import search

    rng = np.random.default_rng(width)
    rows = wide_rows(kind, width, rng)
    for k in (1, 10, 18, 100):
        assert k * search.LARGEST_BLOCK * 4 <= width or k == 100  # the blocked search, mostly
        values, indices = top_k_rows(rows.clone(), k)
        # oracle: by descending value, then ascending column, over the whole row
        order = np.lexsort((np.arange(width)[None].repeat(len(rows), 0), -rows.numpy()), axis=1)
        np.testing.assert_array_equal(indices.numpy(), order[:, :k])
        np.testing.assert_array_equal(
            values.numpy(), np.take_along_axis(rows.numpy(), order[:, :k], 1)
        )
        # and the values are torch.topk's (the columns wherever the k largest are unique)
        top = torch.topk(rows, k + 1, dim=1)
        largest = search._largest(rows, k + 1)
        torch.testing.assert_close(largest[0], top.values, rtol=0, atol=0)
        unique = top.values[:, k] < top.values[:, k - 1]
        picked = largest[1][unique, :k].sort(dim=1).values
        torch.testing.assert_close(picked, top.indices[unique, :k].sort(dim=1).values)


def test_k_larger_than_the_database_is_capped():
    rng = np.random.default_rng(3)
    values, indices = top_k(rng.normal(size=(4, 3)), rng.normal(size=(5, 3)), 50, device="cpu")
    assert values.shape == indices.shape == (4, 5)
    assert sorted(indices[0].tolist()) == [0, 1, 2, 3, 4]


def test_normalisation_can_be_switched_off():
    query = np.array([[1.0, 0.0]])
    database = np.array([[3.0, 0.0], [0.5, 0.1]])
    values, indices = top_k(query, database, 2, device="cpu", normalize=False)
    assert indices.tolist() == [[0, 1]]
    np.testing.assert_allclose(values.numpy(), [[3.0, 0.5]])
    values, _ = top_k(query, database, 2, device="cpu")
    np.testing.assert_allclose(values.numpy(), [[1.0, 0.5 / np.hypot(0.5, 0.1)]], rtol=1e-6)


def test_torch_and_numpy_inputs_agree():
    rng = np.random.default_rng(4)
    query, database = rng.normal(size=(6, 4)), rng.normal(size=(11, 4)).astype(np.float32)
    from_numpy = top_k(query, database, 3, device="cpu")
    from_torch = top_k(torch.from_numpy(query), torch.from_numpy(database), 3, device="cpu")
    torch.testing.assert_close(from_numpy, from_torch, rtol=0, atol=0)


def test_as_embeddings_normalises_rows_and_keeps_zero_rows():
    out = as_embeddings(np.array([[3.0, 4.0], [0.0, 0.0]]))
    assert out.dtype == torch.float32
    np.testing.assert_allclose(out.numpy(), [[0.6, 0.8], [0.0, 0.0]], rtol=1e-7)


@pytest.mark.parametrize(
    ("values", "message"),
    [
        (np.zeros(3), "2-D"),
        (np.zeros((0, 3)), "empty"),
        (np.array([[1.0, np.nan]]), "NaN"),
    ],
)
def test_as_embeddings_rejects_bad_inputs(values, message):
    with pytest.raises(ValueError, match=message):
        as_embeddings(values)


def test_dimension_mismatch_and_bad_k_are_clear_errors():
    with pytest.raises(ValueError, match="dimensions"):
        top_k(np.ones((2, 3)), np.ones((4, 5)), 1, device="cpu")
    with pytest.raises(ValueError, match="k must be"):
        top_k(np.ones((2, 3)), np.ones((4, 3)), 0, device="cpu")


def test_as_labels_accepts_numpy_torch_and_lists_and_checks_length():
    assert as_labels(torch.tensor([1, 2])).tolist() == [1, 2]
    assert as_labels([3, 4], length=2).tolist() == [3, 4]
    with pytest.raises(ValueError, match="one label per"):
        as_labels(np.array([1, 2, 3]), "query_labels", length=2)
    with pytest.raises(ValueError, match="1-D"):
        as_labels(np.ones((2, 2)))


def test_encode_labels_shares_codes_in_sorted_order():
    classes, (first, second) = encode_labels(np.array([7, 3, 7]), np.array([11, 3]))
    assert classes.tolist() == [3, 7, 11]
    assert first.tolist() == [1, 0, 1] and second.tolist() == [2, 0]


def test_chunk_rows_follows_the_memory_budget():
    assert chunk_rows(1000, 8, memory_mb=1.0) == 2**20 // 8000
    assert chunk_rows(10**9, 8, memory_mb=1.0) == 1
    assert chunk_rows(1000, 8, memory_mb=1.0, chunk_size=7) == 7
    with pytest.raises(ValueError, match="chunk_size"):
        chunk_rows(10, 8, chunk_size=0)
