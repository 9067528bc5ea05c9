"""``synthetic``: the embedded procedural scenes of :mod:`rsdml.data.synthetic`, generated on first use."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rsdml.data.datasets.base import SceneDataset
from rsdml.data.scenes import SceneList, build_scene_list, class_folders
from rsdml.data.synthetic import (
    DEFAULT_IMAGE_SIZE,
    DEFAULT_IMAGES_PER_CLASS,
    DEFAULT_NUM_CLASSES,
    DEFAULT_SEED,
    generate_synthetic,
    synthetic_folder,
)


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
        num_classes: int = DEFAULT_NUM_CLASSES,
        images_per_class: int = DEFAULT_IMAGES_PER_CLASS,
        image_size: int = DEFAULT_IMAGE_SIZE,
        seed: int = DEFAULT_SEED,
        progress: bool | None = None,
    ) -> SceneList:
        """Generate (once) and list the scenes.

        They live in ``cache_dir()/synthetic/<key>``: ``root`` and ``$RSDML_DATA`` are ignored so
        that a data root shared with real datasets never receives generated files.
        """
        folder = generate_synthetic(
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
        folder = synthetic_folder()
        return {
            "name": cls.name,
            "title": cls.title,
            "classes": DEFAULT_NUM_CLASSES,
            "images": DEFAULT_NUM_CLASSES * DEFAULT_IMAGES_PER_CLASS,
            "path": str(folder),
            # Always available: generated in seconds on first use.
            "present": True,
        }
