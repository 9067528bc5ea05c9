"""What the training loop feeds the model: cached backbone features or augmented images.

The loop never knows which mode it is in. It asks an input source for a training batch
(augmented) or for evaluation chunks (plain), and hands the tensor to the model: an
:class:`~rsdml.models.EmbeddingHead` over cached features in frozen mode, a full
:class:`~rsdml.models.EmbeddingModel` over images when fine-tuning.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import numpy as np
import torch
from torch.nn import functional as F

from rsdml.data import DecodedImages, select_rows, train_transform
from rsdml.models import Backbone, DeferredBackbone, extract_features
from rsdml.models.engines import choose_engine
from rsdml.models.features import features_cached
from rsdml.runtime import resolve_device
from rsdml.storage import cache_subdir, note


def feature_cache_parts(
    images_key: str, image_size: int, subset: np.ndarray | None = None
) -> tuple[Any, ...]:
    """The feature-cache ``cache_parts`` of decoded images, spelt here only.

    ``images_key`` is the decoded-image cache key (:func:`rsdml.data.images.image_cache_key`:
    paths, sizes, modification times, image size, ``on_error``), so features of replaced images
    are never reused. ``subset``: the rows whose extra views are extracted (None: every row).
    """
    if subset is None:
        return (images_key, "all", image_size)
    return (images_key, "subset", image_size, np.asarray(subset).tolist())


def announce_embedding(
    backbone: Backbone | DeferredBackbone,
    shape: tuple[int, ...],
    files_key: str,
    image_size: int,
    views: tuple[str, ...],
    augmented: np.ndarray,
    engine: str = "auto",
    device: str = "auto",
) -> None:
    """Say on stderr, before the work, how many views and images are left to embed.

    The first frozen run on a dataset embeds every view of its training images, which takes
    minutes on a CPU with no other sign of life than a progress bar (often switched off in
    studies); the line also says that the work is done once. Silent when everything is cached.
    """
    subset_shape = (len(augmented), *shape[1:])
    left = []
    for view in dict.fromkeys(("plain", *views)):
        count, parts = (
            (shape[0], feature_cache_parts(files_key, image_size))
            if view == "plain"
            else (len(augmented), feature_cache_parts(files_key, image_size, augmented))
        )
        if count and not features_cached(
            backbone, shape if view == "plain" else subset_shape, view, parts
        ):
            left.append((view, count))
    if not left:
        return
    total = sum(count for _, count in left)
    detail = ", ".join(f"{view} {count}" for view, count in left)
    chosen = choose_engine(engine, resolve_device(device))
    note(
        f"embedding {len(left)} view(s) of the images with {backbone.name} on {chosen}: "
        f"{total} image passes ({detail}); the features are cached in "
        f"{cache_subdir('features')} and every later run on these images reads them from there"
    )


class FeatureInputs:
    """Frozen mode: pooled backbone features, one tensor per geometric view.

    Extra views exist only for the images listed in ``augmented``; elsewhere the plain view
    stands in, so a transductive unlabelled pool drawn from the test split is never augmented.
    """

    def __init__(self, views: dict[str, torch.Tensor], augmented: np.ndarray):
        self.view_names = list(views)
        # One (views, N, D) tensor, so a batch gathers just the drawn view of each sample
        # instead of every view of every sample; ``views`` are slices of it, not copies.
        self.stacked = torch.stack([views[name] for name in self.view_names])
        self.views = dict(zip(self.view_names, self.stacked.unbind(0), strict=True))
        self.has_views = torch.zeros(len(views["plain"]), dtype=torch.bool)
        self.has_views[torch.as_tensor(augmented, dtype=torch.long)] = True
        self._layer_normalised: FeatureInputs | None = None

    @classmethod
    def build(
        cls,
        backbone: Backbone | DeferredBackbone,
        images: np.ndarray,
        *,
        files_key: str,
        image_size: int,
        views: tuple[str, ...],
        augmented: np.ndarray,
        device: str,
        progress: bool | None,
        engine: str = "auto",
    ) -> FeatureInputs:
        """Extract (or load from the feature cache) the plain features of every image and the
        extra views of the ``augmented`` images.

        ``files_key`` is the decoded-image cache key of ``images`` (``RunData.files_key``), which
        the feature cache key includes (:func:`feature_cache_parts`). ``engine`` computes the
        missing features (:func:`rsdml.models.engines.choose_engine`).
        """
        announce_embedding(
            backbone,
            images.shape,
            files_key,
            image_size,
            views,
            augmented,
            engine,
            device,
        )
        plain = extract_features(
            backbone,
            images,
            device=device,
            view="plain",
            cache_parts=feature_cache_parts(files_key, image_size),
            progress=progress,
            engine=engine,
        )
        features = {"plain": plain}
        subset_key = feature_cache_parts(files_key, image_size, augmented)
        for view in views:
            if view == "plain":
                continue
            extra = torch.zeros_like(plain)
            extra[torch.as_tensor(augmented)] = extract_features(
                backbone,
                select_rows(images, augmented),
                device=device,
                view=view,
                cache_parts=subset_key,
                progress=progress,
                engine=engine,
            )
            features[view] = extra
        return cls(features, augmented)

    @property
    def feature_dim(self) -> int:
        """Width of the backbone features."""
        return int(self.views["plain"].shape[1])

    def layer_normalised(self) -> FeatureInputs:
        """The same inputs after the head's parameter-free LayerNorm, computed once.

        LayerNorm normalises each feature row on its own, so normalising the whole table gives
        the rows, bit for bit, that normalising each batch gives (tested); a head without its
        own LayerNorm then skips it at every step and every validation. Kept with these inputs,
        so the next run of a warm kernel that reuses them reuses it too.
        """
        if self._layer_normalised is None:
            normalised = copy.copy(self)
            normalised.stacked = F.layer_norm(self.stacked, (self.feature_dim,))
            normalised.views = dict(zip(self.view_names, normalised.stacked.unbind(0), strict=True))
            self._layer_normalised = normalised
        return self._layer_normalised

    def train_batch(self, indices: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """Features of ``indices``, each sample in one randomly drawn view."""
        if len(self.view_names) == 1:
            return self.views["plain"][indices]
        choice = torch.randint(len(self.view_names), (len(indices),), generator=generator)
        choice = torch.where(self.has_views[indices], choice, 0)
        return self.stacked[choice, indices]

    def eval_chunks(self, indices: np.ndarray, chunk: int = 4096) -> Iterator[torch.Tensor]:
        """Plain features of ``indices`` in chunks."""
        plain = self.views["plain"]
        for start in range(0, len(indices), chunk):
            yield plain[torch.as_tensor(indices[start : start + chunk])]


def plain_features(
    backbone: Backbone | DeferredBackbone,
    images: np.ndarray,
    *,
    files_key: str,
    image_size: int,
    device: str,
    progress: bool | None,
    engine: str = "auto",
) -> torch.Tensor:
    """The plain-view features of every image, through the same feature-cache entry that
    :meth:`FeatureInputs.build` reads and writes."""
    return FeatureInputs.build(
        backbone,
        images,
        files_key=files_key,
        image_size=image_size,
        views=("plain",),
        augmented=np.array([], dtype=np.int64),
        device=device,
        progress=progress,
        engine=engine,
    ).views["plain"]


class ImageInputs:
    """Fine-tune mode: decoded uint8 images, augmented on the fly like the papers' code.

    ``images`` are the image cache's :class:`~rsdml.data.DecodedImages`, read at ``image_size``
    (each batch resized from the stored side exactly as decoding at that size would), or a plain
    uint8 array, which the transform resizes.
    """

    def __init__(self, images: DecodedImages | np.ndarray, image_size: int, chunk: int = 128):
        if isinstance(images, DecodedImages) and images.size != image_size:
            raise ValueError(
                f"the images are read at {images.size} px but the model takes {image_size} px; "
                "load them through the image cache at the model's input size"
            )
        self.images = images
        self.transform = train_transform(image_size)
        self.chunk = chunk

    def _as_float(self, indices: np.ndarray | torch.Tensor) -> torch.Tensor:
        # DecodedImages rows come back as new arrays at image_size (resized per batch).
        batch = torch.from_numpy(np.ascontiguousarray(self.images[np.asarray(indices)]))
        return batch.float().div_(255.0)

    def train_batch(self, indices: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """Augmented images of ``indices`` (the transform draws from torch's global generator,
        which :func:`rsdml.runtime.seed_everything` seeds)."""
        batch = self._as_float(indices)
        return torch.stack([self.transform(image) for image in batch])

    def eval_chunks(self, indices: np.ndarray, chunk: int | None = None) -> Iterator[torch.Tensor]:
        """Plain images of ``indices`` in chunks."""
        step = chunk or self.chunk
        for start in range(0, len(indices), step):
            yield self._as_float(indices[start : start + step])
