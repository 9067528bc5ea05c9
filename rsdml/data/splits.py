"""Train / validation / test splits and labelled subsets, following the papers' protocol exactly.

The released code of Kang et al. (SNCA-CE, RNSL, HR-S2DML; ``utils/dataGen.py``) builds its split
per class folder: the file paths are sorted, Python's global ``random.seed(42)`` is called **again
for every class**, ``random.shuffle`` permutes the list, and the list is cut with ``int()`` (floor)
at ``int(0.7 * n)`` and ``int(0.8 * n)``: train, validation and test in that order. :func:`make_split`
reproduces this with a private ``random.Random(seed)`` per class, which yields the same permutation
as the global generator and leaves it alone.

Fractions are checked: they must sum to 1 (a smaller sum leaves images in no part, which
:func:`make_split` allows only with ``allow_unused=True`` and then reports on stderr), and every
part with a positive fraction must receive at least one image of every class.
"""

from __future__ import annotations

import dataclasses
import math
import random
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from rsdml.data.scenes import SceneList
from rsdml.errors import UserError

DEFAULT_FRACTIONS = (0.7, 0.1, 0.2)
DEFAULT_SEED = 42
PROTOCOL = "per-class sorted names, random.Random(seed) re-seeded per class, shuffle, floor cuts"
# Fractions typed as decimals do not add up exactly in floating point (0.7 + 0.1 + 0.2 < 1).
SUM_TOLERANCE = 1e-6
PART_NAMES = ("training", "validation", "test")


class SplitError(UserError, ValueError):
    """Fractions that cannot make a sound split; the message says which and how to fix them."""


class ClassPartitionError(UserError, ValueError):
    """Training classes that cannot make an unseen-classes partition (unknown names, too few
    classes on either side)."""


def _cut(fraction: float, count: int) -> int:
    # Cumulative fractions are rounded first so that 0.7 + 0.1 is cut exactly like the code's
    # literal 0.8 (int(0.8 * 700) = 560, while 0.7 + 0.1 in floating point is 0.7999...).
    return int(round(fraction, 10) * count)


def split_counts(
    count: int, fractions: Sequence[float] = DEFAULT_FRACTIONS
) -> tuple[int, int, int]:
    """(train, val, test) sizes of one class of ``count`` images under the floor-cut protocol.

    ``int(0.7 * 100) = 70`` and ``int(0.8 * 100) = 80`` give 70/10/20 for UC Merced; for
    NWPU-RESISC45, ``int(0.7 * 700) = 489`` (0.7 * 700 is 489.99999999999994 in floating point)
    and ``int(0.8 * 700) = 560`` give the code's quirky 489/71/140.
    """
    f_train, f_val, f_test = fractions
    train_end = _cut(f_train, count)
    val_end = _cut(f_train + f_val, count)
    total = f_train + f_val + f_test
    test_end = count if abs(total - 1.0) < SUM_TOLERANCE else _cut(total, count)
    return train_end, val_end - train_end, test_end - val_end


def check_fractions(
    fractions: Sequence[float], *, allow_unused: bool = False
) -> tuple[float, float, float]:
    """``(train, val, test)`` as floats, or :class:`SplitError` saying what is wrong with them.

    A fraction of 0 for validation or test is allowed (that part is then empty on purpose); the
    training fraction must be positive. Fractions summing to less than 1 are refused unless
    ``allow_unused``.
    """
    try:
        values = tuple(float(f) for f in fractions)
    except (TypeError, ValueError):
        raise SplitError(
            f"fractions must be three numbers (train, val, test), got {fractions!r}"
        ) from None
    if len(values) != 3:
        raise SplitError(
            f"fractions must be (train, val, test), three numbers, got {values} "
            "(e.g. 0.7 0.1 0.2, the papers' split)"
        )
    shown = "(" + ", ".join(f"{f:g}" for f in values) + ")"
    if not all(math.isfinite(f) and f >= 0 for f in values):
        raise SplitError(f"fractions must be non-negative numbers, got {shown}")
    if values[0] == 0:
        raise SplitError(f"the training fraction must be positive, got {shown}")
    total = sum(values)
    if total > 1.0 + SUM_TOLERANCE:
        raise SplitError(
            f"fractions {shown} sum to {total:g}, more than 1: the parts would overlap; make "
            f"them sum to 1 (e.g. {_completed(values)})"
        )
    if total < 1.0 - SUM_TOLERANCE and not allow_unused:
        raise SplitError(
            f"fractions {shown} sum to {total:g}, not 1: about {1 - total:.0%} of each class would be "
            f"in no part. Make them sum to 1 (e.g. {_completed(values)}), or pass "
            "allow_unused=True (CLI: --allow-unused) to leave those images out on purpose"
        )
    return values  # type: ignore[return-value]


def _completed(values: tuple[float, ...]) -> str:
    """The fractions with the test share adjusted so that they sum to 1, for error messages."""
    train, val = values[0], values[1]
    if train + val >= 1.0:
        train, val = DEFAULT_FRACTIONS[:2]
    return f"({train:g}, {val:g}, {round(1.0 - train - val, 10):g})"


@dataclass(frozen=True, eq=False)
class Split:
    """Indices into a :class:`~rsdml.data.SceneList` for training, validation and test.

    Within each part the indices are grouped by class (class order) and, inside a class, are in
    the shuffled order of the protocol -- the order the released code enumerates its images in.
    """

    train: np.ndarray
    val: np.ndarray
    test: np.ndarray
    seed: int = DEFAULT_SEED
    fractions: tuple[float, float, float] = DEFAULT_FRACTIONS
    protocol: str = field(default=PROTOCOL)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form, saved next to results so that a run's split can be re-checked."""
        return {
            "train": self.train.tolist(),
            "val": self.val.tolist(),
            "test": self.test.tolist(),
            "seed": self.seed,
            "fractions": list(self.fractions),
            "protocol": self.protocol,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Split:
        """Inverse of :meth:`to_dict`."""
        return cls(
            train=np.asarray(data["train"], dtype=np.int64),
            val=np.asarray(data["val"], dtype=np.int64),
            test=np.asarray(data["test"], dtype=np.int64),
            seed=int(data["seed"]),
            fractions=tuple(float(f) for f in data["fractions"]),  # type: ignore[arg-type]
            protocol=str(data.get("protocol", PROTOCOL)),
        )

    def __eq__(self, other: object) -> bool:
        """Same indices in the same order, same seed and fractions."""
        if not isinstance(other, Split):
            return NotImplemented
        return (
            self.seed == other.seed
            and tuple(self.fractions) == tuple(other.fractions)
            and all(
                np.array_equal(getattr(self, part), getattr(other, part))
                for part in ("train", "val", "test")
            )
        )

    __hash__ = None  # type: ignore[assignment]

    def summary(self, labels: np.ndarray, classes: Sequence[str]) -> dict[str, Any]:
        """Sizes overall and per class: ``{"classes", "train", "val", "test", "per_class"}``."""
        labels = np.asarray(labels)
        per_class = {
            name: {
                part: int(np.sum(labels[getattr(self, part)] == c))
                for part in ("train", "val", "test")
            }
            for c, name in enumerate(classes)
        }
        return {
            "classes": len(classes),
            "train": len(self.train),
            "val": len(self.val),
            "test": len(self.test),
            "per_class": per_class,
        }


def split_indices(
    names: Sequence[str],
    labels: np.ndarray,
    fractions: Sequence[float] = DEFAULT_FRACTIONS,
    seed: int = DEFAULT_SEED,
    *,
    allow_unused: bool = False,
    classes: Sequence[str] | None = None,
) -> Split:
    """The protocol on bare file names and labels (see :func:`make_split`); ``classes`` (names
    indexed by label) only makes the error messages name the classes."""
    values = check_fractions(fractions, allow_unused=allow_unused)
    labels = np.asarray(labels, dtype=np.int64)
    if len(names) != len(labels):
        raise ValueError(f"{len(names)} names but {len(labels)} labels")
    parts: dict[str, list[int]] = {"train": [], "val": [], "test": []}
    starved: list[tuple[int, int, str]] = []
    for label in np.unique(labels):
        members = sorted(np.flatnonzero(labels == label).tolist(), key=lambda i: names[i])
        random.Random(seed).shuffle(members)  # re-seeded per class, as in the released code
        n_train, n_val, n_test = split_counts(len(members), values)
        for fraction, size, part in zip(values, (n_train, n_val, n_test), PART_NAMES, strict=True):
            if fraction > 0 and size == 0:
                starved.append((int(label), len(members), part))
        parts["train"] += members[:n_train]
        parts["val"] += members[n_train : n_train + n_val]
        parts["test"] += members[n_train + n_val : n_train + n_val + n_test]
    if starved:
        # A class missing from a part is silently missing from its metrics (or from training).
        shown = [
            f"{classes[label] if classes is not None else label!r} ({count} images): no "
            f"{part} image"
            for label, count, part in starved[:5]
        ]
        more = f" and {len(starved) - 5} more" if len(starved) > 5 else ""
        raise SplitError(
            f"fractions {tuple(values)} leave classes without images in a part: "
            f"{'; '.join(shown)}{more}. Raise that part's fraction, set it to 0 to have no such "
            "part at all (validation or test only), or add images to those classes"
        )
    unused = len(labels) - sum(len(part) for part in parts.values())
    if unused:
        print(
            f"rsdml: fractions {tuple(values)} sum to {sum(values):g}: {unused} of {len(labels)} "
            "images are in no part (train, val or test) and are left out",
            file=sys.stderr,
        )
    return Split(
        train=np.asarray(parts["train"], dtype=np.int64),
        val=np.asarray(parts["val"], dtype=np.int64),
        test=np.asarray(parts["test"], dtype=np.int64),
        seed=int(seed),
        fractions=values,
    )


def make_split(
    scenes: SceneList,
    fractions: Sequence[float] = DEFAULT_FRACTIONS,
    seed: int = DEFAULT_SEED,
    *,
    allow_unused: bool = False,
) -> Split:
    """Split a scene list per class with the papers' protocol.

    For every class: its file names are sorted, shuffled with ``random.Random(seed)`` created
    afresh for that class (the released code calls ``random.seed(42)`` inside its class loop, so
    two classes of equal size get the same permutation), then cut with floors at
    ``int(f_train * n)`` and ``int((f_train + f_val) * n)``; the test part is the rest when the
    fractions sum to 1 (else it ends at ``int((f_train + f_val + f_test) * n)``). UC Merced gives
    70/10/20 per class; NWPU-RESISC45 gives the code's 489/71/140 (see :func:`split_counts`).

    The HR-S2DML protocol (labelled = first 20 %, the rest unlabelled and test) is
    ``make_split(scenes, (0.2, 0.0, 0.8))``.

    Args:
        scenes: the dataset's files and labels.
        fractions: (train, val, test); they must sum to 1 unless ``allow_unused``. A fraction of
            0 for val or test makes that part empty; the training fraction must be positive.
        seed: the shuffle seed, re-used for every class.
        allow_unused: accept fractions summing to less than 1; the images left out of every part
            are counted in one line on stderr.

    Raises:
        SplitError: (a ``ValueError``) fractions not three non-negative numbers, a training
            fraction of 0, a sum above 1 (or below 1 without ``allow_unused``), or a positive
            fraction that gives some class no image in its part; the message names the fix.
    """
    names = [path.name for path in scenes.files]
    return split_indices(
        names, scenes.labels, fractions, seed, allow_unused=allow_unused, classes=scenes.classes
    )


def labelled_subset(
    train: np.ndarray,
    labels: np.ndarray,
    fraction: float,
    seed: int = DEFAULT_SEED,
) -> tuple[np.ndarray, np.ndarray]:
    """Split training indices into a labelled and an unlabelled part, per class.

    For every class, the class's entries of ``train`` are sorted, shuffled with a fresh
    ``random.Random(seed)``, and the first ``max(1, int(fraction * n))`` are labelled. Because the
    permutation depends only on the seed and the class size, smaller fractions give nested subsets.

    Args:
        train: indices (e.g. ``split.train``, or positions ``0..N-1``).
        labels: labels indexed by the entries of ``train`` (``scenes.labels`` for scene indices,
            or the train labels themselves when ``train`` holds positions).
        fraction: labelled fraction in (0, 1].
        seed: shuffle seed.

    Returns:
        ``(labelled, unlabelled)`` int64 arrays of entries of ``train``, grouped by class.
    """
    if not 0.0 < fraction <= 1.0:
        raise ValueError(f"fraction must be in (0, 1], got {fraction}")
    train = np.asarray(train, dtype=np.int64)
    labels = np.asarray(labels)
    if len(train) and (train.min() < 0 or train.max() >= len(labels)):
        raise ValueError("labels must be indexable by every entry of train")
    train_labels = labels[train]
    labelled: list[int] = []
    unlabelled: list[int] = []
    for label in np.unique(train_labels):
        members = sorted(train[train_labels == label].tolist())
        random.Random(seed).shuffle(members)
        count = max(1, int(round(fraction, 10) * len(members)))
        labelled += members[:count]
        unlabelled += members[count:]
    return np.asarray(labelled, dtype=np.int64), np.asarray(unlabelled, dtype=np.int64)


#: Fewest classes on each side of an unseen-classes partition: a metric needs two classes to
#: tell apart, in training (positives and negatives) as in evaluation.
MIN_PARTITION_CLASSES = 2


@dataclass(frozen=True)
class ClassPartition:
    """The classes a run trains on and the classes held out for evaluation (unseen classes).

    ``seed`` is the seed that drew the partition, or None when the training classes were named.
    Both tuples keep the archive's class order.
    """

    train: tuple[str, ...]
    held_out: tuple[str, ...]
    seed: int | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form, saved in the run folder (``split.json``, ``metrics.json``)."""
        return {"train": list(self.train), "held_out": list(self.held_out), "seed": self.seed}


def partition_classes(
    classes: Sequence[str], seed: int = 0, train_classes: Sequence[str] | None = None
) -> ClassPartition:
    """Split a class list into training and held-out classes.

    By default the first half (floor) of the classes in a ``random.Random(seed)`` shuffle of
    ``classes`` trains and the rest is held out (UC Merced: 10 training, 11 held-out classes);
    ``train_classes`` names the training classes instead (``seed`` is then not used).

    Raises:
        ClassPartitionError: an unknown or repeated class name, or fewer than
            :data:`MIN_PARTITION_CLASSES` classes on either side.
    """
    classes = tuple(classes)
    if train_classes is None:
        shuffled = list(classes)
        random.Random(seed).shuffle(shuffled)
        chosen = set(shuffled[: len(classes) // 2])
        used_seed: int | None = int(seed)
    else:
        unknown = [name for name in train_classes if name not in classes]
        if unknown:
            raise ClassPartitionError(
                f"unknown training class(es) {unknown}; the classes are: {', '.join(classes)}"
            )
        repeated = sorted({name for name in train_classes if list(train_classes).count(name) > 1})
        if repeated:
            raise ClassPartitionError(f"training class(es) named twice: {repeated}")
        chosen = set(train_classes)
        used_seed = None
    partition = ClassPartition(
        train=tuple(name for name in classes if name in chosen),
        held_out=tuple(name for name in classes if name not in chosen),
        seed=used_seed,
    )
    for side, names in (("training", partition.train), ("held-out", partition.held_out)):
        if len(names) < MIN_PARTITION_CLASSES:
            raise ClassPartitionError(
                f"the unseen-classes protocol needs at least {MIN_PARTITION_CLASSES} {side} "
                f"classes, got {len(names)} of {len(classes)}; name between "
                f"{MIN_PARTITION_CLASSES} and {len(classes) - MIN_PARTITION_CLASSES} training "
                "classes"
            )
    return partition


def unseen_class_split(
    scenes: SceneList, split: Split, partition: ClassPartition
) -> tuple[SceneList, Split]:
    """The scene list and split of an unseen-classes run.

    Returns:
        ``(scenes, split)``: the same files with the classes reordered, training classes first
        (so that the model's class codes 0..T-1 are the training classes) and the labels
        recoded to match; the split's train and val parts restricted to the training classes
        (the same images as in ``split``), and its test part holding every image of the
        held-out classes, whatever part ``split`` gave them.
    """
    order = (*partition.train, *partition.held_out)
    recode = np.array([order.index(name) for name in scenes.classes], dtype=np.int64)
    labels = recode[scenes.labels]
    recoded = dataclasses.replace(scenes, labels=labels, classes=order)
    trained = labels < len(partition.train)
    restricted = dataclasses.replace(
        split,
        train=split.train[trained[split.train]],
        val=split.val[trained[split.val]],
        test=np.flatnonzero(~trained).astype(np.int64),
        protocol=f"{split.protocol}; unseen classes: test = every held-out-class image",
    )
    return recoded, restricted
