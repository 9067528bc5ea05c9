"""Tests for rank analysis on matrices with a known spectrum or a known rank."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from rsdml.evaluate.rank import effective_rank, rank_analysis


def with_spectrum(singular_values: np.ndarray, rows: int, cols: int, seed: int = 0) -> np.ndarray:
    """U diag(s) V^T with random orthonormal U (rows x r) and V (cols x r)."""
    rng = np.random.default_rng(seed)
    r = len(singular_values)
    u, _ = np.linalg.qr(rng.normal(size=(rows, r)))
    v, _ = np.linalg.qr(rng.normal(size=(cols, r)))
    return u @ np.diag(singular_values) @ v.T


def test_known_spectrum():
    spectrum = np.array([5.0, 3.0, 1.5, 0.5])
    result = rank_analysis(with_spectrum(spectrum, 30, 6))
    np.testing.assert_allclose(result["singular_values"][:4], spectrum, rtol=1e-10)
    np.testing.assert_allclose(result["singular_values"][4:], 0.0, atol=1e-12)
    assert result["nuclear_norm"] == pytest.approx(spectrum.sum())
    share = spectrum / spectrum.sum()
    assert result["effective_rank"] == pytest.approx(np.exp(-(share * np.log(share)).sum()))
    assert result["rank"] == 4


@pytest.mark.parametrize("true_rank", [1, 3, 7])
def test_numerical_rank_of_low_rank_products(true_rank):
    rng = np.random.default_rng(true_rank)
    matrix = rng.normal(size=(40, true_rank)) @ rng.normal(size=(true_rank, 12))
    assert rank_analysis(matrix)["rank"] == true_rank
    assert rank_analysis(torch.from_numpy(matrix).float())["rank"] == true_rank


def test_effective_rank_extremes():
    assert rank_analysis(np.eye(5))["effective_rank"] == pytest.approx(5.0)
    assert rank_analysis(np.outer(np.arange(1, 5), np.ones(3)))["effective_rank"] == pytest.approx(
        1.0
    )
    # A one-hot prediction matrix with 3 equally used classes has effective rank 3.
    predictions = np.eye(3)[[0, 1, 2, 0, 1, 2]]
    assert rank_analysis(predictions)["effective_rank"] == pytest.approx(3.0)
    assert effective_rank([2.0, 2.0, 0.0]) == pytest.approx(2.0)


def test_zero_matrix_has_rank_zero():
    result = rank_analysis(np.zeros((4, 3)))
    assert result["rank"] == 0 and result["nuclear_norm"] == 0.0 and result["effective_rank"] == 0.0


def test_explicit_tolerance_and_output_types():
    matrix = with_spectrum(np.array([1.0, 1e-3]), 10, 4)
    assert rank_analysis(matrix)["rank"] == 2
    result = rank_analysis(matrix, tol=1e-2)
    assert result["rank"] == 1
    assert isinstance(result["singular_values"], np.ndarray)
    assert isinstance(result["nuclear_norm"], float) and isinstance(result["rank"], int)


def test_bad_inputs_raise():
    with pytest.raises(ValueError, match="2-D"):
        rank_analysis(np.ones(3))
    with pytest.raises(ValueError, match="NaN"):
        rank_analysis(np.array([[1.0, np.inf]]))
