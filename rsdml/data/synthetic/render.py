"""Rendering one synthetic scene (and a whole configuration in memory), deterministically.

Every image is drawn from a generator seeded by ``(seed, class, image index)``, supersampled at twice
the requested size, given per-image acquisition jitter and averaged down.
"""

from __future__ import annotations

import math

import numpy as np

import rsdml.data.synthetic.draw as draw
from rsdml.data.synthetic.classes import DISTRACTORS, MAX_CLASSES, SCENES, SYNTHETIC_CLASSES
from rsdml.data.synthetic.draw import Array

# Part of the generated folders' cache key: bump it whenever a rendered pixel changes.
GENERATOR_VERSION = 1
DEFAULT_NUM_CLASSES = 10
DEFAULT_IMAGES_PER_CLASS = 60
DEFAULT_IMAGE_SIZE = 64
DEFAULT_SEED = 0
MIN_IMAGE_SIZE = 16


# --------------------------------------------------------------------------- rendering


def scene_rng(seed: int, class_name: str, index: int) -> np.random.Generator:
    """The generator of one image: independent of how many classes or images are requested."""
    return np.random.default_rng([int(seed), SYNTHETIC_CLASSES.index(class_name), int(index)])


def _acquire(rng: np.random.Generator, image: Array, size: int) -> Array:
    """Acquisition jitter on the supersampled scene, then the average down to ``size``:
    exposure, white balance, saturation, contrast, haze, an illumination gradient, defocus blur
    and sensor noise."""
    render = image.shape[0]
    image = image * (rng.uniform(0.75, 1.25) * rng.uniform(0.9, 1.1, 3).astype(np.float32))
    gray = image.mean(axis=2, keepdims=True)
    image = gray + (image - gray) * rng.uniform(0.55, 1.35)
    mean = image.mean(axis=(0, 1), keepdims=True)
    image = mean + (image - mean) * rng.uniform(0.75, 1.25)
    haze = rng.uniform(0.0, 0.2)
    image = image * (1 - haze) + haze * draw.colour(rng, (0.72, 0.75, 0.8), 0.03)
    u, _v = draw.rotated(render, rng.uniform(0, 2 * math.pi))
    image *= 1 + rng.uniform(0.0, 0.2) * (u / render)[..., None]
    image = image.reshape(size, 2, size, 2, 3).mean(axis=(1, 3))
    if rng.random() < 0.5:
        padded = np.pad(image, ((1, 1), (1, 1), (0, 0)), mode="edge")
        box = sum(padded[dy : dy + size, dx : dx + size] for dy in range(3) for dx in range(3)) / 9
        blur = rng.uniform(0.2, 0.9)
        image = (1 - blur) * image + blur * box
    image = image + rng.normal(0, rng.uniform(0.008, 0.03), image.shape).astype(np.float32)
    return image


def render_scene(
    class_name: str, rng: np.random.Generator, size: int = DEFAULT_IMAGE_SIZE
) -> Array:
    """Draw one scene of ``class_name`` as an (size, size, 3) uint8 RGB array."""
    if class_name not in SCENES:
        raise KeyError(f"unknown synthetic class {class_name!r}; known: {SYNTHETIC_CLASSES}")
    if size < MIN_IMAGE_SIZE:
        raise ValueError(f"synthetic images need at least {MIN_IMAGE_SIZE} px, got {size}")
    render = 2 * size  # supersampled, then averaged down
    image = SCENES[class_name](rng, render).astype(np.float32)
    for probability, add in DISTRACTORS[class_name]:
        if rng.random() < probability:
            add(rng, image)
    image = _acquire(rng, image, size)
    return np.clip(np.rint(image * 255), 0, 255).astype(np.uint8)


def check_configuration(num_classes: int, images_per_class: int, image_size: int) -> None:
    """Raise ValueError for a class count, image count or image size that cannot be rendered."""
    if not 2 <= num_classes <= MAX_CLASSES:
        raise ValueError(f"num_classes must be in [2, {MAX_CLASSES}], got {num_classes}")
    if images_per_class < 1:
        raise ValueError(f"images_per_class must be positive, got {images_per_class}")
    if image_size < MIN_IMAGE_SIZE:
        raise ValueError(f"image_size must be at least {MIN_IMAGE_SIZE}, got {image_size}")


def synthetic_arrays(
    num_classes: int = DEFAULT_NUM_CLASSES,
    images_per_class: int = DEFAULT_IMAGES_PER_CLASS,
    image_size: int = DEFAULT_IMAGE_SIZE,
    seed: int = DEFAULT_SEED,
) -> tuple[Array, Array, tuple[str, ...]]:
    """Render in memory: ``(images (N, 3, S, S) uint8, labels, classes)``, no files written."""
    check_configuration(num_classes, images_per_class, image_size)
    classes = SYNTHETIC_CLASSES[:num_classes]
    images = np.empty((num_classes * images_per_class, 3, image_size, image_size), np.uint8)
    for label, name in enumerate(classes):
        for index in range(images_per_class):
            image = render_scene(name, scene_rng(seed, name, index), image_size)
            images[label * images_per_class + index] = image.transpose(2, 0, 1)
    labels = np.repeat(np.arange(num_classes, dtype=np.int64), images_per_class)
    return images, labels, classes
