"""Everything a run needs before its first step: scenes, split, labels, noise and images.

Kept apart from the loop so that notebooks can inspect exactly the data a run trains on
(``prepare_data(config)``, ``build_inputs(config)``) without training anything.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import torch

from rsdml.data import (
    ClassPartition,
    NoisyLabels,
    SceneList,
    Split,
    add_label_noise,
    has_noise_table,
    labelled_subset,
    load_scene_list,
    make_split,
    partition_classes,
    unseen_class_split,
)
from rsdml.data.images import DecodedImages, check_on_error, load_cached_images
from rsdml.evaluate import evaluate_embeddings, top_k
from rsdml.models import Backbone, DeferredBackbone, defer_backbone
from rsdml.runtime import fixed_threads, resolve_device
from rsdml.storage import ContentMemo, note
from rsdml.train.config import TrainConfig, frozen_views
from rsdml.train.inputs import FeatureInputs, ImageInputs, plain_features


@dataclass
class RunData:
    """The data of one run; all index arrays are global positions in ``scenes``.

    ``train`` / ``train_labels`` are what the loss learns from (the labelled part of the train
    split, with the possibly noisy labels it was given). Evaluation uses the whole train split as
    the retrieval and kNN database, with the archive's clean labels (``database_clean``) unless
    the run asks for the labels the learner was given (``database_given``): unlabelled images
    and corrupted labels never reach the loss, but a database image's true class is what a
    user of the archive would call a correct match.

    ``files_key`` is the decoded-image cache key of ``images`` (paths, sizes, modification times,
    image size, ``on_error``); the feature cache key includes it. ``skipped`` lists the files left
    out under ``on_error="skip"`` (absent from ``scenes``, so from every split).

    Under the unseen-classes protocol ``partition`` holds the training and held-out classes;
    ``scenes`` lists the training classes first (codes 0..T-1), ``split.train`` and
    ``split.val`` hold only training-class images and ``split.test`` every held-out-class
    image (:func:`rsdml.data.unseen_class_split`).
    """

    scenes: SceneList
    split: Split
    images: DecodedImages
    files_key: str
    train: np.ndarray
    train_labels: np.ndarray
    train_clean: np.ndarray
    unlabelled: np.ndarray
    noise: NoisyLabels | None
    database_clean: np.ndarray
    database_given: np.ndarray
    skipped: list[str] = field(default_factory=list)
    partition: ClassPartition | None = None
    archive_train: np.ndarray | None = None

    @property
    def augmented(self) -> np.ndarray:
        """The images whose extra frozen-mode views are embedded: the train split, or under
        unseen classes the archive's whole train split (``archive_train``), so that the run
        reads the standard runs' feature-cache entry; only training-class rows are ever drawn."""
        return self.split.train if self.archive_train is None else self.archive_train

    @property
    def num_classes(self) -> int:
        """Number of classes the model trains on: every class of the dataset, or the training
        classes of an unseen-classes run."""
        if self.partition is not None:
            return len(self.partition.train)
        return len(self.scenes.classes)


class SceneImages(NamedTuple):
    """A dataset's scenes and their decoded images, row for row."""

    scenes: SceneList
    images: DecodedImages
    images_key: str
    skipped: list[str]


def without_files(scenes: SceneList, drop: list[Path]) -> SceneList:
    """``scenes`` without the files in ``drop`` (labels kept aligned, classes unchanged)."""
    dropped = {os.fspath(path) for path in drop}
    keep = np.array([os.fspath(path) not in dropped for path in scenes.files], dtype=bool)
    files = tuple(path for path, kept in zip(scenes.files, keep, strict=True) if kept)
    return dataclasses.replace(scenes, files=files, labels=scenes.labels[keep])


def load_scene_images(
    dataset: str,
    root: str | os.PathLike | None,
    image_size: int,
    *,
    dataset_options: Mapping[str, Any] | None = None,
    download: bool = False,
    progress: bool | None = None,
) -> SceneImages:
    """The scene list of a dataset and its decoded images through the image cache.

    ``dataset_options`` go to :func:`~rsdml.data.load_scene_list`, except ``on_error``
    (``"raise"``, the default, or ``"skip"``), which goes to the image cache. Skipped files are
    dropped from the scene list, so the split never sees them, and counted on stderr.

    Raises:
        CorruptImageError: an unreadable image under ``on_error="raise"``.
        ImageOptionError: ``on_error`` is neither ``"raise"`` nor ``"skip"``.
    """
    options = dict(dataset_options or {})
    on_error = check_on_error(options.pop("on_error", "raise"))
    download = bool(options.pop("download", download))
    scenes = load_scene_list(dataset, root, download=download, **options)
    loaded = load_cached_images(scenes.files, image_size, on_error=on_error, progress=progress)
    if loaded.skipped:
        scenes = without_files(scenes, loaded.skipped)
        note(
            f"skipped {len(loaded.skipped)} of {len(scenes) + len(loaded.skipped)} image files "
            f"that could not be decoded (on_error=skip), e.g. {loaded.skipped[0]}"
        )
    return SceneImages(scenes, loaded.array, loaded.key, [str(p) for p in loaded.skipped])


class ArchiveFeatures(NamedTuple):
    """An archive's scenes and decoded images, its split, and the plain backbone features of
    every image: what ``rsdml embed-eval`` evaluates and what a transfer target is scored on."""

    loaded: SceneImages
    split: Split
    features: torch.Tensor

    def frozen_metrics(self, device: str | torch.device = "auto") -> dict[str, float]:
        """Every metric of the L2-normalised features alone: the test split's images as queries
        against the train split's, with the archive's labels."""
        features = torch.nn.functional.normalize(self.features.float(), dim=1)
        labels = self.loaded.scenes.labels
        test, train = self.split.test, self.split.train
        return evaluate_embeddings(
            features[test], labels[test], features[train], labels[train], device=device
        )


def archive_features(
    dataset: str,
    root: str | os.PathLike | None,
    image_size: int,
    *,
    backbone: str,
    pretrained: bool = True,
    weights: str | None = None,
    fractions: tuple[float, float, float] = (0.7, 0.1, 0.2),
    split_seed: int = 42,
    device: str = "auto",
    progress: bool | None = None,
    engine: str = "auto",
    dataset_options: Mapping[str, Any] | None = None,
    download: bool = False,
) -> ArchiveFeatures:
    """An archive's split and the plain features of its images, through the feature cache.

    The training runs' own path to the plain features, with their thread count, so that every
    command shares one cache entry whichever computed it first; the network is built only if
    some features are missing.
    """
    loaded = load_scene_images(
        dataset,
        root,
        image_size,
        dataset_options=dataset_options,
        download=download,
        progress=progress,
    )
    split = make_split(loaded.scenes, fractions=fractions, seed=split_seed)
    model = defer_backbone(backbone, pretrained=pretrained, weights=weights)
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
    return ArchiveFeatures(loaded, split, features)


def archive_features_for(
    config: TrainConfig,
    dataset: str,
    root: str | os.PathLike | None,
    *,
    device: str = "auto",
    dataset_options: Mapping[str, Any] | None = None,
) -> ArchiveFeatures:
    """:func:`archive_features` of ``dataset`` as a run with ``config`` sees an archive: its
    backbone, weights, image size, split rule and engine (the run's own archive, or another)."""
    return archive_features(
        dataset,
        root,
        config.image_size,
        backbone=config.backbone,
        pretrained=config.pretrained,
        weights=config.weights,
        fractions=config.fractions,
        split_seed=config.split_seed,
        device=device,
        progress=config.progress,
        engine=config.engine,
        dataset_options=dataset_options,
    )


def features_identity(config: TrainConfig) -> tuple[Any, ...]:
    """What a run's configuration decides of an archive's plain features and split, as
    :func:`archive_features_for` passes it on: backbone, weights, input size and split rule. A
    key for results derived from them, beside what names the archive itself."""
    return (
        config.backbone,
        config.pretrained,
        config.weights,
        config.image_size,
        config.fractions,
        config.split_seed,
    )


class RunImages(NamedTuple):
    """What :func:`load_run_images` returns."""

    scenes: SceneList
    split: Split
    images: DecodedImages
    files_key: str
    skipped: list[str]


def load_run_images(config: TrainConfig) -> RunImages:
    """Scenes, the standard split and the decoded image cache of a resolved config.

    ``files_key`` is the decoded-image cache key; ``skipped`` lists the files left out under
    ``--dataset-option on_error=skip``, which the split never sees.
    """
    loaded = load_scene_images(
        config.dataset,
        config.root,
        config.image_size,
        dataset_options=config.dataset_options,
        progress=config.progress,
    )
    split = make_split(loaded.scenes, fractions=config.fractions, seed=config.split_seed)
    return RunImages(loaded.scenes, split, loaded.images, loaded.images_key, loaded.skipped)


def confusion_from_features(
    features: torch.Tensor, labels: np.ndarray, num_classes: int, k: int = 10
) -> np.ndarray:
    """Class confusion of leave-one-out kNN on ``features``: row c counts where class c's
    neighbours vote. It drives label-dependent noise for datasets without a published table."""
    normalised = torch.nn.functional.normalize(features.float(), dim=1)
    _, neighbours = top_k(normalised, normalised, k + 1)
    neighbours = neighbours[:, 1:].numpy()  # drop each sample's own match
    confusion = np.zeros((num_classes, num_classes))
    np.add.at(confusion, (np.repeat(labels, k), labels[neighbours].ravel()), 1.0)
    return confusion


#: Confusions a process keeps (:func:`remembered_confusion`): a study worker needs a few.
REMEMBERED_CONFUSIONS = 4
#: The cache folder where they are kept for other processes and later runs.
CONFUSIONS_FOLDER = "confusions"
_CONFUSION_MEMO = ContentMemo(REMEMBERED_CONFUSIONS, folder=CONFUSIONS_FOLDER)


def remembered_confusion(
    features: torch.Tensor, labels: np.ndarray, num_classes: int, k: int = 10
) -> np.ndarray:
    """:func:`confusion_from_features`, answered from memory or from the cache folder when this
    or another process computed it for inputs of the same content
    (:class:`~rsdml.storage.ContentMemo`). Every label-dependent cell of a study, whatever its
    rate or seed, asks for the same one, and its leave-one-out search of EuroSAT's 18,900
    training features of 1,280 dimensions took about 20 s in each worker."""
    arrays = [torch.as_tensor(features).cpu().numpy(), np.asarray(labels)]
    answer = _CONFUSION_MEMO.recall(
        arrays, (num_classes, k), lambda: confusion_from_features(features, labels, num_classes, k)
    )
    return answer.copy()


def prepare_data(
    config: TrainConfig, backbone: Backbone | DeferredBackbone | None = None
) -> RunData:
    """Split, label fraction and label noise of a resolved config.

    Under ``protocol="unseen-classes"`` the classes are partitioned first
    (:func:`rsdml.data.partition_classes`) and the split narrowed to them (see :class:`RunData`):
    the labelled subset, the unlabelled pool and the label noise come from the training classes'
    train split alone.

    Label-dependent noise on a dataset without a published table is built from the class
    confusion of pretrained ``backbone`` features (by default the config's backbone, built only
    if its features are not cached).
    """
    scenes, split, images, files_key, skipped = load_run_images(config)
    partition = archive_train = None
    if config.protocol == "unseen-classes":
        partition = partition_classes(scenes.classes, config.class_seed, config.train_classes)
        archive_train = split.train
        scenes, split = unseen_class_split(scenes, split, partition)
    clean = scenes.labels[split.train]
    noise = None
    given = clean
    if config.noise is not None:
        # the classes trained on (config refuses label-dependent noise on a part of them)
        options: dict = {"num_classes": len(partition.train) if partition else len(scenes.classes)}
        if config.noise == "dependent":
            # a published table where one exists (RNSL paper); elsewhere the general
            # construction from the class confusion of pretrained features
            if has_noise_table(scenes.name):
                options.update(dataset=scenes.name, classes=scenes.classes)
            else:
                if backbone is None:
                    backbone = defer_backbone(
                        config.backbone, pretrained=config.pretrained, weights=config.weights
                    )
                features = plain_features(
                    backbone,
                    images,
                    files_key=files_key,
                    image_size=config.image_size,
                    device=str(resolve_device(config.device)),
                    progress=config.progress,
                    engine=config.engine,
                )
                options["confusion"] = remembered_confusion(
                    features[split.train], clean, len(scenes.classes)
                )
        noise = add_label_noise(
            clean, config.noise, config.noise_rate, seed=config.noise_seed, **options
        )
        given = noise.labels

    if config.label_fraction is None or config.label_fraction >= 1.0:
        positions = np.arange(len(split.train))
        unlabelled_positions = np.array([], dtype=np.int64)
    else:
        positions, unlabelled_positions = labelled_subset(
            np.arange(len(split.train)), clean, config.label_fraction, seed=config.split_seed
        )
    if config.unlabelled_pool == "test":
        # The released HR-S2DML code's transductive protocol: the unlabelled images are the test images.
        unlabelled = split.test.copy()
    else:
        unlabelled = split.train[unlabelled_positions]
    return RunData(
        scenes=scenes,
        split=split,
        images=images,
        files_key=files_key,
        train=split.train[positions],
        train_labels=np.asarray(given)[positions],
        train_clean=clean[positions],
        unlabelled=unlabelled,
        noise=noise,
        database_clean=clean,
        database_given=np.asarray(given),
        skipped=skipped,
        partition=partition,
        archive_train=archive_train,
    )


def run_views(config: TrainConfig, data: RunData) -> tuple[str, ...]:
    """The frozen-mode views of a run: the config's, or those :func:`frozen_views` gives for its
    training split (no training images: the plain view only)."""
    if not len(data.split.train):
        return ("plain",)
    return frozen_views(config.views, len(data.split.train), data.num_classes)


def build_inputs(config: TrainConfig) -> tuple[RunData, FeatureInputs | ImageInputs]:
    """The data of a resolved config and what the model reads of it: in frozen mode the cached
    backbone features (plain, plus the augmented views of the training images), in fine-tune
    mode the decoded images.

    Runs in a forked torch random state seeded with ``config.seed``: a feature-cache miss builds
    the backbone, whose random initialisation (overwritten by the pretrained weights) draws from
    torch's generator, and a run's own draws must not depend on whether features were cached.
    """
    with torch.random.fork_rng():
        torch.manual_seed(config.seed)
        if config.mode != "frozen":
            data = prepare_data(config)
            return data, ImageInputs(data.images, config.image_size)
        # Frozen mode reads cached features: the network is built only if some are missing.
        backbone = defer_backbone(
            config.backbone, pretrained=config.pretrained, weights=config.weights
        )
        data = prepare_data(config, backbone)
        inputs = FeatureInputs.build(
            backbone,
            data.images,
            files_key=data.files_key,
            image_size=config.image_size,
            views=run_views(config, data),
            augmented=data.augmented,
            device=str(resolve_device(config.device)),
            progress=config.progress,
            engine=config.engine,
        )
        return data, inputs
