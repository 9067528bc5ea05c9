"""The two base classes of every dataset, and the registry they are listed in.

:class:`SceneDataset` gives every dataset torchgeo's constructor shape ``(root, split, transforms,
download, checksum)`` and turns it into a PyTorch dataset over one split of the papers' protocol.
:class:`KnownDataset` adds what a published dataset needs: its facts as class attributes (URLs,
checksum, class list and counts, the folder the official archive unpacks to, the native image
size), presence checks that recognise a misplaced root, downloading and validation.

Root resolution: the ``root`` argument, else ``$RSDML_DATA``, else ``<cache_dir>/data``. For a
known dataset, root is the folder that holds what the official archive extracts, e.g.
``<root>/UCMerced_LandUse/Images/<class>/*.tif``; pointing root straight at the folder of class
sub-folders works too. A root that is the dataset's own folder (``.../UCMerced_LandUse``), one of
its class folders, or the folder above the data root is recognised, and the error names the root
that was meant rather than offering a download into the wrong place.
"""

from __future__ import annotations

import difflib
import inspect
import warnings
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar, TypeVar

import numpy as np
import torch

from rsdml.data.download import (
    UNSUPPORTED_FORMATS,
    ArchiveError,
    ChecksumError,
    DatasetNotFoundError,
    archive_format,
    download_and_extract,
    extract_archive,
    manual_hint,
    verify_checksum,
)
from rsdml.data.images import read_image
from rsdml.data.scenes import IMAGE_EXTENSIONS, SceneList, build_scene_list, class_folders
from rsdml.data.splits import DEFAULT_FRACTIONS, DEFAULT_SEED, make_split
from rsdml.errors import UserError
from rsdml.storage import DATA_ENV, data_root


class UnknownOptionError(UserError, TypeError):
    """A dataset option the dataset does not take; the message lists the options it does take."""


class NotDownloadableError(UserError, ValueError):
    """``download=True`` for a dataset that has nothing to download (``folder``)."""


class WrongRootError(DatasetNotFoundError):
    """The data root is the dataset's own folder (or a class folder, or the folder above); the
    message names the root that was meant. ``suggestion`` holds it."""

    def __init__(self, message: str, suggestion: Path | None = None):
        super().__init__(message)
        self.suggestion = suggestion


class SceneDataset(torch.utils.data.Dataset):
    """Base of every dataset description; an instance is a PyTorch dataset over one split.

    ``dataset[i]`` is ``{"image": float tensor (3, H, W) in [0, 1], "label": int, "index": int}``
    (index: position in the :class:`SceneList`), with ``transforms`` applied to the image tensor.
    Training code normally goes through :func:`load_scene_list` and
    :func:`~rsdml.data.cached_images` instead, which decode every image only once.

    Args:
        root: data root (see :func:`load_scene_list`).
        split: ``"train"``, ``"val"``, ``"test"`` (the papers' per-class split) or None / ``"all"``.
        transforms: applied to each float image tensor.
        download: fetch a missing known dataset.
        checksum: verify archives (see :func:`load_scene_list`).
        image_size: resize target: each image is resized to ``image_size`` x ``image_size`` when
            read; None keeps the size on disk (a published dataset's ``native_size``).
        fractions: train/val/test fractions of every class.
        seed: split seed (42: the papers' split).
        **options: dataset options (``synthetic`` only).
    """

    name: ClassVar[str] = ""
    title: ClassVar[str] = ""

    def __init__(
        self,
        root: str | Path | None = None,
        split: str | None = None,
        transforms: Callable[[torch.Tensor], torch.Tensor] | None = None,
        download: bool = False,
        checksum: bool | None = None,
        *,
        image_size: int | None = None,
        fractions: Sequence[float] = DEFAULT_FRACTIONS,
        seed: int = DEFAULT_SEED,
        **options: Any,
    ):
        type(self).check_options(options)
        self.scenes = type(self).scene_list(root, download=download, checksum=checksum, **options)
        self.split = make_split(self.scenes, fractions, seed)
        if split is None or split == "all":
            self.indices = np.arange(len(self.scenes), dtype=np.int64)
        elif split in ("train", "val", "test"):
            self.indices = getattr(self.split, split)
        else:
            raise ValueError(f"split must be 'train', 'val', 'test' or None, got {split!r}")
        self.transforms = transforms
        self.image_size = image_size

    def __len__(self) -> int:
        """Number of images in the selected split."""
        return len(self.indices)

    def __getitem__(self, item: int) -> dict[str, Any]:
        """One decoded sample of the selected split."""
        index = int(self.indices[item])
        array = read_image(self.scenes.files[index], self.image_size)
        image = torch.from_numpy(array.transpose(2, 0, 1).copy()).float() / 255.0
        if self.transforms is not None:
            image = self.transforms(image)
        return {"image": image, "label": int(self.scenes.labels[index]), "index": index}

    @classmethod
    def scene_list(
        cls,
        root: str | Path | None = None,
        *,
        download: bool = False,
        checksum: bool | None = None,
        **options: Any,
    ) -> SceneList:
        """The dataset's files and labels (see :func:`load_scene_list`)."""
        raise NotImplementedError

    @classmethod
    def describe(cls, root: str | Path | None = None) -> dict[str, Any]:
        """Name, title, class and image counts, the path looked at and whether it is present."""
        raise NotImplementedError

    @classmethod
    def option_names(cls) -> tuple[str, ...]:
        """The keyword options :meth:`scene_list` takes besides ``download`` and ``checksum``."""
        # Read from the signature so that the list cannot drift from what scene_list accepts.
        parameters = inspect.signature(cls.scene_list).parameters.values()
        return tuple(
            parameter.name
            for parameter in parameters
            if parameter.kind is inspect.Parameter.KEYWORD_ONLY
            and parameter.name not in ("download", "checksum")
        )

    @classmethod
    def check_options(cls, options: Mapping[str, Any]) -> None:
        """Raise :class:`UnknownOptionError`, listing the accepted options, for any other one."""
        accepted = cls.option_names()
        unknown = sorted(set(options) - set(accepted))
        if not unknown:
            return
        given = ", ".join(repr(name) for name in unknown)
        if accepted:
            close = difflib.get_close_matches(unknown[0], accepted, n=1)
            guess = f"did you mean {close[0]!r}? " if close else ""
            raise UnknownOptionError(
                f"dataset {cls.name!r} has no option {given}: {guess}its options are "
                f"{', '.join(accepted)} (CLI: --dataset-option KEY=VALUE)"
            )
        others = "; ".join(
            f"{name!r} takes {', '.join(other.option_names())}"
            for name, other in DATASETS.items()
            if other.option_names()
        )
        raise UnknownOptionError(
            f"dataset {cls.name!r} takes no options, got {given}: remove "
            f"{'it' if len(unknown) == 1 else 'them'} (CLI: --dataset-option)"
            + (f". Options exist only for: {others}" if others else "")
        )


class KnownDataset(SceneDataset):
    """A published dataset: facts as class attributes, presence checks and downloading."""

    homepage: ClassVar[str] = ""
    citation: ClassVar[str] = ""
    urls: ClassVar[tuple[str, ...]] = ()
    filename: ClassVar[str | None] = None
    md5: ClassVar[str | None] = None
    sha256: ClassVar[str | None] = None
    archive_size: ClassVar[str] = ""
    subdirs: ClassVar[tuple[str, ...]] = ()
    class_counts: ClassVar[dict[str, int]] = {}
    # The side of the images as published (an instance's ``image_size`` is the resize target).
    native_size: ClassVar[int] = 256
    classes: ClassVar[tuple[str, ...]] = ()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        # The class list is the sorted folder names, as every loader (and the papers' code) sees them.
        cls.classes = tuple(sorted(cls.class_counts))

    @classmethod
    def num_images(cls) -> int:
        """The official total number of images."""
        return sum(cls.class_counts.values())

    @classmethod
    def candidates(cls, root: str | Path | None = None) -> list[Path]:
        """Folders that may hold the class sub-folders: ``root/<subdir>`` for each known archive
        layout, then root itself."""
        base = data_root(root)
        return [base / subdir for subdir in cls.subdirs] + [base]

    @classmethod
    def locate(cls, root: str | Path | None = None) -> Path | None:
        """The folder holding this dataset's class sub-folders under ``root``, or None."""
        expected = set(cls.class_counts)
        for candidate in cls.candidates(root):
            if any(folder.name in expected for folder in class_folders(candidate)):
                return candidate
        return None

    @classmethod
    def _holds_classes(cls, folder: Path) -> bool:
        # Stricter than locate(): a suggestion must not come from one folder that merely shares
        # a class name (AID and EuroSAT both have "Forest" and "River").
        present = {entry.name for entry in class_folders(folder)}
        return len(present & set(cls.class_counts)) * 2 >= len(cls.class_counts)

    @classmethod
    def _root_above(cls, classes_folder: Path) -> Path:
        # The archive's own folder names above the class folders lead back to the data root;
        # under other names, the folder of class folders itself is the root that works.
        for subdir in cls.subdirs:
            parts = Path(subdir).parts
            if classes_folder.parts[-len(parts) :] == parts:
                return classes_folder.parents[len(parts) - 1]
        return classes_folder

    @classmethod
    def misplaced_root(cls, root: str | Path | None = None) -> tuple[Path, Path] | None:
        """``(root that was meant, folder holding the classes)`` when ``root`` is the dataset's
        own folder, one of its class folders, or the folder above the data root; else None."""
        base = data_root(root)
        if not base.is_dir():
            return None
        # A class folder itself, e.g. .../UCMerced_LandUse/Images/agricultural.
        if base.name in cls.class_counts and cls._holds_classes(base.parent):
            return cls._root_above(base.parent), base.parent
        # Inside the archive's top folder, e.g. .../UCMerced_LandUse (classes in its Images/).
        for subdir in cls.subdirs:
            parts = Path(subdir).parts
            for depth in range(1, len(parts)):
                inner = base.joinpath(*parts[depth:])
                if cls._holds_classes(inner):
                    return cls._root_above(inner), inner
        # One level above, e.g. /mnt when the data is in /mnt/data/UCMerced_LandUse.
        for child in class_folders(base):
            for inner in [child / subdir for subdir in cls.subdirs] + [child]:
                if cls._holds_classes(inner):
                    return cls._root_above(inner), inner
        return None

    @classmethod
    def wrong_root_error(cls, root: str | Path | None = None) -> WrongRootError | None:
        """The error for a misplaced root (see :meth:`misplaced_root`), or None."""
        found = cls.misplaced_root(root)
        if found is None:
            return None
        meant, classes_folder = found
        base = data_root(root)
        if meant == classes_folder:
            what = "the folder of class folders itself"
        else:
            what = f"the folder that holds {Path(cls.subdirs[0]).parts[0]}/"
        return WrongRootError(
            f"{cls.title} ({cls.name!r}) was not found with data root {base}, but its class "
            f"folders are in {classes_folder}: the data root should be {meant} ({what}). Pass "
            f"--root {meant} (the `root` argument) or set ${DATA_ENV}={meant}.",
            suggestion=meant,
        )

    @classmethod
    def not_found_message(cls, root: str | Path | None = None) -> str:
        """One paragraph: what is missing, where we looked, and how to get it."""
        base = data_root(root)
        looked = base / cls.subdirs[0] if cls.subdirs else base
        example = cls.classes[0]
        text = (
            f"{cls.title} ({cls.name!r}) was not found: looked for {looked}/<class>/ "
            f"(e.g. {looked / example}/) and found no class folders. "
        )
        if cls.urls:
            size = f", {cls.archive_size}" if cls.archive_size else ""
            text += (
                f"Pass download=True (CLI: --download) to fetch {cls.filename} ({cls.urls[0]}"
                f"{size}) automatically. "
            )
        return text + manual_hint(base, cls.urls, cls.homepage or None)

    @classmethod
    def describe(cls, root: str | Path | None = None) -> dict[str, Any]:
        """See :meth:`SceneDataset.describe` (presence = the class folders exist; not scanned)."""
        found = cls.locate(root)
        base = data_root(root)
        looked = found if found is not None else (base / cls.subdirs[0] if cls.subdirs else base)
        present = found is not None and all((found / name).is_dir() for name in cls.class_counts)
        return {
            "name": cls.name,
            "title": cls.title,
            "classes": len(cls.class_counts),
            "images": cls.num_images(),
            "path": str(looked),
            "present": present,
        }

    @classmethod
    def scene_list(
        cls,
        root: str | Path | None = None,
        *,
        download: bool = False,
        checksum: bool | None = None,
        **options: Any,
    ) -> SceneList:
        """Scan the dataset (downloading it first when asked and absent) and validate it.

        Missing classes raise :class:`DatasetNotFoundError`; other class counts than the official
        ones only warn (and unknown extra folders are ignored with a warning).

        Raises:
            DatasetNotFoundError: absent and ``download=False``, offline, or incomplete.
            WrongRootError: root is the dataset's own folder, a class folder or the folder above.
            ChecksumError, ArchiveError: the archive does not verify or cannot be read.
            UnknownOptionError: any option (known datasets take none).
        """
        cls.check_options(options)
        base = data_root(root)
        folder = cls.locate(root)
        if folder is None:
            # Before any download: fetching hundreds of MB into the wrong folder fixes nothing.
            wrong_root = cls.wrong_root_error(root)
            if wrong_root is not None:
                raise wrong_root
            archive = base / cls.filename if cls.filename else None
            if archive is not None and archive.is_file() and not (download and cls.urls):
                cls.unpack_archive(archive, base, checksum=bool(checksum))
            elif download:
                # With download=True, an archive already there is reused only if it verifies.
                download_and_extract(cls, base, checksum=checksum is not False)
            else:
                raise DatasetNotFoundError(cls.not_found_message(root))
            folder = cls.locate(root)
            if folder is None:
                raise DatasetNotFoundError(
                    f"{archive or cls.filename} was unpacked into {base} but the expected folder "
                    f"{base / cls.subdirs[0]} did not appear; the archive layout may have "
                    f"changed. {manual_hint(base, cls.urls, cls.homepage or None)}"
                )
        return cls.validated(folder)

    @classmethod
    def unpack_archive(cls, archive: Path, base: Path, *, checksum: bool = False) -> None:
        """Unpack an archive fetched by hand (or by an earlier run) into ``base``, as torchgeo
        does; it may be the user's own copy, so it is reported when bad but never deleted."""
        if cls.urls:
            fix = (
                "Delete it and run again with download=True (CLI: --download) to fetch "
                "it afresh, or fetch a good copy by hand."
            )
        else:
            fix = f"Delete it and fetch a good copy from {cls.homepage}."
        if checksum:
            try:
                verify_checksum(archive, md5=cls.md5, sha256=cls.sha256)
            except ChecksumError as error:
                raise ChecksumError(f"{error}. {fix}") from None
        try:
            extract_archive(archive, base)
        except ArchiveError as error:
            if archive_format(archive) in UNSUPPORTED_FORMATS:
                raise  # its message already says how to unpack it by hand
            raise ArchiveError(f"{error}. {fix}") from None

    @classmethod
    def validated(cls, folder: Path) -> SceneList:
        """Scan ``folder`` and check it against the official class list and counts."""
        present = {entry.name for entry in class_folders(folder)}
        expected = set(cls.class_counts)
        missing = sorted(expected - present)
        if missing:
            raise DatasetNotFoundError(
                f"{cls.title} at {folder} is incomplete: {len(missing)} of {len(expected)} class "
                f"folders are missing ({', '.join(missing[:10])}{', ...' if len(missing) > 10 else ''}). "
                f"Re-download it ({cls.urls[0] if cls.urls else cls.homepage}) or point --root "
                "(the `root` argument) or $RSDML_DATA at a complete copy."
            )
        extra = sorted(present - expected)
        if extra:
            warnings.warn(
                f"{folder} holds folders that are not {cls.title} classes; ignored: {extra}",
                stacklevel=3,
            )
        scenes = build_scene_list(cls.name, folder, cls.classes)
        empty = [name for name, count in scenes.counts().items() if count == 0]
        if empty:
            raise DatasetNotFoundError(
                f"{cls.title} at {folder}: class folders without images: {empty} "
                f"(accepted extensions: {sorted(IMAGE_EXTENSIONS)}, any letter case)"
            )
        off = {
            name: (count, cls.class_counts[name])
            for name, count in scenes.counts().items()
            if count != cls.class_counts[name]
        }
        if off:
            shown = ", ".join(
                f"{n}: {got} (expected {want})" for n, (got, want) in list(off.items())[:5]
            )
            warnings.warn(
                f"{cls.title} at {folder} has {len(scenes)} images instead of {cls.num_images()}; "
                f"{len(off)} classes differ from the official counts ({shown}"
                f"{', ...' if len(off) > 5 else ''})",
                stacklevel=3,
            )
        return scenes


# Every registered dataset by name, in the order `rsdml datasets` lists them; filled by
# :func:`register_dataset` (the built-in ones in :mod:`rsdml.data.datasets.registry`).
DATASETS: dict[str, type[SceneDataset]] = {}

DatasetClass = TypeVar("DatasetClass", bound="type[SceneDataset]")


def register_dataset(cls: DatasetClass) -> DatasetClass:
    """Add a dataset class to :data:`DATASETS` under its ``name`` (usable as a decorator)."""
    if not cls.name:
        raise ValueError(f"{cls.__name__} has no name to register it under")
    if cls.name in DATASETS and DATASETS[cls.name] is not cls:
        raise ValueError(f"dataset {cls.name!r} is already registered")
    DATASETS[cls.name] = cls
    return cls
