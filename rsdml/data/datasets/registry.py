"""The registered datasets by name: look-up (with aliases), scene lists and the overview table."""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any

from rsdml.data.datasets.aid import AID
from rsdml.data.datasets.base import DATASETS, SceneDataset, register_dataset
from rsdml.data.datasets.eurosat import EuroSAT
from rsdml.data.datasets.folder import ImageFolderScenes
from rsdml.data.datasets.nwpu_resisc45 import NWPURESISC45
from rsdml.data.datasets.patternnet import PatternNet
from rsdml.data.datasets.synthetic import SyntheticScenes
from rsdml.data.datasets.ucmerced import UCMerced
from rsdml.data.scenes import SceneList
from rsdml.errors import UserError

# The order of this tuple is the order in which `rsdml datasets` and the CLI's help list them.
for _dataset in (
    UCMerced,
    AID,
    NWPURESISC45,
    PatternNet,
    EuroSAT,
    ImageFolderScenes,
    SyntheticScenes,
):
    register_dataset(_dataset)

ALIASES = {
    "ucm": "ucmerced",
    "ucmd": "ucmerced",
    "uc_merced": "ucmerced",
    "ucmerced_landuse": "ucmerced",
    "nwpu": "nwpu_resisc45",
    "resisc45": "nwpu_resisc45",
    "nwpuresisc45": "nwpu_resisc45",
    "eurosat_rgb": "eurosat",
    "imagefolder": "folder",
}


class UnknownDatasetError(UserError, KeyError):
    """A dataset name that is not registered; the message lists the known ones and the closest."""

    def __str__(self) -> str:
        """The message itself (a bare KeyError would show it quoted, like a dictionary key)."""
        return str(self.args[0]) if self.args else ""


def dataset_class(name: str) -> type[SceneDataset]:
    """The registered class for a dataset name (case-insensitive; ``-`` and ``_`` alike)."""
    key = name.strip().lower().replace("-", "_").replace(" ", "_")
    key = ALIASES.get(key, key)
    if key not in DATASETS:
        close = difflib.get_close_matches(key, [*DATASETS, *ALIASES], n=1, cutoff=0.6)
        guess = f"did you mean {ALIASES.get(close[0], close[0])!r}? " if close else ""
        raise UnknownDatasetError(
            f"unknown dataset {name!r}: {guess}known: {', '.join(DATASETS)} (CLI: --dataset; "
            "`rsdml datasets` lists them, `folder` reads any folder of class sub-folders)"
        )
    return DATASETS[key]


def load_scene_list(
    name: str,
    root: str | Path | None = None,
    download: bool = False,
    checksum: bool | None = None,
    **options: Any,
) -> SceneList:
    """The files and labels of a dataset by name.

    Args:
        name: ``ucmerced``, ``aid``, ``nwpu_resisc45``, ``patternnet``, ``eurosat``, ``folder`` or
            ``synthetic`` (case-insensitive; common aliases such as ``resisc45`` accepted).
        root: data root (default ``$RSDML_DATA``, else ``<cache_dir>/data``). Known datasets: the
            folder holding what the official archive extracts. ``folder``: the folder of class
            sub-folders. ``synthetic``: ignored (generated into ``cache_dir()/synthetic``).
        download: fetch and unpack a missing known dataset.
        checksum: None (default): a download is verified against the published checksum when
            one is known, an archive placed by hand is only read back. True: verify both.
            False: verify neither (every archive is still read back before it is unpacked).
        **options: ``synthetic`` only: ``num_classes``, ``images_per_class``, ``image_size``,
            ``seed``, ``progress``.

    Raises:
        DatasetNotFoundError: the data is absent (or could not be fetched); the message names the
            path looked at and how to obtain the data. Its subclass :class:`WrongRootError`:
            root is the dataset's own folder, a class folder or the folder above; the message
            names the right root.
        ChecksumError, ArchiveError: the archive does not verify or cannot be read.
        UnknownDatasetError: unknown dataset name (a ``KeyError``).
        UnknownOptionError: an option the dataset does not take (a ``TypeError``).
    """
    dataset = dataset_class(name)
    dataset.check_options(options)
    return dataset.scene_list(root, download=download, checksum=checksum, **options)


def list_datasets(root: str | Path | None = None) -> list[dict[str, Any]]:
    """One row per registered dataset: name, title, classes, images, path looked at, present."""
    return [cls.describe(root) for cls in DATASETS.values()]
