"""Which scene datasets rsdml knows, where they live on disk, and how to list their images.

One module per dataset, as in torchgeo: each class has torchgeo's constructor shape ``(root, split,
transforms, download, checksum)`` and its facts as class attributes (URLs, checksum, class list and
counts, the folder the official archive unpacks to, ``native_size``).

* :mod:`~rsdml.data.datasets.base`: the base classes :class:`SceneDataset` (any dataset) and
  :class:`KnownDataset` (a published one: presence checks, downloading, validation), and the
  registry :data:`DATASETS`;
* :mod:`~rsdml.data.datasets.ucmerced`, :mod:`~rsdml.data.datasets.aid`,
  :mod:`~rsdml.data.datasets.nwpu_resisc45`, :mod:`~rsdml.data.datasets.patternnet`,
  :mod:`~rsdml.data.datasets.eurosat`: the five published datasets;
* :mod:`~rsdml.data.datasets.folder` (``folder``: any folder of class sub-folders) and
  :mod:`~rsdml.data.datasets.synthetic` (``synthetic``: generated here);
* :mod:`~rsdml.data.datasets.registry`: registration order, aliases, :func:`load_scene_list`
  (the main entry point: a :class:`~rsdml.data.scenes.SceneList` for any registered name) and
  :func:`list_datasets`.
"""

from rsdml.data.datasets.aid import AID
from rsdml.data.datasets.base import (
    DATASETS,
    KnownDataset,
    NotDownloadableError,
    SceneDataset,
    UnknownOptionError,
    WrongRootError,
    register_dataset,
)
from rsdml.data.datasets.eurosat import EuroSAT
from rsdml.data.datasets.folder import ImageFolderScenes
from rsdml.data.datasets.nwpu_resisc45 import NWPURESISC45
from rsdml.data.datasets.patternnet import PatternNet
from rsdml.data.datasets.registry import (
    ALIASES,
    UnknownDatasetError,
    dataset_class,
    list_datasets,
    load_scene_list,
)
from rsdml.data.datasets.synthetic import SyntheticScenes
from rsdml.data.datasets.ucmerced import UCMerced

__all__ = [
    "AID",
    "ALIASES",
    "DATASETS",
    "NWPURESISC45",
    "EuroSAT",
    "ImageFolderScenes",
    "KnownDataset",
    "NotDownloadableError",
    "PatternNet",
    "SceneDataset",
    "SyntheticScenes",
    "UCMerced",
    "UnknownDatasetError",
    "UnknownOptionError",
    "WrongRootError",
    "dataset_class",
    "list_datasets",
    "load_scene_list",
    "register_dataset",
]
