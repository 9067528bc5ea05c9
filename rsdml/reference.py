"""Frozen pretrained features used directly as the embedding: the reference every method must beat.

The pooled backbone features of the standard split are L2-normalised and evaluated with the
same protocol as trained embeddings (test queries against the train database).
"""

from __future__ import annotations

import os
from typing import Any

from rsdml.runtime import fixed_threads
from rsdml.train.prepare import archive_features


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
    archive = archive_features(
        dataset,
        root,
        image_size,
        backbone=backbone,
        pretrained=pretrained,
        weights=weights,
        fractions=fractions,
        split_seed=split_seed,
        device=device,
        progress=progress,
        engine=engine,
        dataset_options=dataset_options,
        download=download,
    )
    with fixed_threads():  # the runs' thread count for the evaluation too
        return archive.frozen_metrics(device)
