"""Transfer across archives: the selected embedding of a run, evaluated on another archive.

A run trained (and selected) on one archive is also scored on ``config.eval_dataset``'s split
(found under ``eval_root``, else the run's ``root``)
with the config's fractions and split seed (the papers' 70/10/20 split by default): database =
its train split, queries = its test split, clean labels, every metric of
:func:`rsdml.evaluate.evaluate_embeddings`. The target's images go through the backbone, the
preprocessing and the image size of the run; in frozen mode its features come from the same
feature cache as a run on that archive would read (plain view only). Beside the trained
numbers, the frozen backbone features alone on the same split (as ``rsdml embed-eval`` reports
them) say what training changed.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from rsdml.data import load_scene_list
from rsdml.evaluate import evaluate_embeddings
from rsdml.train.config import TrainConfig
from rsdml.train.evaluation import embed
from rsdml.train.inputs import FeatureInputs, ImageInputs
from rsdml.train.prepare import ArchiveFeatures, archive_features_for, features_identity


def target_root(config: TrainConfig) -> str | None:
    """Where the target archive is looked for: ``eval_root``, else the run's own ``root``."""
    return config.eval_root if config.eval_root is not None else config.root


def check_target(config: TrainConfig) -> None:
    """List the target archive's files before training, so that a missing archive or a
    mistyped name fails at once rather than after the run (a no-op without ``eval_dataset``).

    Raises:
        DatasetNotFoundError, UnknownDatasetError: as :func:`rsdml.data.load_scene_list`.
    """
    if config.eval_dataset is not None:
        load_scene_list(config.eval_dataset, target_root(config))


def transfer_metrics(config: TrainConfig, model: nn.Module, device: torch.device) -> dict[str, Any]:
    """The metrics of ``model`` (the run's selected weights) on ``config.eval_dataset``.

    Runs in a forked torch random state: a feature-cache miss builds the backbone, and the run's
    own random state must not depend on it.

    Returns:
        ``{"dataset", "root", "split": {"classes", "database", "queries"}, "test": {...},
        "frozen": {...}}``: ``test`` holds the trained embedding's metrics, ``frozen`` those of
        the backbone's plain features alone on the same queries and database.
    """
    with torch.random.fork_rng():
        torch.manual_seed(config.seed)
        target = archive_features_for(
            config, config.eval_dataset, target_root(config), device=str(device)
        )
    scenes, split, features = target.loaded.scenes, target.split, target.features
    inputs: FeatureInputs | ImageInputs
    if config.mode == "frozen":
        # what the head reads in a run: the plain features, layer-normalised once when the
        # config asks for it (Trainer.__init__ does the same with the run's own inputs)
        inputs = FeatureInputs({"plain": features}, np.array([], dtype=np.int64))
        if config.layernorm:
            inputs = inputs.layer_normalised()
    else:
        inputs = ImageInputs(target.loaded.images, config.image_size)
    labels = scenes.labels
    database = embed(model, inputs, split.train, device).embedding
    queries = embed(model, inputs, split.test, device).embedding
    return {
        "dataset": scenes.name,
        "root": str(scenes.root),
        "split": {
            "classes": len(scenes.classes),
            "database": len(split.train),
            "queries": len(split.test),
        },
        "test": evaluate_embeddings(
            queries,
            labels[split.test],
            database,
            labels[split.train],
            seed=config.seed,
            device=device,
        ),
        # the frozen features alone, as `rsdml embed-eval` evaluates them
        "frozen": _frozen_metrics(config, target, device),
    }


#: The frozen features' metrics per target archive, kept for the process: every cell of a
#: transfer study in one warm kernel scores the same features on the same split (a EuroSAT
#: target's full evaluation in 1,280 dimensions costs about 15 s a cell on 2 CPU cores).
_FROZEN_METRICS: dict[tuple[Any, ...], dict[str, float]] = {}


def _frozen_metrics(
    config: TrainConfig, target: ArchiveFeatures, device: torch.device
) -> dict[str, float]:
    """``target.frozen_metrics``, computed once per decoded images, backbone and split."""
    key = (target.loaded.images_key, *features_identity(config))
    if key not in _FROZEN_METRICS:
        _FROZEN_METRICS[key] = target.frozen_metrics(device)
    return dict(_FROZEN_METRICS[key])
