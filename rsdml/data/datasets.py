"""Which scene datasets rsdml knows, where they live on disk, and how to list their images.

Every dataset is a class with torchgeo's constructor shape ``(root, split, transforms, download,
checksum)`` and its facts as class attributes (URLs, checksum, class list and counts, the folder
the official archive unpacks to). The main entry point is :func:`load_scene_list`, which returns a
:class:`SceneList` (files and labels, in a fixed order) for any registered name: the five known
datasets, ``"folder"`` (any folder of class sub-folders) and ``"synthetic"`` (generated here).

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
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch

from rsdml.data import synthetic
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
from rsdml.data.splits import DEFAULT_FRACTIONS, DEFAULT_SEED, make_split
from rsdml.errors import UserError
from rsdml.storage import DATA_ENV, data_root

# Compared case-insensitively: the official UC Merced release is .tif, the local copy .jpg.
IMAGE_EXTENSIONS = frozenset({".tif", ".tiff", ".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp"})


class UnknownDatasetError(UserError, KeyError):
    """A dataset name that is not registered; the message lists the known ones and the closest."""

    def __str__(self) -> str:
        """The message itself (a bare KeyError would show it quoted, like a dictionary key)."""
        return str(self.args[0]) if self.args else ""


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


class SceneDataset(torch.utils.data.Dataset):
    """Base of every dataset description; an instance is a PyTorch dataset over one split.

    ``dataset[i]`` is ``{"image": float tensor (3, H, W) in [0, 1], "label": int, "index": int}``
    (index: position in the :class:`SceneList`), with ``transforms`` applied to the image tensor.
    Training code normally goes through :func:`load_scene_list` and
    :func:`~rsdml.data.cached_images` instead, which decode every image only once.
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
    image_size: ClassVar[int] = 256
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


class UCMerced(KnownDataset):
    """UC Merced Land Use (Yang & Newsam, ACM SIGSPATIAL GIS 2010): 21 classes x 100, 256 px, TIFF."""

    name = "ucmerced"
    title = "UC Merced Land Use"
    homepage = "http://weegee.vision.ucmerced.edu/datasets/landuse.html"
    citation = "Yang & Newsam, Bag-of-visual-words and spatial extensions for land-use classification, ACM GIS 2010"
    # Official host first, then torchgeo's Hugging Face mirror; torchgeo uses the same MD5 for both.
    urls = (
        "http://weegee.vision.ucmerced.edu/datasets/UCMerced_LandUse.zip",
        "https://huggingface.co/datasets/torchgeo/ucmerced/resolve/main/UCMerced_LandUse.zip",
    )
    filename = "UCMerced_LandUse.zip"
    md5 = "5b7ec56793786b6dc8a908e8854ac0e4"
    archive_size = "about 318 MB"
    subdirs = ("UCMerced_LandUse/Images",)
    class_counts = dict.fromkeys(
        (
            "agricultural",
            "airplane",
            "baseballdiamond",
            "beach",
            "buildings",
            "chaparral",
            "denseresidential",
            "forest",
            "freeway",
            "golfcourse",
            "harbor",
            "intersection",
            "mediumresidential",
            "mobilehomepark",
            "overpass",
            "parkinglot",
            "river",
            "runway",
            "sparseresidential",
            "storagetanks",
            "tenniscourt",
        ),
        100,
    )
    image_size = 256


class AID(KnownDataset):
    """AID (Xia et al., TGRS 2017): 30 classes, 220-420 images each (10,000), 600 px, JPEG."""

    name = "aid"
    title = "AID (Aerial Image Dataset)"
    homepage = "https://captain-whu.github.io/AID/"
    citation = "Xia et al., AID: a benchmark data set for performance evaluation of aerial scene classification, TGRS 2017"
    # The authors publish AID only through Baidu Pan / OneDrive share pages (no direct link and no
    # checksum), so it cannot be fetched automatically. The archive name and its top folder "AID/"
    # (the layout the RNSL/SNCA-CE code reads: <data>/AID/<Class>/*.jpg) are UNVERIFIED here.
    urls = ()
    filename = "AID.zip"
    subdirs = ("AID",)
    # Per-class counts as listed by third-party metadata (they sum to the official 10,000).
    class_counts = {
        "Airport": 360,
        "BareLand": 310,
        "BaseballField": 220,
        "Beach": 400,
        "Bridge": 360,
        "Center": 260,
        "Church": 240,
        "Commercial": 350,
        "DenseResidential": 410,
        "Desert": 300,
        "Farmland": 370,
        "Forest": 250,
        "Industrial": 390,
        "Meadow": 280,
        "MediumResidential": 290,
        "Mountain": 340,
        "Park": 350,
        "Parking": 390,
        "Playground": 370,
        "Pond": 420,
        "Port": 380,
        "RailwayStation": 260,
        "Resort": 290,
        "River": 410,
        "School": 300,
        "SparseResidential": 300,
        "Square": 330,
        "Stadium": 290,
        "StorageTanks": 360,
        "Viaduct": 420,
    }
    image_size = 600


class NWPURESISC45(KnownDataset):
    """NWPU-RESISC45 (Cheng et al., Proc. IEEE 2017): 45 classes x 700, 256 px, JPEG."""

    name = "nwpu_resisc45"
    title = "NWPU-RESISC45"
    homepage = "https://doi.org/10.1109/JPROC.2017.2675998"
    citation = "Cheng, Han & Lu, Remote sensing image scene classification: benchmark and state of the art, Proc. IEEE 2017"
    # The official release is a RAR on OneDrive (no direct link); this is torchgeo's zip mirror of
    # it, with torchgeo's MD5 (not re-computed here). The zip unpacks to NWPU-RESISC45/<class>/.
    urls = (
        "https://hf.co/datasets/torchgeo/resisc45/resolve/"
        "a826b44d938a883185f11ebe3d512d38b464312f/NWPU-RESISC45.zip",
    )
    filename = "NWPU-RESISC45.zip"
    md5 = "75206b2e16446591afa88e2628744886"
    archive_size = "about 400 MB"
    subdirs = ("NWPU-RESISC45",)
    class_counts = dict.fromkeys(
        (
            "airplane",
            "airport",
            "baseball_diamond",
            "basketball_court",
            "beach",
            "bridge",
            "chaparral",
            "church",
            "circular_farmland",
            "cloud",
            "commercial_area",
            "dense_residential",
            "desert",
            "forest",
            "freeway",
            "golf_course",
            "ground_track_field",
            "harbor",
            "industrial_area",
            "intersection",
            "island",
            "lake",
            "meadow",
            "medium_residential",
            "mobile_home_park",
            "mountain",
            "overpass",
            "palace",
            "parking_lot",
            "railway",
            "railway_station",
            "rectangular_farmland",
            "river",
            "roundabout",
            "runway",
            "sea_ice",
            "ship",
            "snowberg",
            "sparse_residential",
            "stadium",
            "storage_tank",
            "tennis_court",
            "terrace",
            "thermal_power_station",
            "wetland",
        ),
        700,
    )
    image_size = 256


class PatternNet(KnownDataset):
    """PatternNet (Zhou et al., ISPRS J. 2018): 38 classes x 800, 256 px, JPEG."""

    name = "patternnet"
    title = "PatternNet"
    homepage = "https://sites.google.com/view/zhouwx/dataset"
    citation = "Zhou et al., PatternNet: a benchmark dataset for performance evaluation of remote sensing image retrieval, ISPRS J. 2018"
    # The official copy is a Google Drive file (id 127lxXYqzO6Bd0yZhvEbgIfz95HaEnr9K) that plain
    # HTTP cannot fetch; this Hugging Face mirror URL is UNVERIFIED (seen in third-party code).
    # MD5 is torchgeo's for the Drive archive; that the mirror is byte-identical is UNVERIFIED.
    urls = (
        "https://hf.co/datasets/torchgeo/PatternNet/resolve/"
        "2dbd901b00e301967a5c5146b25454f5d3455ad0/PatternNet.zip",
    )
    filename = "PatternNet.zip"
    md5 = "96d54b3224c5350a98d55d5a7e6984ad"
    archive_size = "about 1.4 GB"
    subdirs = ("PatternNet/images",)
    class_counts = dict.fromkeys(
        (
            "airplane",
            "baseball_field",
            "basketball_court",
            "beach",
            "bridge",
            "cemetery",
            "chaparral",
            "christmas_tree_farm",
            "closed_road",
            "coastal_mansion",
            "crosswalk",
            "dense_residential",
            "ferry_terminal",
            "football_field",
            "forest",
            "freeway",
            "golf_course",
            "harbor",
            "intersection",
            "mobile_home_park",
            "nursing_home",
            "oil_gas_field",
            "oil_well",
            "overpass",
            "parking_lot",
            "parking_space",
            "railway",
            "river",
            "runway",
            "runway_marking",
            "shipping_yard",
            "solar_panel",
            "sparse_residential",
            "storage_tank",
            "swimming_pool",
            "tennis_court",
            "transformer_station",
            "wastewater_treatment_plant",
        ),
        800,
    )
    image_size = 256


class EuroSAT(KnownDataset):
    """EuroSAT RGB (Helber et al., JSTARS 2019): 10 classes, 2,000-3,000 each (27,000), 64 px, JPEG."""

    name = "eurosat"
    title = "EuroSAT (RGB)"
    homepage = "https://github.com/phelber/EuroSAT"
    citation = "Helber et al., EuroSAT: a novel dataset and deep learning benchmark for land use and land cover classification, JSTARS 2019"
    # Official DFKI host, then torchgeo's mirror; torchvision and torchgeo give this MD5 for both.
    # The archive unpacks to "2750/<class>/"; the newer Zenodo release (record 7711810,
    # EuroSAT_RGB.zip) unpacks to "EuroSAT_RGB/<class>/" and is accepted when present.
    urls = (
        "https://madm.dfki.de/files/sentinel/EuroSAT.zip",
        "https://huggingface.co/datasets/torchgeo/eurosat/resolve/"
        "c877bcd43f099cd0196738f714544e355477f3fd/EuroSAT.zip",
    )
    filename = "EuroSAT.zip"
    md5 = "c8fa014336c82ac7804f0398fcb19387"
    archive_size = "about 90 MB"
    subdirs = ("2750", "EuroSAT_RGB")
    class_counts = {
        "AnnualCrop": 3000,
        "Forest": 3000,
        "HerbaceousVegetation": 3000,
        "Highway": 2500,
        "Industrial": 2500,
        "Pasture": 2000,
        "PermanentCrop": 2500,
        "Residential": 3000,
        "River": 2500,
        "SeaLake": 3000,
    }
    image_size = 64


class ImageFolderScenes(SceneDataset):
    """Any folder whose sub-folders are the classes (``root/<class>/<image>``)."""

    name = "folder"
    title = "Image folder (root/<class>/<image>)"

    @classmethod
    def scene_list(
        cls,
        root: str | Path | None = None,
        *,
        download: bool = False,
        checksum: bool | None = None,
        **options: Any,
    ) -> SceneList:
        """Every visible sub-folder of root is a class; images of any common extension.

        Raises:
            DatasetNotFoundError: root missing, fewer than 2 class folders, or an empty class.
        """
        cls.check_options(options)
        if download:
            raise NotDownloadableError(
                f"dataset {cls.name!r} reads a folder you already have and cannot be downloaded: "
                "drop --download (pass download=False)"
            )
        base = data_root(root)
        folders = class_folders(base)
        if len(folders) < 2:
            problem = (
                f"{base} is not a folder of class sub-folders (found {len(folders)} sub-folders, "
                "need at least 2)"
            )
            fix = (
                "point --root (the `root` argument) or $RSDML_DATA at a folder laid out as "
                "<root>/<class>/<image>"
            )
            if len(folders) == 1 and len(class_folders(folders[0])) >= 2:
                # One level too high, e.g. the dataset's top folder around its Images/.
                raise WrongRootError(
                    f"{problem}; its one sub-folder {folders[0]} holds "
                    f"{len(class_folders(folders[0]))} folders: if those are the classes, pass "
                    f"--root {folders[0]}",
                    suggestion=folders[0],
                )
            if not folders and holds_images(base) and len(class_folders(base.parent)) >= 2:
                # One level too deep: a class folder, whose siblings are the other classes.
                raise WrongRootError(
                    f"{problem}; it holds images itself, so it looks like one class folder: if "
                    f"the classes are the folders next to it, pass --root {base.parent}",
                    suggestion=base.parent,
                )
            raise DatasetNotFoundError(f"{problem}: {fix}")
        scenes = build_scene_list(cls.name, base, [folder.name for folder in folders])
        empty = [name for name, count in scenes.counts().items() if count == 0]
        if len(empty) == len(folders):
            # No image one level down: the classes may be one level further down.
            deeper = [folder for folder in folders if any(map(holds_images, class_folders(folder)))]
            if deeper:
                raise WrongRootError(
                    f"the sub-folders of {base} hold folders, not images, so {base} looks one "
                    f"level above a folder of classes: pass --root {deeper[0]}"
                    + (f" (or {', '.join(map(str, deeper[1:]))})" if len(deeper) > 1 else ""),
                    suggestion=deeper[0],
                )
        if empty:
            raise DatasetNotFoundError(
                f"class folders without images under {base}: {empty} (accepted extensions: "
                f"{sorted(IMAGE_EXTENSIONS)}, any letter case); remove them or add images"
            )
        return scenes

    @classmethod
    def describe(cls, root: str | Path | None = None) -> dict[str, Any]:
        """See :meth:`SceneDataset.describe` (counts are scanned only when present)."""
        base = data_root(root)
        folders = class_folders(base)
        images = sum(len(images_in(folder)) for folder in folders) if len(folders) >= 2 else 0
        return {
            "name": cls.name,
            "title": cls.title,
            "classes": len(folders),
            "images": images,
            "path": str(base),
            "present": len(folders) >= 2 and images > 0,
        }


class SyntheticScenes(SceneDataset):
    """Procedural aerial-like scenes generated on first use (see :mod:`rsdml.data.synthetic`)."""

    name = "synthetic"
    title = "Synthetic aerial-like scenes (generated, no download)"

    @classmethod
    def scene_list(
        cls,
        root: str | Path | None = None,
        *,
        download: bool = False,
        checksum: bool | None = None,
        num_classes: int = synthetic.DEFAULT_NUM_CLASSES,
        images_per_class: int = synthetic.DEFAULT_IMAGES_PER_CLASS,
        image_size: int = synthetic.DEFAULT_IMAGE_SIZE,
        seed: int = synthetic.DEFAULT_SEED,
        progress: bool | None = None,
    ) -> SceneList:
        """Generate (once) and list the scenes.

        They live in ``cache_dir()/synthetic/<key>``: ``root`` and ``$RSDML_DATA`` are ignored so
        that a data root shared with real datasets never receives generated files.
        """
        folder = synthetic.generate_synthetic(
            num_classes=num_classes,
            images_per_class=images_per_class,
            image_size=image_size,
            seed=seed,
            progress=progress,
        )
        return build_scene_list(cls.name, folder, [entry.name for entry in class_folders(folder)])

    @classmethod
    def describe(cls, root: str | Path | None = None) -> dict[str, Any]:
        """See :meth:`SceneDataset.describe` (the default configuration)."""
        folder = synthetic.synthetic_folder()
        return {
            "name": cls.name,
            "title": cls.title,
            "classes": synthetic.DEFAULT_NUM_CLASSES,
            "images": synthetic.DEFAULT_NUM_CLASSES * synthetic.DEFAULT_IMAGES_PER_CLASS,
            "path": str(folder),
            # Always available: generated in seconds on first use.
            "present": True,
        }


DATASETS: dict[str, type[SceneDataset]] = {
    cls.name: cls
    for cls in (
        UCMerced,
        AID,
        NWPURESISC45,
        PatternNet,
        EuroSAT,
        ImageFolderScenes,
        SyntheticScenes,
    )
}

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
