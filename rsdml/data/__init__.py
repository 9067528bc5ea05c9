"""rsdml.data: images on disk -> scene lists, splits, label noise and decoded image arrays.

The flow is ``load_scene_list(name)`` (which files, which labels: a ``SceneList``) ->
``make_split`` (the papers' per-class 70/10/20 protocol) -> optional ``labelled_subset`` /
``add_label_noise`` on the training part -> ``cached_images`` (decode once, reuse) ->
``ImageArrayDataset`` for PyTorch.

Modules: ``scenes`` (SceneList and folder scanning), ``datasets/`` (one module per dataset, the
base classes and the registry), ``download``, ``images`` (decoding and its cache), ``splits``,
``noise`` (label noise and the published noise tables) and ``synthetic/`` (the embedded scenes).
"""

from rsdml.data.datasets import (
    AID,
    DATASETS,
    NWPURESISC45,
    EuroSAT,
    ImageFolderScenes,
    KnownDataset,
    NotDownloadableError,
    PatternNet,
    SceneDataset,
    SyntheticScenes,
    UCMerced,
    UnknownDatasetError,
    UnknownOptionError,
    WrongRootError,
    dataset_class,
    list_datasets,
    load_scene_list,
    register_dataset,
)
from rsdml.data.download import (
    ArchiveError,
    ChecksumError,
    DatasetNotFoundError,
    DownloadError,
    check_archive,
    download_and_extract,
    download_url,
    extract_archive,
)
from rsdml.data.images import (
    CorruptImageError,
    DecodedImages,
    ImageArrayDataset,
    cached_images,
    decode_images,
    read_image,
    select_rows,
    train_transform,
)
from rsdml.data.noise import (
    DATASETS_WITH_NOISE_TABLES,
    NOISE_KINDS,
    NoisyLabels,
    add_label_noise,
    has_noise_table,
    transition_matrix,
)
from rsdml.data.scenes import IMAGE_EXTENSIONS, SceneList
from rsdml.data.splits import (
    ClassPartition,
    ClassPartitionError,
    Split,
    SplitError,
    labelled_subset,
    make_split,
    partition_classes,
    split_counts,
    unseen_class_split,
)
from rsdml.data.synthetic import SYNTHETIC_CLASSES, generate_synthetic, render_scene

__all__ = [
    "AID",
    "ArchiveError",
    "DATASETS",
    "DATASETS_WITH_NOISE_TABLES",
    "IMAGE_EXTENSIONS",
    "NOISE_KINDS",
    "NWPURESISC45",
    "SYNTHETIC_CLASSES",
    "ChecksumError",
    "ClassPartition",
    "ClassPartitionError",
    "CorruptImageError",
    "DatasetNotFoundError",
    "DecodedImages",
    "DownloadError",
    "EuroSAT",
    "ImageArrayDataset",
    "ImageFolderScenes",
    "KnownDataset",
    "NoisyLabels",
    "NotDownloadableError",
    "PatternNet",
    "SceneDataset",
    "SceneList",
    "Split",
    "SplitError",
    "SyntheticScenes",
    "UCMerced",
    "UnknownDatasetError",
    "UnknownOptionError",
    "WrongRootError",
    "add_label_noise",
    "cached_images",
    "check_archive",
    "dataset_class",
    "decode_images",
    "download_and_extract",
    "download_url",
    "extract_archive",
    "generate_synthetic",
    "has_noise_table",
    "labelled_subset",
    "list_datasets",
    "load_scene_list",
    "make_split",
    "partition_classes",
    "read_image",
    "register_dataset",
    "render_scene",
    "select_rows",
    "split_counts",
    "train_transform",
    "transition_matrix",
    "unseen_class_split",
]
