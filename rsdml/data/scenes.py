"""What is on disk for one dataset: the :class:`SceneList` and the folder-scanning helpers.

Every dataset (:mod:`rsdml.data.datasets`) lists its images through these helpers, so that the
order of files and labels -- and with it every split -- is the same for every dataset: class folders
sorted by name, files sorted by name within a class, hidden entries and non-images skipped.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

# Compared case-insensitively: the official UC Merced release is .tif, the local copy .jpg.
IMAGE_EXTENSIONS = frozenset({".tif", ".tiff", ".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp"})


@dataclass(frozen=True, eq=False)
class SceneList:
    """What is on disk for one dataset: image files and their class labels.

    ``files`` are absolute paths ordered by (class name, file name); ``labels[i]`` indexes
    ``classes`` (the sorted class folder names).
    """

    name: str
    root: Path
    files: tuple[Path, ...]
    labels: np.ndarray
    classes: tuple[str, ...]

    def __len__(self) -> int:
        """Number of images."""
        return len(self.files)

    def counts(self) -> dict[str, int]:
        """Images per class."""
        totals = np.bincount(self.labels, minlength=len(self.classes))
        return {name: int(total) for name, total in zip(self.classes, totals, strict=True)}


def is_image_file(path: Path) -> bool:
    """A visible file with a known image extension (any letter case)."""
    return (
        path.is_file() and not path.name.startswith(".") and path.suffix.lower() in IMAGE_EXTENSIONS
    )


def class_folders(root: Path) -> list[Path]:
    """Visible sub-folders of ``root``, sorted by name."""
    if not root.is_dir():
        return []
    return sorted(
        (entry for entry in root.iterdir() if entry.is_dir() and not entry.name.startswith(".")),
        key=lambda entry: entry.name,
    )


def images_in(folder: Path) -> list[Path]:
    """Image files directly inside ``folder``, sorted by file name."""
    return sorted(
        (entry for entry in folder.iterdir() if is_image_file(entry)), key=lambda p: p.name
    )


def holds_images(folder: Path) -> bool:
    """Whether ``folder`` directly holds at least one image (stops at the first one)."""
    return folder.is_dir() and any(is_image_file(entry) for entry in folder.iterdir())


def build_scene_list(name: str, root: Path, classes: Sequence[str]) -> SceneList:
    """A :class:`SceneList` over ``root/<class>/`` for the given (sorted) classes."""
    root = Path(root).absolute()
    files: list[Path] = []
    labels: list[int] = []
    for label, class_name in enumerate(classes):
        members = images_in(root / class_name)
        files += members
        labels += [label] * len(members)
    return SceneList(
        name=name,
        root=root,
        files=tuple(files),
        labels=np.asarray(labels, dtype=np.int64),
        classes=tuple(classes),
    )
