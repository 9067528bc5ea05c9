"""``folder``: any folder whose sub-folders are the classes, read as it is (nothing to download)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rsdml.data.datasets.base import NotDownloadableError, SceneDataset, WrongRootError
from rsdml.data.download import DatasetNotFoundError
from rsdml.data.scenes import (
    IMAGE_EXTENSIONS,
    SceneList,
    build_scene_list,
    class_folders,
    holds_images,
    images_in,
)
from rsdml.storage import data_root


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
