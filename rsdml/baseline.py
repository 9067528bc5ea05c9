"""Frozen pretrained features used directly as the embedding: the reference every method must beat.

The pooled backbone features of the standard split are L2-normalised and evaluated with the
same protocol as trained embeddings (test queries against the train database).
"""

from __future__ import annotations

import os
from typing import Any

import torch

from rsdml.data import cached_images, load_scene_list, make_split
from rsdml.evaluate import evaluate_embeddings
from rsdml.models import create_backbone, extract_features
from rsdml.storage import content_key


def evaluate_backbone(
    dataset: str,
    backbone: str,
    *,
    root: str | os.PathLike | None = None,
    image_size: int = 224,
    fractions: tuple[float, float, float] = (0.7, 0.1, 0.2),
    split_seed: int = 42,
    weights: str | None = None,
    device: str = "auto",
    progress: bool | None = None,
    dataset_options: dict[str, Any] | None = None,
    download: bool = False,
) -> dict[str, float]:
    """Metrics of L2-normalised pretrained features on the standard split.

    Features are cached on disk, so a second call with the same arguments only re-evaluates.
    """
    scenes = load_scene_list(dataset, root, download=download, **(dataset_options or {}))
    split = make_split(scenes, fractions=fractions, seed=split_seed)
    images, _ = cached_images(scenes.files, image_size, progress=progress)
    model = create_backbone(backbone, pretrained=True, weights=weights)
    features = extract_features(
        model,
        images,
        device=device,
        view="plain",
        cache_parts=(content_key([str(p) for p in scenes.files]), "all", image_size),
        progress=progress,
    )
    features = torch.nn.functional.normalize(features.float(), dim=1)
    return evaluate_embeddings(
        features[split.test],
        scenes.labels[split.test],
        features[split.train],
        scenes.labels[split.train],
        device=device,
    )
