"""Which training samples go into each batch.

Proxy and memory losses see random batches; pair-based losses (contrastive, triplet, SRL)
need several images of the same class in a batch to form positives, so they get
class-balanced batches of P classes x K images, as is standard for batch-hard mining.
Every balanced batch is full (P x K, at most the batch size); random epochs end with a smaller
batch, and a lone last sample is skipped. In a run over several processes every rank draws the
same global batch and keeps its block of it (:func:`shard`).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import numpy as np
import torch


def random_batches(
    num_samples: int, batch_size: int, generator: torch.Generator
) -> Iterator[torch.Tensor]:
    """One epoch of shuffled positions ``0..num_samples-1``; a final batch of one is dropped
    (a single sample gives no pairs and a degenerate batch nuclear norm)."""
    order = torch.randperm(num_samples, generator=generator)
    for start in range(0, num_samples, batch_size):
        batch = order[start : start + batch_size]
        if len(batch) > 1 or num_samples == 1:
            yield batch


def balanced_batch_shape(batch_size: int, num_classes: int, per_class: int = 4) -> tuple[int, int]:
    """(P classes, K images per class) of the balanced batches for ``batch_size``: K is at
    least 2 (a positive pair), P at most ``num_classes``; P x K never exceeds a batch size
    of 2 or more."""
    per_class = max(2, min(per_class, batch_size // 2))
    return max(1, min(num_classes, batch_size // per_class)), per_class


def balanced_batches(
    labels: np.ndarray,
    batch_size: int,
    generator: torch.Generator,
    per_class: int = 4,
) -> Iterator[torch.Tensor]:
    """One epoch (as many batches as random sampling would give) of P classes x K samples.

    Classes are drawn without replacement; samples within a class without replacement when the
    class is large enough, else with replacement.
    """
    labels = np.asarray(labels)
    classes = np.unique(labels)
    members = {c: np.flatnonzero(labels == c) for c in classes}
    num_classes, per_class = balanced_batch_shape(batch_size, len(classes), per_class)
    num_batches = math.ceil(len(labels) / batch_size)
    for _ in range(num_batches):
        picked = torch.randperm(len(classes), generator=generator)[:num_classes]
        chosen = []
        for position in picked.tolist():
            pool = members[classes[position]]
            if len(pool) >= per_class:
                rows = torch.randperm(len(pool), generator=generator)[:per_class]
            else:
                rows = torch.randint(len(pool), (per_class,), generator=generator)
            chosen.append(torch.as_tensor(pool)[rows])
        yield torch.cat(chosen)


class BatchStream:
    """An endless stream of random batches (the unlabelled stream of semi-supervised methods)
    whose position can be saved and restored, so that a resumed run draws what an uninterrupted
    one would have drawn.

    Each pass over the samples is one random permutation, cut into batches as
    :func:`random_batches` cuts an epoch (a lone last sample is skipped). The permutation is
    drawn lazily, when the previous one is used up, so the generator is advanced at the same
    moments as by a plain generator function over :func:`random_batches`.
    """

    def __init__(self, num_samples: int, batch_size: int, generator: torch.Generator) -> None:
        if num_samples < 1 or batch_size < 1:
            raise ValueError(
                f"a batch stream needs samples and a positive batch size, got {num_samples} "
                f"samples and batch size {batch_size}"
            )
        self.num_samples = num_samples
        self.batch_size = min(batch_size, num_samples)
        self.generator = generator
        self.order: torch.Tensor | None = None
        self.position = 0

    def __iter__(self) -> BatchStream:
        return self

    def __next__(self) -> torch.Tensor:
        while True:
            if self.order is None or self.position >= self.num_samples:
                self.order = torch.randperm(self.num_samples, generator=self.generator)
                self.position = 0
            batch = self.order[self.position : self.position + self.batch_size]
            self.position += self.batch_size
            if len(batch) > 1 or self.num_samples == 1:
                return batch

    def state_dict(self) -> dict[str, Any]:
        """The current permutation and how far it has been read (the generator is saved by its
        owner, which shares it with other draws)."""
        return {
            "num_samples": self.num_samples,
            "batch_size": self.batch_size,
            "order": None if self.order is None else self.order.clone(),
            "position": self.position,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Continue from a :meth:`state_dict` of a stream over the same samples."""
        if (state["num_samples"], state["batch_size"]) != (self.num_samples, self.batch_size):
            raise ValueError(
                f"the saved stream covers {state['num_samples']} samples in batches of "
                f"{state['batch_size']}, this one {self.num_samples} in batches of "
                f"{self.batch_size}"
            )
        self.order = None if state["order"] is None else state["order"].clone()
        self.position = int(state["position"])


def cycle_batches(num_samples: int, batch_size: int, generator: torch.Generator) -> BatchStream:
    """An endless, resumable stream of random batches (see :class:`BatchStream`)."""
    return BatchStream(num_samples, batch_size, generator)


def shard_sizes(batch_size: int, world_size: int) -> list[int]:
    """How many rows of a batch of ``batch_size`` each of ``world_size`` ranks takes: near-equal
    contiguous blocks, the first ranks one row larger when it does not divide."""
    base, extra = divmod(batch_size, world_size)
    return [base + (r < extra) for r in range(world_size)]


def shard(batch: torch.Tensor, rank: int, world_size: int) -> torch.Tensor:
    """Rank ``rank``'s contiguous block of a global ``batch`` (sizes: :func:`shard_sizes`).

    Every rank draws the same global batch from the same generator and keeps its block; the
    blocks concatenated in rank order are the batch again, so a sampler that puts whole classes
    in a batch keeps them whole in what the loss sees after the rows are gathered.
    """
    sizes = shard_sizes(len(batch), world_size)
    start = sum(sizes[:rank])
    return batch[start : start + sizes[rank]]
