"""Everything a run needs before its first step: scenes, split, labels, noise and images.

Kept apart from the loop so that notebooks can inspect exactly the data a run trains on
(``prepare_data(config)``) without training anything.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from rsdml.data import (
    NoisyLabels,
    SceneList,
    Split,
    add_label_noise,
    cached_images,
    labelled_subset,
    load_scene_list,
    make_split,
)
from rsdml.evaluate import top_k
from rsdml.storage import content_key
from rsdml.train.config import TrainConfig

# Label-dependent noise tables exist for these datasets (RNSL paper); any other dataset gets
# the general construction from the class confusion of pretrained features.
DATASETS_WITH_NOISE_TABLES = ("aid", "nwpu_resisc45")


@dataclass
class RunData:
    """The data of one run; all index arrays are global positions in ``scenes``.

    ``train`` / ``train_labels`` are what the loss learns from (the labelled part of the train
    split, with the possibly noisy labels it was given). Evaluation uses the whole train split as
    the retrieval and kNN database, with the archive's clean labels (``database_clean``) unless
    the run asks for the labels the learner was given (``database_given``): unlabelled images
    and corrupted labels never reach the loss, but a database image's true class is what a
    user of the archive would call a correct match.
    """

    scenes: SceneList
    split: Split
    images: np.ndarray
    files_key: str
    train: np.ndarray
    train_labels: np.ndarray
    train_clean: np.ndarray
    unlabelled: np.ndarray
    noise: NoisyLabels | None
    database_clean: np.ndarray
    database_given: np.ndarray

    @property
    def num_classes(self) -> int:
        """Number of classes of the dataset."""
        return len(self.scenes.classes)


def load_run_images(config: TrainConfig) -> tuple[SceneList, Split, np.ndarray, str]:
    """Scenes, the standard split and the decoded image cache of a resolved config."""
    scenes = load_scene_list(config.dataset, config.root, **config.dataset_options)
    split = make_split(scenes, fractions=config.fractions, seed=config.split_seed)
    images, _ = cached_images(scenes.files, config.image_size, progress=config.progress)
    files_key = content_key([str(path) for path in scenes.files])
    return scenes, split, images, files_key


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


def prepare_data(
    config: TrainConfig,
    plain_features: Callable[[np.ndarray, str], torch.Tensor] | None = None,
) -> RunData:
    """Split, label fraction and label noise of a resolved config.

    ``plain_features(images, files_key)`` returns pretrained features of every image; it is
    called only for label-dependent noise on a dataset without a published table.
    """
    scenes, split, images, files_key = load_run_images(config)
    clean = scenes.labels[split.train]
    noise = None
    given = clean
    if config.noise is not None:
        options: dict = {"num_classes": len(scenes.classes)}
        if config.noise == "dependent":
            if scenes.name in DATASETS_WITH_NOISE_TABLES:
                options.update(dataset=scenes.name, classes=scenes.classes)
            else:
                if plain_features is None:
                    raise ValueError(
                        "label-dependent noise on this dataset is built from the class confusion "
                        "of pretrained features: pass plain_features"
                    )
                features = plain_features(images, files_key)
                options["confusion"] = confusion_from_features(
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
    )
