"""Batch sampling: random epochs cover every sample once; balanced batches hold P classes x K."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from rsdml.train.samplers import (
    BatchStream,
    balanced_batch_shape,
    balanced_batches,
    cycle_batches,
    random_batches,
)


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


def _old_cycle(num_samples, batch_size, generator):
    """The unlabelled stream as a plain generator (what BatchStream must reproduce)."""
    while True:
        yield from random_batches(num_samples, min(batch_size, num_samples), generator)


def test_the_stream_draws_what_a_plain_generator_draws():
    stream = cycle_batches(11, 4, torch.Generator().manual_seed(5))
    plain = _old_cycle(11, 4, torch.Generator().manual_seed(5))
    for _ in range(20):
        assert torch.equal(next(stream), next(plain))


def test_a_restored_stream_continues_where_the_saved_one_was():
    generator = torch.Generator().manual_seed(4)
    stream = BatchStream(11, 4, generator)
    for _ in range(4):  # partway through the second pass
        next(stream)
    saved, saved_rng = stream.state_dict(), generator.get_state()
    expected = [next(stream) for _ in range(6)]

    fresh_generator = torch.Generator().manual_seed(99)
    restored = BatchStream(11, 4, fresh_generator)
    restored.load_state_dict(saved)
    fresh_generator.set_state(saved_rng)
    assert all(torch.equal(next(restored), batch) for batch in expected)


def test_a_stream_refuses_the_state_of_another_pool():
    saved = BatchStream(11, 4, torch.Generator()).state_dict()
    with pytest.raises(ValueError, match="11 samples"):
        BatchStream(12, 4, torch.Generator()).load_state_dict(saved)


def test_balanced_batches_hold_two_classes_from_a_batch_of_four():
    assert balanced_batch_shape(4, 10) == (2, 2)
    assert balanced_batch_shape(3, 10) == (1, 2)
    assert balanced_batch_shape(32, 3) == (3, 4)
    labels = np.repeat(np.arange(5), 6)
    for batch in balanced_batches(labels, 4, torch.Generator().manual_seed(0)):
        assert sorted(np.bincount(labels[batch.numpy()]).tolist())[-2:] == [2, 2]
