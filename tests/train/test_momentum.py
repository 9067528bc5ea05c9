"""The momentum encoder: EMA arithmetic, and chunked shuffled batch norm that keeps the order."""

from __future__ import annotations

import torch
from torch import nn

from rsdml.models import Embedded
from rsdml.train.momentum import MomentumEncoder


class TinyModel(nn.Module):
    def __init__(self, batch_norm: bool = False):
        super().__init__()
        self.linear = nn.Linear(3, 2)
        self.norm = nn.BatchNorm1d(2) if batch_norm else nn.Identity()

    def forward(self, x):
        raw = self.norm(self.linear(x))
        return Embedded(nn.functional.normalize(raw, dim=1), raw, None)


def test_update_is_an_exponential_moving_average():
    torch.manual_seed(0)
    model = TinyModel()
    encoder = MomentumEncoder(model, momentum=0.9)
    before = encoder.model.linear.weight.clone()
    with torch.no_grad():
        model.linear.weight.add_(1.0)
    encoder.update(model)
    expected = 0.9 * before + 0.1 * model.linear.weight
    assert torch.allclose(encoder.model.linear.weight, expected)
    assert not any(p.requires_grad for p in encoder.parameters())


def test_without_batch_norm_the_copy_matches_the_model():
    torch.manual_seed(0)
    model = TinyModel()
    encoder = MomentumEncoder(model)
    x = torch.randn(8, 3)
    assert torch.allclose(encoder(x).embedding, model(x).embedding)


def test_shuffled_batch_norm_normalises_chunks_and_restores_order():
    torch.manual_seed(0)
    model = TinyModel(batch_norm=True)
    encoder = MomentumEncoder(model, bn_splits=2).train()
    x = torch.randn(16, 3)
    generator = torch.Generator().manual_seed(5)
    out = encoder(x, generator)
    # recompute by hand: same permutation, two chunks normalised separately, order restored
    order = torch.randperm(16, generator=torch.Generator().manual_seed(5))
    reference = MomentumEncoder(model, bn_splits=2).train().model
    pieces = [reference(chunk).raw for chunk in x[order].chunk(2)]
    expected = torch.cat(pieces)[torch.argsort(order)]
    assert torch.allclose(out.raw, expected, atol=1e-6)
    # and it differs from whole-batch normalisation
    assert not torch.allclose(out.raw, reference(x).raw, atol=1e-4)
