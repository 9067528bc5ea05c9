"""Shared fixtures of the loss tests: the two dtypes every re-derivation runs in."""

import pytest
import torch

# Losses divide cosines by temperatures of 0.05, which amplifies float32 rounding ~20 times.
_TOLERANCE = {torch.float32: 2e-5, torch.float64: 1e-10}


@pytest.fixture(params=[torch.float32, torch.float64], ids=["float32", "float64"])
def dtype(request: pytest.FixtureRequest) -> torch.dtype:
    """Each value test runs in single and double precision."""
    return request.param


@pytest.fixture
def tol(dtype: torch.dtype) -> float:
    """Relative and absolute tolerance for comparing a loss in ``dtype`` with a float64 loop."""
    return _TOLERANCE[dtype]
