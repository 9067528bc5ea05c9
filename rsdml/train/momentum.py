"""The momentum (EMA) encoder of SNCA's MU variant.

A slowly moving copy of the model produces the features that replace memory slots, so that
the memory stays consistent across mini-batches (MoCo-style). MoCo shuffles the batch across
GPUs so that batch-norm statistics cannot leak which samples belong together; on one device
the same effect comes from permuting the batch and normalising it in several independent
chunks, which is what :meth:`MomentumEncoder.forward` does when the model has batch norm.

Over several processes (:mod:`rsdml.train.distributed`) each rank keeps its own copy: the
online weights it averages are the same on every rank (DistributedDataParallel), so the copies
stay equal; each rank encodes its share of the batch, shuffled within that share, and the
engine gathers the encodings in rank order, so the memory slots they replace are the same on
every rank.
"""

from __future__ import annotations

import copy

import torch
from torch import nn

from rsdml.models import Embedded


class MomentumEncoder(nn.Module):
    """An exponential moving average of ``model`` with shuffled, chunked batch norm."""

    def __init__(self, model: nn.Module, momentum: float = 0.999, bn_splits: int = 4):
        super().__init__()
        if not 0.0 <= momentum < 1.0:
            raise ValueError(f"EMA momentum must be in [0, 1), got {momentum}")
        self.model = copy.deepcopy(model)
        self.model.requires_grad_(False)
        self.momentum = momentum
        self.bn_splits = max(1, bn_splits)
        self.has_batch_norm = any(
            isinstance(m, nn.modules.batchnorm._BatchNorm) for m in self.model.modules()
        )

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        """theta_ema <- m * theta_ema + (1 - m) * theta; buffers (BN statistics) are copied."""
        for ema, online in zip(self.model.parameters(), model.parameters(), strict=True):
            ema.mul_(self.momentum).add_(online.detach(), alpha=1.0 - self.momentum)
        for ema, online in zip(self.model.buffers(), model.buffers(), strict=True):
            ema.copy_(online)

    @torch.no_grad()
    def forward(self, inputs: torch.Tensor, generator: torch.Generator | None = None) -> Embedded:
        """Embed ``inputs``; with batch norm, a permuted batch is normalised in chunks."""
        if not (self.has_batch_norm and self.training and len(inputs) >= 2 * self.bn_splits):
            return self.model(inputs)
        order = torch.randperm(len(inputs), generator=generator).to(inputs.device)
        pieces = [self.model(chunk) for chunk in inputs[order].chunk(self.bn_splits)]
        restore = torch.argsort(order)
        return Embedded(
            embedding=torch.cat([p.embedding for p in pieces])[restore],
            raw=torch.cat([p.raw for p in pieces])[restore],
            logits=None
            if pieces[0].logits is None
            else torch.cat([p.logits for p in pieces])[restore],
        )
