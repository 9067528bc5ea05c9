"""Batch sampling: random epochs cover every sample once; balanced batches hold P classes x K."""

from __future__ import annotations

import numpy as np
import torch

from rsdml.train.samplers import balanced_batches, cycle_batches, random_batches


def test_random_batches_cover_each_sample_once():
    generator = torch.Generator().manual_seed(0)
    batches = list(random_batches(103, 16, generator))
    seen = torch.cat(batches).tolist()
    assert sorted(seen) == list(range(103))
    assert all(len(b) <= 16 for b in batches)


def test_random_batches_drop_a_lone_last_sample():
    generator = torch.Generator().manual_seed(0)
    batches = list(random_batches(17, 16, generator))
    assert [len(b) for b in batches] == [16]


def test_balanced_batches_have_k_per_class():
    labels = np.repeat(np.arange(10), 12)
    generator = torch.Generator().manual_seed(1)
    batches = list(balanced_batches(labels, 32, generator, per_class=4))
    assert len(batches) == int(np.ceil(len(labels) / 32))
    for batch in batches:
        counts = np.bincount(labels[batch.numpy()], minlength=10)
        assert sorted(set(counts.tolist()) - {0}) == [4]
        assert (counts > 0).sum() == 8
        assert len(set(batch.tolist())) == len(batch)  # classes of 12 are drawn without replacement


def test_balanced_batches_with_a_tiny_class_draw_with_replacement():
    labels = np.array([0] * 10 + [1])
    generator = torch.Generator().manual_seed(2)
    batch = next(balanced_batches(labels, 8, generator, per_class=4))
    assert np.bincount(labels[batch.numpy()]).tolist() == [4, 4]


def test_cycle_batches_never_end():
    generator = torch.Generator().manual_seed(3)
    stream = cycle_batches(5, 4, generator)
    drawn = [next(stream) for _ in range(10)]
    assert all(1 < len(b) <= 4 for b in drawn)
