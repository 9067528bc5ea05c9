"""Writing a synthetic configuration to disk once, as a folder of class sub-folders of PNG files."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from PIL import Image

from rsdml.data.synthetic.classes import SYNTHETIC_CLASSES
from rsdml.data.synthetic.render import (
    DEFAULT_IMAGE_SIZE,
    DEFAULT_IMAGES_PER_CLASS,
    DEFAULT_NUM_CLASSES,
    DEFAULT_SEED,
    GENERATOR_VERSION,
    check_configuration,
    render_scene,
    scene_rng,
)
from rsdml.runtime import progress as progress_bar
from rsdml.storage import atomic_write_json, cache_dir, content_key, temporary_folder


def synthetic_folder(
    num_classes: int = DEFAULT_NUM_CLASSES,
    images_per_class: int = DEFAULT_IMAGES_PER_CLASS,
    image_size: int = DEFAULT_IMAGE_SIZE,
    seed: int = DEFAULT_SEED,
    root: str | os.PathLike | None = None,
) -> Path:
    """Where a configuration is (or will be) written: ``<parent>/<content key>``."""
    parent = Path(root) if root is not None else cache_dir() / "synthetic"
    key = content_key(
        "synthetic", GENERATOR_VERSION, num_classes, images_per_class, image_size, seed
    )
    return parent / key


def generate_synthetic(
    num_classes: int = DEFAULT_NUM_CLASSES,
    images_per_class: int = DEFAULT_IMAGES_PER_CLASS,
    image_size: int = DEFAULT_IMAGE_SIZE,
    seed: int = DEFAULT_SEED,
    root: str | os.PathLike | None = None,
    progress: bool | None = None,
) -> Path:
    """Write the PNG files of a configuration once and return their folder.

    Layout: ``<folder>/<class>/<class>_<NNNN>.png`` plus ``manifest.json``. The files are rendered
    into a temporary sibling folder that is renamed into place when complete, so a folder that
    exists is always whole; a second call returns at once.
    """
    check_configuration(num_classes, images_per_class, image_size)
    folder = synthetic_folder(num_classes, images_per_class, image_size, seed, root)
    if (folder / "manifest.json").is_file():
        return folder
    if folder.exists():
        shutil.rmtree(folder)  # not written by us (no manifest): rebuild it
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = temporary_folder(folder.parent, prefix=f".{folder.name}-")
    try:
        classes = SYNTHETIC_CLASSES[:num_classes]
        jobs = [(name, index) for name in classes for index in range(images_per_class)]
        for name, index in progress_bar(
            jobs, desc="synthetic scenes", total=len(jobs), enabled=progress
        ):
            image = render_scene(name, scene_rng(seed, name, index), image_size)
            target = staging / name / f"{name}_{index:04d}.png"
            target.parent.mkdir(exist_ok=True)
            Image.fromarray(image).save(target, format="PNG", compress_level=1)
        atomic_write_json(
            staging / "manifest.json",
            {
                "generator_version": GENERATOR_VERSION,
                "num_classes": num_classes,
                "images_per_class": images_per_class,
                "image_size": image_size,
                "seed": seed,
                "classes": list(classes),
            },
        )
        try:
            os.replace(staging, folder)
        except OSError:
            if not (folder / "manifest.json").is_file():
                raise  # someone else's complete copy is fine; anything else is an error
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return folder
