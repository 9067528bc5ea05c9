"""Frozen pretrained features used directly as the embedding: the reference every method must beat.

The pooled backbone features of the standard split are L2-normalised and evaluated with the
same protocol as trained embeddings (test queries against the train database).
"""

from __future__ import annotations

import os
from typing import Any

import torch

from rsdml.data import make_split
from rsdml.evaluate import evaluate_embeddings
from rsdml.models import defer_backbone
from rsdml.runtime import fixed_threads
from rsdml.train.inputs import plain_features
from rsdml.train.prepare import load_scene_images


def evaluate_backbone(
    dataset: str,
    backbone: str,
    *,
    root: str | os.PathLike | None = None,
    image_size: int = 224,
    fractions: tuple[float, float, float] = (0.7, 0.1, 0.2),
    split_seed: int = 42,
    weights: str | None = None,
    pretrained: bool = True,
    device: str = "auto",
    progress: bool | None = None,
    dataset_options: dict[str, Any] | None = None,
    download: bool = False,
    engine: str = "auto",
) -> dict[str, float]:
    """Metrics of L2-normalised pretrained features on the standard split.

    Features are cached on disk under the decoded-image cache key, so a second call with the same
    arguments only re-evaluates, and replaced images are embedded again. ``dataset_options`` may
    hold ``on_error="skip"`` to leave unreadable images out (before the split). With
    ``pretrained=False`` (and no ``weights``) the backbone is randomly initialised: a floor, not
    a reference. ``engine`` computes missing features (:func:`rsdml.models.engines.choose_engine`);
    the network is built only if some are missing.
    """
    loaded = load_scene_images(
        dataset,
        root,
        image_size,
        dataset_options=dataset_options,
        download=download,
        progress=progress,
    )
    scenes = loaded.scenes
    split = make_split(scenes, fractions=fractions, seed=split_seed)
    model = defer_backbone(backbone, pretrained=pretrained, weights=weights)
    # The training engine's own path to the plain features, so both share one cache entry; with
    # the runs' thread count, so the entry does not depend on which command computed it first.
    with fixed_threads():
        features = plain_features(
            model,
            loaded.images,
            files_key=loaded.images_key,
            image_size=image_size,
            device=device,
            progress=progress,
            engine=engine,
        )
        features = torch.nn.functional.normalize(features.float(), dim=1)
        return evaluate_embeddings(
            features[split.test],
            scenes.labels[split.test],
            features[split.train],
            scenes.labels[split.train],
            device=device,
        )
