"""Keeping one run's data loaded for the next run in the same process.

A study worker runs a hundred-odd frozen-mode cells in one warm kernel, and consecutive cells
mostly differ only in method and seed. Loading their data (the decoded images, the cached
features of every view, checksums included) took two to three seconds of each cell's eight.
:class:`LoadedData` keeps the last :func:`~rsdml.train.prepare.build_inputs` result and hands
it to the next run whose configuration would build exactly the same data, as long as no image
file (or the weight file) changed on disk since; anything else builds afresh. Only callers that
ask for it (``fit(..., reuse_data=True)``, as the train notebook does) share data this way:
what they get must be read, never modified.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from rsdml.storage import cache_dir, content_key
from rsdml.train.config import TrainConfig
from rsdml.train.inputs import FeatureInputs, ImageInputs
from rsdml.train.prepare import RunData, build_inputs

#: TrainConfig fields that shape only training and evaluation, never the data a run reads: runs
#: that differ only in these share their data. A field not listed (a new one) keeps runs apart,
#: which is always safe. ``seed`` is handled apart (see :func:`data_key`).
TRAINING_ONLY_FIELDS = (
    "method",
    "loss_params",
    "epochs",
    "patience",
    "batch_size",
    "lr",
    "momentum",
    "weight_decay",
    "lr_step_fraction",
    "lr_gamma",
    "max_grad_norm",
    "dim",
    "layernorm",
    "database_labels",
    "ema_momentum",
    "bn_splits",
    "num_workers",
    "progress",
    "eval_dataset",
    "eval_root",
)


def data_key(config: TrainConfig) -> str:
    """What decides the data of a resolved config, as a key (the cache folder included).

    The training seed only seeds the backbone that a feature-cache miss builds, and its random
    initialisation is then replaced by the pretrained weights (``build_inputs``); without
    pretrained weights it decides the features, so it stays in the key.
    """
    values = config.to_dict()
    for name in TRAINING_ONLY_FIELDS:
        values.pop(name, None)
    if config.pretrained:
        values.pop("seed")
    return content_key(values, str(cache_dir()))


def files_state(data: RunData, config: TrainConfig) -> tuple[Any, ...]:
    """Size and modification time of every image file, of the folders that hold them (a file
    added or removed changes its folder's time) and of the weight file, if any."""
    files = [os.fspath(path) for path in data.scenes.files] + list(data.skipped)
    folders = sorted({os.path.dirname(path) for path in files})
    folders += sorted({os.path.dirname(folder) for folder in folders})
    extra = [os.fspath(Path(config.weights).expanduser())] if config.weights else []
    return tuple(_stat(path) for path in [*files, *folders, *extra])


def _stat(path: str) -> tuple[int, int] | None:
    try:
        status = os.stat(path)
    except OSError:
        return None
    return status.st_size, status.st_mtime_ns


class LoadedData:
    """The data and inputs of the last run built through it (one entry: a few hundred MB)."""

    def __init__(self) -> None:
        self._key: str | None = None
        self._files: tuple[Any, ...] | None = None
        self._built: tuple[RunData, FeatureInputs | ImageInputs] | None = None

    def build(self, config: TrainConfig) -> tuple[RunData, FeatureInputs | ImageInputs]:
        """``build_inputs(config)`` (a resolved config), or the last result when it would be
        the same."""
        key = data_key(config)
        if (
            self._built is not None
            and key == self._key
            and files_state(self._built[0], config) == self._files
        ):
            return self._built
        self.clear()  # the old data is not needed while the new one loads
        built = build_inputs(config)
        self._key, self._files, self._built = key, files_state(built[0], config), built
        return built

    def clear(self) -> None:
        """Forget the kept data."""
        self._key = self._files = self._built = None


#: The process's kept data, shared by every run that asks to reuse data.
LOADED = LoadedData()
