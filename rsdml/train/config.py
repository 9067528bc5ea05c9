"""The whole configuration of one training run, as plain literals.

A run is fully described by a :class:`TrainConfig`: the same object is built from the command
line, from a notebook's parameters cell, or from a study grid cell, and it is written into
``metrics.json`` so that every number can be traced back to the settings that produced it.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
import types
import typing
from dataclasses import dataclass, field
from typing import Any

from rsdml.errors import UserError, did_you_mean
from rsdml.models.engines import ENGINE_CHOICES
from rsdml.models.features import VIEWS
from rsdml.storage import content_key

MODES = ("frozen", "finetune")
NOISE_KINDS = ("uniform", "pairflip", "dependent")
UNLABELLED_POOLS = ("train", "test")
DATABASE_LABELS = ("clean", "noisy")
# What a run is evaluated on (docs/methods.md#protocols): "standard", the papers' protocol (every
# class in training and test); "unseen-classes", the deep-metric-learning benchmarks' protocol
# (train and select on part of the classes, test leave-one-out on the held-out rest).
PROTOCOLS = ("standard", "unseen-classes")

# Defaults that differ between the two modes: frozen-backbone training works on cached features
# (seconds per epoch on a CPU), fine-tuning follows the papers' protocol (130 epochs of SGD).
# The frozen defaults were chosen on UC Merced's *validation* split (mean val kNN@10 of nsl,
# arcface, rnsl and snca_ce_mb: 0.942 at 60 epochs, 0.944 at 100; batch 64 or weight decay 5e-4
# gave no gain; lr 0.2 made snca_ce_mb diverge).
#
# Patience (epochs without a better validation score before a run stops; 0: every epoch runs):
# a head on frozen features peaks early, most of all under label noise, and the epochs after
# the peak only cost time. Measured on 40 cells of the ucmerced grid (every method and setting
# kind, seed 0, 100 epochs, `python benchmarks/patience.py`): patience 30 runs 48 % of the
# epochs and selects the same epoch in 38 of the 40 cells; in the other two the selected
# validation kNN@10 is 1-2 validation images lower (0.04 points on average over the 40).
# Patience 20 ran 35 % and changed 7 cells. Fine-tuning keeps the papers' whole schedule.
#
# In frozen mode "epochs" and "patience" are the most a run takes when left to rsdml: its
# length is counted in steps (batches), see frozen_length().
FROZEN_DEFAULTS = {"epochs": 100, "batch_size": 128, "lr": 0.1, "patience": 30}
FINETUNE_DEFAULTS = {"epochs": 130, "batch_size": 128, "lr": 0.01, "patience": 0}

# A frozen run's length in optimiser steps, the unit that carries across archives: an epoch of
# EuroSAT is 148 steps, one of UC Merced 12. 1,200 steps and a patience of 360 are UC Merced's
# 100 epochs and 30 (above), so its runs are unchanged; EuroSAT gets 9 epochs, patience 3.
# Checked on EuroSAT's validation split (`python benchmarks/steps.py`, README "Training length"):
# there 600 steps select as well as 1,200, so the eurosat study sets `steps` to 4 epochs' worth.
FROZEN_STEPS = 1200
FROZEN_PATIENCE_STEPS = 360


def frozen_length(
    epochs: int | None,
    patience: int | None,
    train_images: int,
    batch_size: int,
    steps: int | None = None,
) -> tuple[int, int]:
    """(epochs, patience) of a frozen run: the given ones, else ``steps`` (None:
    :data:`FROZEN_STEPS`) and :data:`FROZEN_PATIENCE_STEPS` in whole epochs of
    ``train_images / batch_size`` steps, at most the epochs and patience of
    :data:`FROZEN_DEFAULTS` (a few labelled images make epochs so short that the step count
    would ask for thousands of them)."""
    steps_per_epoch = max(1, math.ceil(train_images / batch_size))
    if epochs is None:
        budget = FROZEN_STEPS if steps is None else steps
        epochs = min(FROZEN_DEFAULTS["epochs"], math.ceil(budget / steps_per_epoch))
    if patience is None:
        patience = min(
            FROZEN_DEFAULTS["patience"], math.ceil(FROZEN_PATIENCE_STEPS / steps_per_epoch)
        )
    return epochs, patience


# Loss parameters whose frozen-mode default differs from the paper's (which the loss classes keep
# as their own defaults, used in fine-tune mode). t-RNSL: a head on frozen features memorises the
# noisy labels long before the paper's first pruning at 40/130 of the run, so frozen mode prunes
# from 5 % of the run, every 15 %, and resumes from the validation-selected weights. Chosen on UC
# Merced's validation split over clean, uniform 0.1-0.7 and label-dependent 0.3-0.7 labels,
# 3 seeds (`python benchmarks/trnsl_schedule.py`): mean val kNN@10 0.761 against 0.756 for the
# paper's schedule; pruning every 10/130 tied at 0.761 and lost more on clean labels.
FROZEN_LOSS_DEFAULTS = {"trnsl": {"prune_start": 0.05, "prune_every": 0.15, "resume": "selected"}}


# Frozen-mode views when a run leaves ``views`` to rsdml: every geometric view while the training
# split holds fewer than this many images per class, the plain view alone from there on. Each
# view costs one backbone pass over the training images; what it buys shrinks as the archive
# grows. Mean validation kNN@10 of nsl, arcface, snca_ce_mb and hr_s2dml (20 % labels), frozen
# EfficientNet-Lite0 at 224 px (`python benchmarks/views.py`, README "Speed"):
#   UC Merced, 70 training images per class: plain 0.931, 2 views 0.937, 4 views 0.939, all 7
#   0.946 (3 seeds) -- 1.5 points for 5x the passes;
#   EuroSAT, 1,890 per class: plain 0.944, 2 views 0.945, 4 views 0.947, all 7 0.947 (2 seeds)
#   -- 0.3 points for 5.2x the passes (140,400 instead of 27,000, 10 minutes on 2 cores).
# The threshold lies between the two measured archives, nearer the small one (the gain fell
# from 1.5 to 0.3 points over a 27x larger class); `views` overrides it either way.
VIEWS_ALL_BELOW_PER_CLASS = 500


def frozen_views(views: tuple[str, ...] | None, train_images: int, classes: int) -> tuple[str, ...]:
    """The views a frozen-mode run embeds: ``views`` when given, else every one of
    :data:`~rsdml.models.features.VIEWS` for a training split of fewer than
    :data:`VIEWS_ALL_BELOW_PER_CLASS` images per class, else the plain view alone."""
    if views is not None:
        return tuple(views)
    if train_images < VIEWS_ALL_BELOW_PER_CLASS * max(1, classes):
        return VIEWS
    return ("plain",)


_FROZEN_LENGTH = ("epochs", "patience")


class ConfigError(UserError, ValueError):
    """A training option that is unknown, of the wrong type or out of range."""


@dataclass
class TrainConfig:
    """Everything that determines a training run.

    Fields left as ``None`` take a documented default that depends on the mode or the dataset
    (see :meth:`resolved`).
    """

    method: str = "nsl"
    dataset: str = "synthetic"
    root: str | None = None
    dataset_options: dict[str, Any] = field(default_factory=dict)
    mode: str = "frozen"
    backbone: str = "efficientnet_lite0"
    pretrained: bool = True
    weights: str | None = None
    image_size: int | None = None
    dim: int = 128
    layernorm: bool = True

    # None: the mode's default; frozen mode counts it in steps, see frozen_length()
    epochs: int | None = None
    # Frozen mode, epochs None: the training length in optimiser steps, turned into whole epochs
    # of this run's labelled images (None: FROZEN_STEPS; fine-tuning counts epochs only).
    steps: int | None = None
    batch_size: int | None = None
    lr: float | None = None
    # Stop after this many epochs without a better validation score (0: run every epoch;
    # None: the mode's default, see FROZEN_DEFAULTS and frozen_length()).
    patience: int | None = None
    momentum: float = 0.9
    weight_decay: float = 1e-4
    # The papers halve the learning rate every 30 of 130 epochs; expressed as a fraction of the
    # run so that short runs keep the same shape of schedule.
    lr_step_fraction: float = 30 / 130
    lr_gamma: float = 0.5
    # Gradient-norm clipping (None: off). Losses on the un-normalised vector v (CE, SNCA-CE's CE
    # term) are not scale-invariant: over 1280 layer-normalised features, SGD at lr 0.1 made
    # them diverge (loss 3e2 -> 6e18 in 6 epochs on the synthetic scenes). Clipping bounds each
    # step for every method alike; scale-invariant losses rarely reach the bound.
    max_grad_norm: float | None = 5.0
    loss_params: dict[str, Any] = field(default_factory=dict)

    seed: int = 0
    split_seed: int = 42
    fractions: tuple[float, float, float] = (0.7, 0.1, 0.2)
    label_fraction: float | None = None
    noise: str | None = None
    noise_rate: float = 0.0
    noise_seed: int | None = None

    # Frozen mode: deterministic geometric views of the training images whose features are
    # cached; each step draws one view per sample (cheap augmentation without re-embedding).
    # None: chosen by the size of the archive, see frozen_views().
    views: tuple[str, ...] | None = None
    unlabelled_pool: str = "train"
    database_labels: str = "clean"
    ema_momentum: float = 0.999
    bn_splits: int = 4
    device: str = "auto"
    # What computes missing frozen features (rsdml.models.engines): "auto" takes ONNX Runtime or
    # OpenVINO on a CPU when installed, torch otherwise. Their features agree to 1e-4 and share
    # one cache entry, so the engine is not part of the run's identity (see key()).
    engine: str = "auto"
    num_workers: int = 0
    progress: bool | None = None

    # "unseen-classes": train and select on train_classes (None: half the classes, drawn with
    # class_seed, rsdml.data.partition_classes), evaluate on the others. A seed of its own, not
    # split_seed: three partitions then share the papers' image split.
    protocol: str = "standard"
    train_classes: tuple[str, ...] | None = None
    class_seed: int = 0
    # Also evaluate the selected model on another archive's split (transfer; None: not done),
    # found under eval_root (None: root), rsdml.train.transfer.
    eval_dataset: str | None = None
    eval_root: str | None = None

    def resolved(self) -> TrainConfig:
        """A copy with mode- and dataset-dependent defaults filled in, after validation."""
        self.validate()
        defaults = FROZEN_DEFAULTS if self.mode == "frozen" else FINETUNE_DEFAULTS
        values = dataclasses.asdict(self)
        for name, value in defaults.items():
            # frozen mode's length waits for the data: frozen_length()
            if values[name] is None and not (self.mode == "frozen" and name in _FROZEN_LENGTH):
                values[name] = value
        if values["image_size"] is None:
            values["image_size"] = 64 if self.dataset == "synthetic" else 224
        if values["noise_seed"] is None:
            values["noise_seed"] = self.split_seed
        values["fractions"] = tuple(values["fractions"])
        if values["views"] is None and self.mode != "frozen":
            values["views"] = ("plain",)
        if values["views"] is not None:  # frozen mode's None waits for the data: frozen_views()
            values["views"] = tuple(values["views"])
        if values["train_classes"] is not None:
            values["train_classes"] = tuple(values["train_classes"])
        if self.mode == "frozen":
            values["loss_params"] = {
                **FROZEN_LOSS_DEFAULTS.get(self.method, {}),
                **values["loss_params"],
            }
        return TrainConfig(**values)

    def validate(self) -> None:
        """Raise :class:`ConfigError` naming the bad field and the accepted values."""
        # types first: the range checks below would fail with a bare TypeError on a string
        hints = _field_types()
        for item in dataclasses.fields(self):
            value = getattr(self, item.name)
            if not _matches(value, hints[item.name]):
                raise ConfigError(
                    f"{item.name} must be {_describe(hints[item.name])}, got {value!r}"
                )
        if self.mode not in MODES:
            raise ConfigError(f"mode must be one of {MODES}, got {self.mode!r}")
        if self.noise is not None and self.noise not in NOISE_KINDS:
            raise ConfigError(f"noise must be one of {NOISE_KINDS} or None, got {self.noise!r}")
        if not 0.0 <= self.noise_rate < 1.0:
            raise ConfigError(f"noise_rate must be in [0, 1), got {self.noise_rate}")
        if self.noise is None and self.noise_rate:
            raise ConfigError(
                "noise_rate was given without a noise kind: add --noise uniform|pairflip|dependent"
            )
        if self.noise is not None and not self.noise_rate:
            # a rate of 0 corrupts nothing: the run would train on clean labels under a noisy name
            raise ConfigError(
                f"noise={self.noise!r} was given without a rate (noise_rate is 0), so the labels "
                "would stay clean: give noise_rate (--noise-rate), e.g. 0.4, or drop noise"
            )
        if self.label_fraction is not None and not 0.0 < self.label_fraction <= 1.0:
            raise ConfigError(f"label_fraction must be in (0, 1], got {self.label_fraction}")
        if self.engine not in ENGINE_CHOICES:
            raise ConfigError(
                f"engine must be one of {ENGINE_CHOICES}, got {self.engine!r}"
                f"{did_you_mean(self.engine, ENGINE_CHOICES)}"
            )
        if self.unlabelled_pool not in UNLABELLED_POOLS:
            raise ConfigError(f"unlabelled_pool must be one of {UNLABELLED_POOLS}")
        if self.database_labels not in DATABASE_LABELS:
            raise ConfigError(f"database_labels must be one of {DATABASE_LABELS}")
        if len(self.fractions) != 3 or abs(sum(self.fractions) - 1.0) > 1e-6:
            raise ConfigError(f"fractions must be three numbers summing to 1, got {self.fractions}")
        if self.views is not None:
            if not self.views:
                raise ConfigError("views must name at least one view, e.g. ('plain',), or be None")
            unknown = sorted(set(self.views) - set(VIEWS))
            if unknown:
                raise ConfigError(f"unknown view(s) {unknown}; choose from {', '.join(VIEWS)}")
        for name in ("epochs", "steps", "batch_size", "image_size", "dim"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise ConfigError(f"{name} must be a positive integer, got {value}")
        if self.steps is not None and self.mode != "frozen":
            raise ConfigError(
                f"steps counts a frozen run's length; a {self.mode} run counts epochs: "
                "give epochs instead"
            )
        if self.patience is not None and self.patience < 0:
            raise ConfigError(
                f"patience must be 0 (run every epoch) or a positive number of epochs, "
                f"got {self.patience}"
            )
        # NaN passes every comparison, so finiteness is checked explicitly; an lr of exactly 0 is
        # allowed (a deliberate no-op run) and the engine warns that nothing moved.
        for name, low, low_open in (
            ("lr", 0.0, False),
            ("momentum", 0.0, False),
            ("weight_decay", 0.0, False),
            ("lr_step_fraction", 0.0, True),
            ("lr_gamma", 0.0, True),
            ("max_grad_norm", 0.0, True),
            ("ema_momentum", 0.0, False),
        ):
            value = getattr(self, name)
            if value is None:
                continue
            if not math.isfinite(value) or value < low or (low_open and value == low):
                bound = f"> {low:g}" if low_open else f">= {low:g}"
                raise ConfigError(f"{name} must be a finite number {bound}, got {value}")
        if not 0.0 <= self.ema_momentum <= 1.0:
            raise ConfigError(f"ema_momentum must be in [0, 1], got {self.ema_momentum}")
        self._validate_protocol()
        if self.eval_root is not None and self.eval_dataset is None:
            raise ConfigError("eval_root was given without eval_dataset (--eval-dataset NAME)")

    def _validate_protocol(self) -> None:
        """The checks of ``protocol`` and the options that only it reads."""
        if self.protocol not in PROTOCOLS:
            raise ConfigError(
                f"protocol must be one of {PROTOCOLS}, got {self.protocol!r}"
                f"{did_you_mean(self.protocol, PROTOCOLS)}"
            )
        if self.protocol == "standard":
            if self.train_classes is not None or self.class_seed != 0:
                raise ConfigError(
                    "train_classes and class_seed choose the classes of protocol "
                    "'unseen-classes': add --protocol unseen-classes, or drop them"
                )
            return
        if self.train_classes is not None and len(self.train_classes) < 2:
            raise ConfigError(
                f"train_classes must name at least 2 classes, got {list(self.train_classes)}"
            )
        # what the unseen-classes protocol cannot honour, refused rather than ignored
        if self.noise == "dependent":
            raise ConfigError(
                "noise='dependent' draws from a table over every class of the archive, but "
                "protocol 'unseen-classes' trains on a part of them: use uniform or pairflip noise"
            )
        if self.unlabelled_pool == "test":
            raise ConfigError(
                "unlabelled_pool='test' would train on the held-out classes' images under "
                "protocol 'unseen-classes': keep unlabelled_pool='train'"
            )
        if self.database_labels != "clean":
            raise ConfigError(
                "database_labels='noisy' does not apply to protocol 'unseen-classes': its "
                "held-out images are scored against each other with their clean labels"
            )

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able dictionary of every field."""
        values = dataclasses.asdict(self)
        values["fractions"] = list(values["fractions"])
        for name in ("views", "train_classes"):
            if values[name] is not None:
                values[name] = list(values[name])
        return values

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> TrainConfig:
        """Build from a dictionary, refusing unknown keys with the closest and all known ones."""
        known = field_names()
        unknown = sorted(set(values) - set(known))
        if unknown:
            hints = "".join(f"{name!r}{did_you_mean(name, known)}; " for name in unknown)
            raise ConfigError(f"unknown training option(s): {hints}known options: {sorted(known)}")
        values = dict(values)
        for name in ("fractions", "views", "train_classes"):
            if name in values and values[name] is not None:
                values[name] = tuple(values[name])
        return cls(**values)

    def key(self) -> str:
        """A content hash of the configuration (ignores presentation-only fields).

        Fields of :data:`KEYED_WHEN_SET` enter it only away from their defaults, so that the
        runs recorded before they existed keep their keys (and stay finished).
        """
        values = self.to_dict()
        for name in ("progress", "num_workers", "device", "engine"):
            values.pop(name)
        defaults = TrainConfig().to_dict()
        for name in KEYED_WHEN_SET:
            if values[name] == defaults[name]:
                values.pop(name)
        return content_key(values)


#: Fields added after runs were recorded: in a run's key only when they differ from the default.
KEYED_WHEN_SET = ("protocol", "train_classes", "class_seed", "eval_dataset", "eval_root", "steps")


def field_names() -> list[str]:
    """The names of every :class:`TrainConfig` field, in declaration order."""
    return [item.name for item in dataclasses.fields(TrainConfig)]


def _field_types() -> dict[str, Any]:
    # the annotations are strings (postponed evaluation); resolve them once per call
    return typing.get_type_hints(TrainConfig)


def _matches(value: Any, hint: Any) -> bool:
    """Whether ``value`` fits the annotation ``hint`` (lists stand in for tuples: YAML, JSON)."""
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        return any(_matches(value, arg) for arg in typing.get_args(hint))
    if hint is Any:
        return True
    if hint is type(None):
        return value is None
    if hint is bool:
        return isinstance(value, bool)
    # bool is an int subclass, but True epochs is a mistake; numbers.* admits numpy scalars
    if hint is int:
        return isinstance(value, numbers.Integral) and not isinstance(value, bool)
    if hint is float:
        return isinstance(value, numbers.Real) and not isinstance(value, bool)
    if hint is str:
        return isinstance(value, str)
    if origin is dict:
        return isinstance(value, dict)
    if origin is tuple:
        if not isinstance(value, (tuple, list)):
            return False
        args = typing.get_args(hint)
        if len(args) == 2 and args[1] is Ellipsis:
            return all(_matches(item, args[0]) for item in value)
        return len(value) == len(args) and all(map(_matches, value, args))
    return isinstance(value, origin or hint)


def _describe(hint: Any) -> str:
    """The accepted values of an annotation, in words."""
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_describe(arg) for arg in typing.get_args(hint))
    names = {
        type(None): "None (null)",
        bool: "true or false",
        int: "an integer",
        float: "a number",
        str: "a string",
    }
    if hint in names:
        return names[hint]
    if origin is dict:
        return "a mapping"
    if origin is tuple:
        args = typing.get_args(hint)
        plural = {int: "integers", float: "numbers", str: "strings"}.get(args[0], "values")
        if len(args) == 2 and args[1] is Ellipsis:
            return f"a list of {plural}"
        return f"a list of {len(args)} {plural}"
    return getattr(hint, "__name__", str(hint))
