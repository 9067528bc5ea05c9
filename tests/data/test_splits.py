"""The papers' split protocol, re-derived independently, and labelled subsets."""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import pytest

from rsdml.data import SceneList, Split, SplitError, labelled_subset, make_split, split_counts
from rsdml.errors import UserError


def scene_list(counts: dict[str, int], seed: int = 0) -> SceneList:
    """A scene list of fake paths (no files needed), names in a scrambled creation order."""
    rng = np.random.default_rng(seed)
    files, labels = [], []
    for label, (name, count) in enumerate(sorted(counts.items())):
        names = [f"{name}_{i}.jpg" for i in rng.permutation(count)]
        files += sorted((Path("/data") / name / n for n in names), key=lambda p: p.name)
        labels += [label] * count
    return SceneList("fake", Path("/data"), tuple(files), np.asarray(labels), tuple(sorted(counts)))


def reference_split(scenes: SceneList) -> dict[str, list[str]]:
    """The released code's loop, transcribed: global random.seed(42) per class, literal cuts."""
    parts: dict[str, list[str]] = {"train": [], "val": [], "test": []}
    for label in range(len(scenes.classes)):
        paths = sorted(
            str(p) for p, y in zip(scenes.files, scenes.labels, strict=True) if y == label
        )
        random.seed(42)
        random.shuffle(paths)
        parts["train"] += paths[: int(0.7 * len(paths))]
        parts["val"] += paths[int(0.7 * len(paths)) : int(0.8 * len(paths))]
        parts["test"] += paths[int(0.8 * len(paths)) :]
    return parts


@pytest.mark.parametrize(
    ("count", "expected"),
    [
        (100, (70, 10, 20)),
        (700, (489, 71, 140)),
        (330, (230, 34, 66)),
        (800, (560, 80, 160)),
        (7, (4, 1, 2)),
    ],
)
def test_floor_cuts(count, expected):
    # Hand-computed: int(0.7*700) = 489 because 0.7*700 = 489.99999999999994; int(0.8*700) = 560.
    assert split_counts(count) == expected


def test_matches_the_released_code_exactly():
    scenes = scene_list({"a": 100, "b": 700, "c": 330, "d": 37})
    state = random.getstate()
    split = make_split(scenes)
    assert random.getstate() == state  # the global generator is left alone
    reference = reference_split(scenes)
    for part in ("train", "val", "test"):
        assert [str(scenes.files[i]) for i in getattr(split, part)] == reference[part]


def test_parts_are_disjoint_cover_everything_and_are_deterministic():
    scenes = scene_list({"a": 50, "b": 60, "c": 45})
    split = make_split(scenes, seed=7)
    everything = np.concatenate([split.train, split.val, split.test])
    assert sorted(everything.tolist()) == list(range(len(scenes)))
    assert make_split(scenes, seed=7) == split
    assert make_split(scenes, seed=8) != split
    assert split.train.dtype == np.int64


def test_fractions_below_one_are_refused_unless_allowed(capsys):
    scenes = scene_list({"a": 100, "b": 100})
    with pytest.raises(SplitError, match="allow_unused=True") as error:
        make_split(scenes, fractions=(0.5, 0.2, 0.2), seed=42)
    assert "sum to 0.9" in str(error.value) and "(0.5, 0.2, 0.3)" in str(error.value)
    assert isinstance(error.value, UserError) and isinstance(error.value, ValueError)
    split = make_split(scenes, (0.5, 0.1, 0.1), allow_unused=True)
    assert (len(split.train), len(split.val), len(split.test)) == (100, 20, 20)
    err = capsys.readouterr().err
    assert "60 of 200 images are in no part" in err and len(err.strip().splitlines()) == 1


def test_fractions_summing_to_one_say_nothing(capsys):
    scenes = scene_list({"a": 100, "b": 100})
    make_split(scenes, allow_unused=True)
    hr = make_split(scenes, (0.2, 0.0, 0.8))  # the HR-S2DML protocol: no validation part
    assert (len(hr.train), len(hr.val), len(hr.test)) == (40, 0, 160)
    assert capsys.readouterr().err == ""


@pytest.mark.parametrize(
    ("fractions", "message"),
    [
        ((0.7, 0.2, 0.2), "more than 1"),
        ((0.9, -0.1, 0.2), "non-negative"),
        ((0.7, float("nan"), 0.3), "non-negative"),
        ((0.0, 0.2, 0.8), "training fraction must be positive"),
        ((0.7, 0.3), r"\(train, val, test\)"),
        (("a", "b", "c"), "three numbers"),
    ],
)
def test_bad_fractions_are_user_errors(fractions, message):
    scenes = scene_list({"a": 100, "b": 100})
    with pytest.raises(SplitError, match=message):
        make_split(scenes, fractions, allow_unused=True)


def test_a_part_that_gets_no_image_of_a_class_is_refused():
    # int(0.7 * 3) = 2 and int(0.8 * 3) = 2: class "small" would have no validation image.
    scenes = scene_list({"big": 100, "small": 3})
    with pytest.raises(SplitError, match=r"'small' \(3 images\): no validation image"):
        make_split(scenes)
    with pytest.raises(SplitError, match="no training image"):
        make_split(scenes, (0.2, 0.0, 0.8))  # int(0.2 * 3) = 0
    with pytest.raises(SplitError, match="no test image"):
        make_split(scenes, (0.5, 0.0, 0.1), allow_unused=True)  # int(0.5 * 3) = int(0.6 * 3)
    split = make_split(scenes, (0.7, 0.0, 0.3))  # no validation part at all: fine
    assert len(split.val) == 0 and len(split.test) == 30 + 1


def test_round_trip_through_json():
    scenes = scene_list({"a": 30, "b": 20})
    split = make_split(scenes, seed=3)
    restored = Split.from_dict(json.loads(json.dumps(split.to_dict())))
    assert restored == split
    assert restored.fractions == (0.7, 0.1, 0.2) and restored.seed == 3
    assert "re-seeded per class" in restored.protocol


def test_summary_counts_per_class():
    scenes = scene_list({"x": 100, "y": 10})
    summary = make_split(scenes).summary(scenes.labels, scenes.classes)
    assert summary == {
        "classes": 2,
        "train": 77,
        "val": 11,
        "test": 22,
        "per_class": {
            "x": {"train": 70, "val": 10, "test": 20},
            "y": {"train": 7, "val": 1, "test": 2},
        },
    }


def test_labelled_subset_per_class_nested_and_deterministic():
    scenes = scene_list({"a": 100, "b": 40, "c": 4})
    train = make_split(scenes).train
    labelled, unlabelled = labelled_subset(train, scenes.labels, 0.2, seed=1)
    counts = {c: int(np.sum(scenes.labels[labelled] == c)) for c in range(3)}
    assert counts == {0: 14, 1: 5, 2: 1}  # int(0.2*70), int(0.2*28), at least one of 2
    assert sorted(np.concatenate([labelled, unlabelled]).tolist()) == sorted(train.tolist())
    assert not set(labelled) & set(unlabelled)
    again, _ = labelled_subset(train, scenes.labels, 0.2, seed=1)
    assert np.array_equal(again, labelled)
    smaller, _ = labelled_subset(train, scenes.labels, 0.1, seed=1)
    assert set(smaller) <= set(labelled)
    other, _ = labelled_subset(train, scenes.labels, 0.2, seed=2)
    assert not np.array_equal(other, labelled)


def test_labelled_subset_on_positions_with_aligned_labels():
    # The training engine passes positions 0..N-1 with the train labels themselves.
    labels = np.repeat([0, 1], [10, 20])
    labelled, unlabelled = labelled_subset(np.arange(30), labels, 0.5)
    assert np.bincount(labels[labelled]).tolist() == [5, 10]
    assert len(unlabelled) == 15
    all_of_it, none = labelled_subset(np.arange(30), labels, 1.0)
    assert len(all_of_it) == 30 and len(none) == 0
    with pytest.raises(ValueError, match=r"\(0, 1\]"):
        labelled_subset(np.arange(30), labels, 0.0)
    with pytest.raises(ValueError, match="indexable"):
        labelled_subset(np.arange(31), labels, 0.5)


# ---- unseen-classes partition ----

CLASSES = tuple(f"class{c:02d}" for c in range(21))


def test_the_default_partition_is_the_first_half_of_a_seeded_shuffle():
    from rsdml.data import partition_classes

    partition = partition_classes(CLASSES, seed=3)
    shuffled = list(CLASSES)
    random.Random(3).shuffle(shuffled)
    assert set(partition.train) == set(shuffled[:10])  # floor(21 / 2)
    assert partition.train + partition.held_out != CLASSES  # not simply the first classes
    assert sorted(partition.train + partition.held_out) == list(CLASSES)
    assert list(partition.train) == sorted(partition.train)  # the archive's order
    assert partition_classes(CLASSES, seed=3) == partition  # deterministic
    assert partition_classes(CLASSES, seed=4).train != partition.train
    assert partition.to_dict()["seed"] == 3


def test_named_training_classes_are_checked():
    from rsdml.data import ClassPartitionError, partition_classes

    named = partition_classes(CLASSES, seed=9, train_classes=["class05", "class01"])
    assert named.train == ("class01", "class05") and len(named.held_out) == 19
    assert named.seed is None
    with pytest.raises(ClassPartitionError, match="unknown training class.*'beach'"):
        partition_classes(CLASSES, train_classes=["class01", "beach"])
    with pytest.raises(ClassPartitionError, match="at least 2 held-out"):
        partition_classes(CLASSES, train_classes=CLASSES[1:])
    with pytest.raises(ClassPartitionError, match="at least 2 training"):
        partition_classes(CLASSES[:3], seed=0)  # floor(3 / 2) = 1
    with pytest.raises(ClassPartitionError, match="named twice"):
        partition_classes(CLASSES, train_classes=["class01", "class01", "class02"])
    assert issubclass(ClassPartitionError, UserError)


def test_unseen_class_split_keeps_training_images_and_tests_every_held_out_image():
    from rsdml.data import partition_classes, unseen_class_split

    scenes = scene_list({"a": 20, "b": 30, "c": 20, "d": 10, "e": 20})
    split = make_split(scenes)
    partition = partition_classes(scenes.classes, train_classes=["d", "b"])
    recoded, restricted = unseen_class_split(scenes, split, partition)
    assert recoded.classes == ("b", "d", "a", "c", "e") and recoded.files == scenes.files
    names = np.array(recoded.classes)[recoded.labels]
    assert np.array_equal(names, np.array(scenes.classes)[scenes.labels])  # same class per file
    trained = np.isin(np.array(scenes.classes)[scenes.labels], ["b", "d"])
    assert np.array_equal(restricted.train, split.train[trained[split.train]])
    assert np.array_equal(restricted.val, split.val[trained[split.val]])
    assert np.array_equal(restricted.test, np.flatnonzero(~trained))
    assert set(recoded.labels[restricted.train]) == {0, 1}
    assert set(recoded.labels[restricted.test]) == {2, 3, 4}
