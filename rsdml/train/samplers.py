"""Which training samples go into each batch.

Proxy and memory losses see random batches; pair-based losses (contrastive, triplet, SRL)
need several images of the same class in a batch to form positives, so they get
class-balanced batches of P classes x K images, as is standard for batch-hard mining.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

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
    per_class = max(2, min(per_class, batch_size // 2))
    num_classes = max(1, min(len(classes), batch_size // per_class))
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


def cycle_batches(
    num_samples: int, batch_size: int, generator: torch.Generator
) -> Iterator[torch.Tensor]:
    """An endless stream of random batches (the unlabelled stream of semi-supervised methods)."""
    while True:
        yield from random_batches(num_samples, min(batch_size, num_samples), generator)
