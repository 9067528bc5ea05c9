"""Fixtures shared across the test tree."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch
from torch import nn

from rsdml.models import Backbone, engines


@pytest.fixture(autouse=True)
def _features_from_torch(request, monkeypatch):
    """Tests compute frozen features with torch whatever engines are installed, so that
    ``make test`` behaves the same with and without them; tests marked ``engines`` see the real
    installation (tests/models/test_engines.py)."""
    if request.node.get_closest_marker("engines") is None:
        monkeypatch.setattr(engines, "engine_installed", lambda name: name == "torch")


class CountingFlatten(nn.Module):
    """A stand-in trunk: flattens each image into its features and counts the images it saw, so a
    test can tell a cache hit (nothing seen) from a recomputation."""

    def __init__(self) -> None:
        super().__init__()
        self.seen = 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.seen += x.shape[0]
        return x.flatten(1)


@pytest.fixture
def flatten_backbone() -> Callable[[int], Backbone]:
    """Make a :class:`Backbone` over a fresh :class:`CountingFlatten` for ``size`` px images."""

    def make(size: int) -> Backbone:
        return Backbone("fake", CountingFlatten(), 3 * size * size, "fake-1")

    return make
