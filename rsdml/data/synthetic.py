"""A small, embedded, procedurally drawn aerial-scene dataset: no download, deterministic, seconds.

Every image is drawn with numpy from a generator seeded by ``(seed, class, image index)``, so a
scene does not depend on how many classes or images are requested. Scenes are rendered at twice
the requested size and averaged down (anti-aliasing), then given per-image colour, illumination
and sensor-noise jitter. Intra-class variation comes from orientation, scale, density, palette
and occasional distractors (a trail through a forest, trees over a parking lot). A few classes
are deliberately confusable -- dense vs sparse residential, forest vs chaparral, water vs beach vs
river, runway vs freeway, golf course vs meadow -- so that metric-learning methods can differ.

The study default is :data:`DEFAULT_NUM_CLASSES` classes x :data:`DEFAULT_IMAGES_PER_CLASS`
images at :data:`DEFAULT_IMAGE_SIZE` px; up to :data:`MAX_CLASSES` classes and any size from 16 px
(128 px is the largest size the look is tuned for) are available.
"""

from __future__ import annotations

import math
import os
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image

from rsdml.runtime import progress as progress_bar
from rsdml.storage import atomic_write_json, cache_dir, content_key, temporary_folder

GENERATOR_VERSION = 1
DEFAULT_NUM_CLASSES = 10
DEFAULT_IMAGES_PER_CLASS = 60
DEFAULT_IMAGE_SIZE = 64
DEFAULT_SEED = 0
MIN_IMAGE_SIZE = 16

Array = np.ndarray
Painter = Callable[[np.random.Generator, int], Array]


# --------------------------------------------------------------------------- building blocks


def _grid(size: int) -> tuple[Array, Array]:
    """Pixel-centre coordinates (y, x)."""
    axis = np.arange(size, dtype=np.float32) + 0.5
    return np.meshgrid(axis, axis, indexing="ij")


def _rotated(
    size: int, angle: float, rng: np.random.Generator | None = None, spread: float = 0.5
) -> tuple[Array, Array]:
    """Coordinates (u along ``angle``, v across it) in pixels, about the image centre moved by up
    to ``spread`` x size when a generator is given."""
    y, x = _grid(size)
    cy = cx = size / 2
    if rng is not None:
        cy += rng.uniform(-spread, spread) * size
        cx += rng.uniform(-spread, spread) * size
    c, s = math.cos(angle), math.sin(angle)
    u = (x - cx) * c + (y - cy) * s
    v = -(x - cx) * s + (y - cy) * c
    return u, v


def _upsample(grid: Array, size: int) -> Array:
    """Smooth (smoothstep-bilinear) interpolation of a coarse square grid to size x size."""
    cells = grid.shape[0] - 1
    t = np.linspace(0.0, cells, size, endpoint=False)
    index = np.minimum(t.astype(np.int64), cells - 1)
    frac = (t - index).astype(np.float32)
    frac = frac * frac * (3 - 2 * frac)
    rows = grid[index] * (1 - frac)[:, None] + grid[index + 1] * frac[:, None]
    return rows[:, index] * (1 - frac)[None, :] + rows[:, index + 1] * frac[None, :]


def _noise(rng: np.random.Generator, size: int, feature: float, octaves: int = 3) -> Array:
    """Fractal value noise in [0, 1] whose coarsest features are about ``feature`` pixels."""
    total = np.zeros((size, size), dtype=np.float32)
    amplitude, weight = 1.0, 0.0
    for octave in range(octaves):
        cells = max(1, int(round(size / max(feature / 2**octave, 1.0))))
        total += amplitude * _upsample(rng.random((cells + 2, cells + 2), dtype=np.float32), size)
        weight += amplitude
        amplitude *= 0.5
    total /= weight
    low, high = float(total.min()), float(total.max())
    return (total - low) / max(high - low, 1e-6)


def _shade(height: Array, strength: float, azimuth: float = 2.4) -> Array:
    """Hill-shading of a height field, about 1 on flat ground (sun from the upper left)."""
    gy, gx = np.gradient(height)
    light = -(gx * math.cos(azimuth) + gy * math.sin(azimuth))
    return 1.0 + strength * light


def _colour(rng: np.random.Generator, base: tuple[float, float, float], jitter: float) -> Array:
    """A colour near ``base`` (RGB in [0, 1])."""
    return np.clip(np.asarray(base, dtype=np.float32) + rng.normal(0, jitter, 3), 0, 1).astype(
        np.float32
    )


def _paint(image: Array, mask: Array, colour: Array, alpha: float | Array = 1.0) -> None:
    """Blend ``colour`` (RGB, or an RGB image) into ``image`` where ``mask`` (bool or [0, 1])."""
    if mask.dtype == bool and np.isscalar(alpha):
        # Boolean masks touch only their own pixels (much faster than a full-image blend).
        if not mask.any():
            return
        source = colour[mask] if np.ndim(colour) == 3 else colour
        image[mask] = source if alpha >= 1 else image[mask] * (1 - alpha) + alpha * source
        return
    weight = (mask.astype(np.float32) * alpha)[..., None]
    image *= 1 - weight
    image += weight * colour


def _textured(
    rng: np.random.Generator,
    size: int,
    colour: Array,
    amount: float,
    feature: float,
    hue: float = 0.2,
) -> Array:
    """A flat colour modulated by noise in brightness and (by ``hue``) in colour."""
    field = _noise(rng, size, feature)[..., None] - 0.5
    tint = (_noise(rng, size, feature * 2, octaves=1)[..., None] - 0.5) * rng.normal(0, hue, 3)
    return np.clip(colour * (1 + amount * field + amount * tint.astype(np.float32)), 0, 1)


def _shadow(mask: Array, size: int, length: float) -> Array:
    """Where a raised mask casts its shadow (down-right), excluding the mask itself."""
    shift = max(1, int(round(length * size)))
    cast = np.zeros_like(mask)
    cast[shift:, shift:] = mask[:-shift, :-shift]
    return cast & ~mask


def _cells(
    rng: np.random.Generator, u: Array, v: Array, cell_u: float, cell_v: float, fields: int
) -> tuple[Array, Array, Array, Array, Array]:
    """Cell indices, in-cell coordinates in [0, 1) and per-cell random parameters."""
    iu, iv = np.floor(u / cell_u), np.floor(v / cell_v)
    fu, fv = u / cell_u - iu, v / cell_v - iv
    table = rng.random((64, 64, fields), dtype=np.float32)
    params = table[iu.astype(np.int64) % 64, iv.astype(np.int64) % 64]
    return iu.astype(np.int64), iv.astype(np.int64), fu, fv, params


def _trees(
    rng: np.random.Generator, image: Array, count: int, radius: tuple[float, float]
) -> Array:
    """Scatter shaded round tree crowns; returns the crown mask."""
    size = image.shape[0]
    y, x = _grid(size)
    crowns = np.zeros((size, size), dtype=bool)
    green = _colour(rng, (0.16, 0.30, 0.13), 0.03)
    for _ in range(count):
        cy, cx = rng.uniform(0, size, 2)
        r = rng.uniform(*radius) * size
        y0, y1 = max(int(cy - r - 1), 0), min(int(cy + r + 2), size)
        x0, x1 = max(int(cx - r - 1), 0), min(int(cx + r + 2), size)
        if y0 >= y1 or x0 >= x1:
            continue
        dy, dx = y[y0:y1, x0:x1] - cy, x[y0:y1, x0:x1] - cx
        inside = dy * dy + dx * dx <= r * r
        light = np.clip(0.85 - 0.35 * (dy + dx) / (2 * r), 0.45, 1.2)[..., None]
        patch = image[y0:y1, x0:x1]
        tone = green * rng.uniform(0.8, 1.2)
        patch[inside] = (tone * light)[inside]
        crowns[y0:y1, x0:x1] |= inside
    shade = _shadow(crowns, size, 0.012)
    image[shade] *= 0.6
    return crowns


def _road(
    image: Array,
    across: Array,
    width: float,
    asphalt: Array,
    along: Array | None = None,
    dashes: bool = True,
) -> Array:
    """A straight road |across| < width/2 with edge and dashed centre markings; returns its mask."""
    road = np.abs(across) < width / 2
    _paint(image, road, asphalt)
    edge = road & (np.abs(np.abs(across) - width * 0.42) < max(width * 0.03, 0.5))
    _paint(image, edge, np.array([0.8, 0.8, 0.76], np.float32), 0.7)
    if dashes and along is not None:
        dash = (
            road & (np.abs(across) < max(width * 0.03, 0.5)) & ((along / (width * 0.6)) % 1 < 0.5)
        )
        _paint(image, dash, np.array([0.92, 0.9, 0.7], np.float32), 0.85)
    return road


def _cars(
    rng: np.random.Generator,
    image: Array,
    along: Array,
    across: Array,
    lane_centres: list[float],
    length: float,
    occupancy: float,
) -> None:
    """Cars as small coloured rectangles with a dark windscreen, along lanes of a road frame."""
    palette = np.array(
        [
            [0.92, 0.92, 0.9],
            [0.1, 0.1, 0.12],
            [0.6, 0.62, 0.64],
            [0.7, 0.12, 0.1],
            [0.15, 0.25, 0.6],
        ],
        np.float32,
    )
    slot = length * 1.8
    index = np.floor(along / slot)
    frac = along / slot - index
    table = rng.random((256, 3), dtype=np.float32)
    for lane, centre in enumerate(lane_centres):
        params = table[(index.astype(np.int64) * 7 + lane * 31) % 256]
        body = (np.abs(across - centre) < length * 0.22) & (np.abs(frac - 0.5) < 0.28)
        body &= params[..., 0] < occupancy
        colours = palette[(params[..., 1] * len(palette)).astype(np.int64) % len(palette)]
        _paint(image, body, colours)
        screen = body & (np.abs(frac - 0.62) < 0.06)
        _paint(image, screen, np.array([0.08, 0.09, 0.1], np.float32), 0.8)


# --------------------------------------------------------------------------- the scenes


def _agricultural(rng: np.random.Generator, size: int) -> Array:
    crops = np.array(
        [
            [0.33, 0.47, 0.2],
            [0.5, 0.6, 0.28],
            [0.72, 0.68, 0.4],
            [0.52, 0.41, 0.3],
            [0.38, 0.3, 0.22],
            [0.66, 0.6, 0.5],
            [0.25, 0.38, 0.16],
        ],
        np.float32,
    )
    image = np.zeros((size, size, 3), np.float32)
    angle = rng.uniform(0, math.pi)
    split_u, _ = _rotated(size, rng.uniform(0, math.pi), rng)
    blocks = [split_u < 0, split_u >= 0] if rng.random() < 0.6 else [np.ones((size, size), bool)]
    for block in blocks:
        u, v = _rotated(size, angle, rng)
        width = rng.uniform(0.06, 0.2) * size
        strip = np.floor(u / width).astype(np.int64)
        table = crops[rng.integers(0, len(crops), 64)] * rng.uniform(0.85, 1.15, (64, 1))
        colour = table[strip % 64]
        period = rng.uniform(0.015, 0.035) * size
        furrows = 1 + rng.uniform(0.04, 0.14) * np.sin(2 * np.pi * u / period)[..., None]
        edge = ((u / width) % 1 < 0.06)[..., None]
        colour = colour * furrows * np.where(edge, 0.75, 1.0)
        _paint(image, block, colour)
        angle += rng.choice([math.pi / 2, rng.uniform(0.3, 1.2)])
    image *= 1 + 0.15 * (_noise(rng, size, size / 2)[..., None] - 0.5)
    return image


def _forest(rng: np.random.Generator, size: int) -> Array:
    crown = rng.uniform(0.03, 0.08) * size
    height = _noise(rng, size, crown, octaves=2)
    shade = _shade(height * size / crown, rng.uniform(1.5, 3.0))
    # Mostly dark green; some stands olive (dry or mixed), which brings them close to chaparral.
    tone = (0.24, 0.3, 0.15) if rng.random() < 0.3 else (0.14, 0.27, 0.12)
    base = _colour(rng, tone, 0.03)
    image = base * np.clip(shade, 0.3, 1.6)[..., None]
    image *= 1 + 0.25 * (_noise(rng, size, size / 3)[..., None] - 0.5)
    gaps = height < rng.uniform(0.05, 0.4)
    understory = _colour(rng, (0.42, 0.38, 0.28), 0.04) if rng.random() < 0.4 else base * 0.45
    _paint(image, gaps, understory)
    if rng.random() < 0.3:  # a trail or firebreak crossing the canopy
        u, v = _rotated(size, rng.uniform(0, math.pi), rng)
        trail = (
            np.abs(v + 0.1 * size * np.sin(u / size * rng.uniform(2, 6)))
            < rng.uniform(0.012, 0.03) * size
        )
        _paint(image, trail, _colour(rng, (0.5, 0.42, 0.3), 0.04))
    return image


def _chaparral(rng: np.random.Generator, size: int) -> Array:
    soil = _colour(rng, (0.45, 0.42, 0.32) if rng.random() < 0.35 else (0.6, 0.52, 0.4), 0.04)
    image = _textured(rng, size, soil, 0.3, size / 6)
    shrub = rng.uniform(0.03, 0.065) * size
    height = _noise(rng, size, shrub, octaves=2)
    cover = rng.uniform(0.35, 0.85)
    mask = height > np.quantile(height, 1 - cover)
    olive = _colour(rng, (0.2, 0.29, 0.15) if rng.random() < 0.35 else (0.3, 0.33, 0.2), 0.035)
    shade = np.clip(_shade(height * size / shrub, 2.0), 0.4, 1.5)[..., None]
    _paint(image, mask, olive * shade)
    image[_shadow(mask, size, 0.01)] *= 0.75
    return image


def _water(rng: np.random.Generator, size: int) -> Array:
    deep = _colour(rng, (0.08, 0.22, 0.36), 0.04)
    if rng.random() < 0.3:
        deep = _colour(rng, (0.12, 0.28, 0.26), 0.03)  # a greener lake
    image = _textured(rng, size, deep, 0.35, size / 2)
    for _ in range(rng.integers(2, 4)):
        u, _v = _rotated(size, rng.uniform(0, math.pi))
        wavelength = rng.uniform(0.025, 0.07) * size
        image *= (
            1
            + rng.uniform(0.02, 0.07)
            * np.sin(2 * np.pi * u / wavelength + rng.uniform(0, 6))[..., None]
        )
    glints = rng.random((size, size)) < rng.uniform(0.0, 0.004)
    _paint(image, glints, np.array([0.8, 0.85, 0.9], np.float32), 0.6)
    if rng.random() < 0.35:  # a boat and its wake
        u, v = _rotated(size, rng.uniform(0, 2 * math.pi), rng)
        length = rng.uniform(0.04, 0.09) * size
        hull = (np.abs(u) < length / 2) & (np.abs(v) < length / 6)
        wake = (u < -length / 2) & (np.abs(v) < 0.25 * (-u - length / 2) + 0.5) & (u > -6 * length)
        _paint(image, wake, np.array([0.7, 0.78, 0.82], np.float32), 0.2)
        _paint(image, hull, np.array([0.93, 0.93, 0.9], np.float32))
    return image


def _land(rng: np.random.Generator, size: int) -> Array:
    """Generic vegetated land for backgrounds."""
    green = _colour(rng, (0.3, 0.4, 0.2), 0.05)
    image = _textured(rng, size, green, 0.45, size / 4)
    if rng.random() < 0.5:
        _trees(rng, image, int(rng.integers(3, 15) * (size / 128) ** 2 + 1), (0.02, 0.045))
    return image


def _beach(rng: np.random.Generator, size: int) -> Array:
    u, v = _rotated(size, rng.uniform(0, 2 * math.pi))
    shore = rng.uniform(-0.3, 0.2) * size + rng.uniform(0.03, 0.12) * size * np.sin(
        v / size * rng.uniform(2, 7) + rng.uniform(0, 6)
    )
    sand_width = rng.uniform(0.12, 0.35) * size
    image = _land(rng, size)
    sand = _textured(rng, size, _colour(rng, (0.83, 0.76, 0.6), 0.03), 0.12, size / 8)
    _paint(image, u < shore + sand_width, sand)
    wet = (u < shore + 0.04 * size) & (u >= shore)
    _paint(image, wet, sand * 0.8)
    sea = _water(rng, size)
    _paint(image, u < shore, sea)
    foam = np.abs(u - shore + 0.01 * size) < (0.01 + 0.015 * _noise(rng, size, size / 10)) * size
    _paint(image, foam, np.array([0.9, 0.93, 0.93], np.float32), 0.8)
    return image


def _river(rng: np.random.Generator, size: int) -> Array:
    image = _agricultural(rng, size) if rng.random() < 0.4 else _land(rng, size)
    u, v = _rotated(size, rng.uniform(0, math.pi))
    centre = rng.uniform(-0.15, 0.15) * size
    for _ in range(2):
        centre = centre + rng.uniform(0.05, 0.2) * size * np.sin(
            u / size * rng.uniform(2, 8) + rng.uniform(0, 6)
        )
    width = rng.uniform(0.07, 0.2) * size
    banks = np.abs(v - centre) < width / 2 + rng.uniform(0.02, 0.05) * size
    _paint(
        image, banks, _textured(rng, size, _colour(rng, (0.16, 0.28, 0.13), 0.03), 0.5, size / 20)
    )
    murky = _colour(rng, (0.22, 0.3, 0.3), 0.05) if rng.random() < 0.5 else None
    water = _water(rng, size)
    if murky is not None:
        water = 0.5 * water + 0.5 * murky
    _paint(image, np.abs(v - centre) < width / 2, water)
    return image


def _urban_ground(rng: np.random.Generator, size: int, green: float) -> Array:
    """Background of built-up areas: concrete/soil with patches of lawn."""
    concrete = _textured(
        rng, size, _colour(rng, (0.58, 0.56, 0.52), 0.04), 0.25, size / 6, hue=0.03
    )
    lawn = _textured(rng, size, _colour(rng, (0.34, 0.45, 0.24), 0.04), 0.35, size / 8)
    mask = _noise(rng, size, size / 4) < green
    _paint(concrete, mask, lawn)
    return concrete


def _roofs(
    rng: np.random.Generator,
    image: Array,
    angle: float,
    cell: float,
    occupancy: float,
    fill: tuple[float, float],
    street_every: int,
    street_width: float,
) -> None:
    """Houses on a rotated grid of cells, separated by streets every few cells."""
    size = image.shape[0]
    palette = np.array(
        [
            [0.62, 0.3, 0.22],
            [0.48, 0.34, 0.28],
            [0.55, 0.55, 0.55],
            [0.3, 0.3, 0.32],
            [0.75, 0.7, 0.62],
            [0.68, 0.45, 0.3],
        ],
        np.float32,
    )
    u, v = _rotated(size, angle, rng)
    iu, iv, fu, fv, params = _cells(rng, u, v, cell, cell * rng.uniform(0.8, 1.3), 6)
    street = ((iu % street_every) == 0) & (fu < street_width)
    street |= ((iv % street_every) == 0) & (fv < street_width)
    half_u = 0.5 * (fill[0] + (fill[1] - fill[0]) * params[..., 0]) - 0.02
    half_v = 0.5 * (fill[0] + (fill[1] - fill[0]) * params[..., 1]) - 0.02
    cu = 0.5 + (params[..., 2] - 0.5) * (1 - 2 * half_u) * 0.8
    cv = 0.5 + (params[..., 3] - 0.5) * (1 - 2 * half_v) * 0.8
    house = (np.abs(fu - cu) < half_u) & (np.abs(fv - cv) < half_v) & (params[..., 4] < occupancy)
    house &= ~street
    roof = palette[(params[..., 5] * len(palette)).astype(np.int64) % len(palette)]
    ridge = np.where((fu > cu)[..., None], 1.12, 0.88)  # two roof faces lit differently
    _paint(image, street, _colour(rng, (0.4, 0.4, 0.41), 0.03))
    image[_shadow(house, size, 0.015)] *= 0.55
    _paint(image, house, roof * ridge * rng.uniform(0.85, 1.1))


def _dense_residential(rng: np.random.Generator, size: int) -> Array:
    image = _urban_ground(rng, size, rng.uniform(0.05, 0.45))
    cell = rng.uniform(0.055, 0.1) * size
    occupancy = rng.uniform(0.7, 1.0)
    _roofs(
        rng,
        image,
        rng.uniform(0, math.pi),
        cell,
        occupancy,
        (0.45, 0.85),
        int(rng.integers(3, 6)),
        0.25,
    )
    if rng.random() < 0.5:
        _trees(rng, image, int(rng.integers(1, 6) * (size / 128) ** 2 + 1), (0.015, 0.03))
    return image


def _sparse_residential(rng: np.random.Generator, size: int) -> Array:
    image = _urban_ground(rng, size, rng.uniform(0.35, 0.95))
    cell = rng.uniform(0.07, 0.13) * size
    occupancy = rng.uniform(0.35, 0.85)
    _roofs(
        rng,
        image,
        rng.uniform(0, math.pi),
        cell,
        occupancy,
        (0.3, 0.6),
        int(rng.integers(3, 6)),
        0.18,
    )
    _trees(rng, image, int(rng.integers(3, 25) * (size / 128) ** 2 + 1), (0.015, 0.04))
    if rng.random() < 0.4:  # a few swimming pools
        y, x = _grid(size)
        for _ in range(int(rng.integers(1, 4))):
            cy, cx = rng.uniform(0, size, 2)
            r = rng.uniform(0.012, 0.025) * size
            _paint(
                image,
                (np.abs(y - cy) < r) & (np.abs(x - cx) < 1.6 * r),
                np.array([0.3, 0.7, 0.8], np.float32),
            )
    return image


def _parking_lot(rng: np.random.Generator, size: int) -> Array:
    asphalt = _colour(rng, (0.38, 0.38, 0.39), 0.04)
    image = _textured(rng, size, asphalt, 0.25, size / 4, hue=0.03)
    u, v = _rotated(size, rng.uniform(0, math.pi), rng)
    slot_w = rng.uniform(0.03, 0.05) * size
    row_len = rng.uniform(0.08, 0.11) * size
    # Two rows of slots back to back, then an aisle: period 2 rows + aisle.
    period = 2 * row_len + rng.uniform(0.8, 1.3) * row_len
    pos = v % period
    in_row = pos < 2 * row_len
    slot_index = np.floor(u / slot_w)
    frac = u / slot_w - slot_index
    lines = in_row & (frac < 0.08)
    _paint(image, lines, np.array([0.85, 0.85, 0.82], np.float32), 0.8)
    row_id = np.floor(v / period) * 2 + (pos >= row_len)
    table = rng.random((97, 2), dtype=np.float32)
    key = ((slot_index.astype(np.int64) * 13 + row_id.astype(np.int64) * 7) % 97 + 97) % 97
    occupancy = rng.uniform(0.3, 0.95)
    depth = pos % row_len
    car = in_row & (np.abs(frac - 0.55) < 0.3) & (np.abs(depth - row_len / 2) < row_len * 0.36)
    car &= table[key, 0] < occupancy
    palette = np.array(
        [
            [0.92, 0.92, 0.9],
            [0.1, 0.1, 0.12],
            [0.62, 0.63, 0.65],
            [0.65, 0.12, 0.1],
            [0.15, 0.25, 0.55],
        ],
        np.float32,
    )
    colours = palette[(table[key, 1] * len(palette)).astype(np.int64) % len(palette)]
    image[_shadow(car, size, 0.008)] *= 0.6
    _paint(image, car, colours)
    if rng.random() < 0.35:  # planted islands with trees
        _trees(rng, image, int(rng.integers(2, 8) * (size / 128) ** 2 + 1), (0.02, 0.04))
    return image


def _storage_tanks(rng: np.random.Generator, size: int) -> Array:
    image = _urban_ground(rng, size, rng.uniform(0.0, 0.3))
    radius = rng.uniform(0.05, 0.11) * size
    u, v = _rotated(size, rng.uniform(0, math.pi / 2), rng)
    spacing = radius * rng.uniform(2.2, 3.2)
    _iu, _iv, fu, fv, params = _cells(rng, u, v, spacing, spacing, 3)
    du = (fu - 0.5) * spacing + (params[..., 1] - 0.5) * 0.2 * spacing
    dv = (fv - 0.5) * spacing + (params[..., 2] - 0.5) * 0.2 * spacing
    r = radius * (0.75 + 0.25 * params[..., 0])
    distance = np.sqrt(du * du + dv * dv)
    present = params[..., 0] > rng.uniform(0.0, 0.35)
    tank = (distance < r) & present
    rim = tank & (distance > r * 0.88)
    image[_shadow(tank, size, 0.02)] *= 0.5
    top = _colour(rng, (0.86, 0.86, 0.84), 0.04)
    light = np.clip(1.05 - 0.25 * (du + dv) / np.maximum(r, 1), 0.7, 1.2)[..., None]
    _paint(image, tank, top * light)
    _paint(image, rim, top * 0.6)
    return image


def _grass(rng: np.random.Generator, size: int, angle: float) -> Array:
    """Mown grass with faint stripes."""
    grass = _textured(rng, size, _colour(rng, (0.38, 0.5, 0.25), 0.04), 0.3, size / 5)
    u, _v = _rotated(size, angle)
    grass *= 1 + 0.05 * np.sign(np.sin(2 * np.pi * u / (0.06 * size)))[..., None]
    return grass


def _runway(rng: np.random.Generator, size: int) -> Array:
    angle = rng.uniform(0, math.pi)
    image = _grass(rng, size, angle + math.pi / 2)
    u, v = _rotated(size, angle, rng, spread=0.25)
    width = rng.uniform(0.14, 0.24) * size
    asphalt = _textured(rng, size, _colour(rng, (0.42, 0.42, 0.42), 0.04), 0.15, size / 3, hue=0.03)
    _road(image, v, width, asphalt, None, dashes=False)
    centre = (np.abs(v) < 0.012 * size) & ((u / (0.08 * size)) % 1 < 0.55)
    _paint(image, centre, np.array([0.93, 0.93, 0.93], np.float32))
    if rng.random() < 0.6:  # threshold piano keys
        end = rng.uniform(-0.3, 0.3) * size
        keys = (
            (np.abs(u - end) < 0.05 * size)
            & (np.abs(v) < width * 0.4)
            & ((v / (0.025 * size)) % 1 < 0.5)
        )
        _paint(image, keys, np.array([0.93, 0.93, 0.93], np.float32))
    if rng.random() < 0.7:  # a parallel taxiway
        offset = rng.choice([-1, 1]) * rng.uniform(0.25, 0.4) * size
        _road(image, v - offset, width * 0.35, asphalt * 0.95, None, dashes=False)
    return image


def _freeway(rng: np.random.Generator, size: int) -> Array:
    angle = rng.uniform(0, math.pi)
    image = _land(rng, size)
    u, v = _rotated(size, angle, rng, spread=0.25)
    lane = rng.uniform(0.035, 0.05) * size
    lanes = int(rng.integers(2, 4))
    median = rng.uniform(0.02, 0.08) * size
    asphalt = _textured(rng, size, _colour(rng, (0.4, 0.4, 0.41), 0.04), 0.15, size / 4, hue=0.03)
    for side in (-1, 1):
        centre = side * (median / 2 + lanes * lane / 2)
        _road(image, v - centre, lanes * lane, asphalt, u, dashes=False)
        for k in range(1, lanes):
            marking = np.abs(v - (centre - lanes * lane / 2 + k * lane)) < 0.006 * size
            marking &= (u / (0.05 * size)) % 1 < 0.5
            _paint(image, marking, np.array([0.9, 0.9, 0.88], np.float32), 0.8)
        lane_centres = [centre - lanes * lane / 2 + (k + 0.5) * lane for k in range(lanes)]
        _cars(rng, image, u, v, lane_centres, lane * 0.9, rng.uniform(0.1, 0.5))
    return image


def _intersection(rng: np.random.Generator, size: int) -> Array:
    image = _urban_ground(rng, size, rng.uniform(0.2, 0.7))
    angle = rng.uniform(0, math.pi)
    asphalt = _textured(rng, size, _colour(rng, (0.38, 0.38, 0.39), 0.04), 0.15, size / 4, hue=0.03)
    u1, v1 = _rotated(size, angle, rng, spread=0.25)
    u2, v2 = _rotated(size, angle + math.pi / 2 + rng.uniform(-0.25, 0.25), rng, spread=0.25)
    width = rng.uniform(0.1, 0.18) * size
    # A four-way crossing, or (30 %) a T-junction where the second road ends at the first.
    branch = np.ones((size, size), bool)
    if rng.random() < 0.3:
        branch = v1 * rng.choice([-1.0, 1.0]) > -width / 2
    pavement = np.array([0.7, 0.69, 0.66], np.float32)
    _paint(image, np.abs(v1) < width / 2 + 0.025 * size, pavement)
    _paint(image, (np.abs(v2) < width / 2 + 0.025 * size) & branch, pavement)
    second = image.copy()
    road2 = _road(second, v2, width, asphalt, u2) & branch
    _cars(rng, second, u2, v2, [-width / 4, width / 4], width * 0.3, rng.uniform(0.1, 0.4))
    _paint(image, road2, second)
    road1 = _road(image, v1, width, asphalt, u1)
    _cars(rng, image, u1, v1, [-width / 4, width / 4], width * 0.3, rng.uniform(0.1, 0.4))
    _paint(image, road1 & road2, asphalt, 0.7)
    return image


def _golf_course(rng: np.random.Generator, size: int) -> Array:
    image = _textured(rng, size, _colour(rng, (0.28, 0.42, 0.2), 0.04), 0.35, size / 5)
    u, v = _rotated(size, rng.uniform(0, math.pi), rng)
    path = rng.uniform(0.05, 0.15) * size * np.sin(u / size * rng.uniform(2, 5) + rng.uniform(0, 6))
    width = rng.uniform(0.15, 0.3) * size
    fairway = np.abs(v - path) < width / 2
    light = _textured(rng, size, _colour(rng, (0.45, 0.62, 0.3), 0.03), 0.1, size / 6)
    light *= 1 + 0.06 * np.sign(np.sin(2 * np.pi * u / (0.07 * size)))[..., None]
    _paint(image, fairway, light)
    y, x = _grid(size)
    for _ in range(int(rng.integers(1, 4))):  # sand bunkers
        cy, cx = rng.uniform(0, size, 2)
        r = rng.uniform(0.025, 0.05) * size
        blob = (y - cy) ** 2 / (r * r) + (x - cx) ** 2 / (r * r * rng.uniform(1, 3)) < 1
        _paint(image, blob, _colour(rng, (0.86, 0.8, 0.62), 0.03))
    _trees(rng, image, int(rng.integers(4, 16) * (size / 128) ** 2 + 1), (0.02, 0.045))
    if rng.random() < 0.3:
        cy, cx = rng.uniform(0, size, 2)
        r = rng.uniform(0.05, 0.1) * size
        pond = (y - cy) ** 2 + (x - cx) ** 2 < r * r
        _paint(image, pond, _colour(rng, (0.12, 0.3, 0.35), 0.03))
    return image


def _meadow(rng: np.random.Generator, size: int) -> Array:
    base = _colour(rng, (0.45, 0.52, 0.28), 0.06)
    image = _textured(rng, size, base, 0.5, size / rng.uniform(2, 6))
    image *= 1 + 0.12 * (_noise(rng, size, size / 25, octaves=2)[..., None] - 0.5)
    if rng.random() < 0.6:
        _trees(rng, image, int(rng.integers(1, 6) * (size / 128) ** 2 + 1), (0.02, 0.04))
    if rng.random() < 0.3:  # a dirt track
        u, v = _rotated(size, rng.uniform(0, math.pi), rng)
        track = np.abs(v + 0.08 * size * np.sin(u / size * 4)) < 0.012 * size
        _paint(image, track, _colour(rng, (0.6, 0.52, 0.4), 0.03), 0.8)
    return image


SCENES: dict[str, Painter] = {
    "agricultural": _agricultural,
    "forest": _forest,
    "chaparral": _chaparral,
    "water": _water,
    "beach": _beach,
    "river": _river,
    "intersection": _intersection,
    "dense_residential": _dense_residential,
    "sparse_residential": _sparse_residential,
    "parking_lot": _parking_lot,
    "storage_tanks": _storage_tanks,
    "runway": _runway,
    "freeway": _freeway,
    "golf_course": _golf_course,
    "meadow": _meadow,
}
SYNTHETIC_CLASSES: tuple[str, ...] = tuple(SCENES)
MAX_CLASSES = len(SYNTHETIC_CLASSES)
CONFUSABLE_PAIRS: tuple[tuple[str, str], ...] = (
    ("dense_residential", "sparse_residential"),
    ("forest", "chaparral"),
    ("water", "beach"),
    ("beach", "river"),
    ("runway", "freeway"),
    ("golf_course", "meadow"),
)


# --------------------------------------------------------------------------- rendering


def scene_rng(seed: int, class_name: str, index: int) -> np.random.Generator:
    """The generator of one image: independent of how many classes or images are requested."""
    return np.random.default_rng([int(seed), SYNTHETIC_CLASSES.index(class_name), int(index)])


def _region(rng: np.random.Generator, size: int, fraction: float) -> Array:
    """A wobbly half-plane covering about ``fraction`` of the image (an edge of another scene)."""
    u, v = _rotated(size, rng.uniform(0, 2 * math.pi))
    edge = v + 0.06 * size * np.sin(u / size * rng.uniform(2, 6) + rng.uniform(0, 6))
    return edge > np.quantile(edge, 1 - fraction)


def _add_road(rng: np.random.Generator, image: Array) -> None:
    size = image.shape[0]
    u, v = _rotated(size, rng.uniform(0, math.pi), rng, spread=0.35)
    asphalt = _colour(rng, (0.4, 0.4, 0.41), 0.04)
    _road(image, v, rng.uniform(0.04, 0.09) * size, asphalt, u)


def _add_crossroads(rng: np.random.Generator, image: Array) -> None:
    _add_road(rng, image)
    _add_road(rng, image)


def _add_houses(rng: np.random.Generator, image: Array) -> None:
    size = image.shape[0]
    houses = image.copy()
    _roofs(
        rng,
        houses,
        rng.uniform(0, math.pi),
        rng.uniform(0.07, 0.12) * size,
        0.7,
        (0.35, 0.6),
        1,
        0.0,
    )
    _paint(image, _region(rng, size, rng.uniform(0.1, 0.35)), houses)


def _add_trees(rng: np.random.Generator, image: Array) -> None:
    _trees(rng, image, int(rng.integers(3, 12) * (image.shape[0] / 128) ** 2 + 1), (0.02, 0.045))


def _add_edge_of(painter: Painter) -> Callable[[np.random.Generator, Array], None]:
    """A distractor that shows a strip of another kind of scene along one side."""

    def add(rng: np.random.Generator, image: Array) -> None:
        size = image.shape[0]
        _paint(image, _region(rng, size, rng.uniform(0.08, 0.25)), painter(rng, size))

    return add


# Elements of other classes that sometimes appear in a scene (probability, how to add them), so
# that no single cue separates the classes perfectly.
DISTRACTORS: dict[str, tuple[tuple[float, Callable[[np.random.Generator, Array], None]], ...]] = {
    "agricultural": ((0.3, _add_road), (0.2, _add_houses), (0.2, _add_trees)),
    "forest": ((0.15, _add_edge_of(_meadow)), (0.15, _add_road)),
    "chaparral": ((0.3, _add_road), (0.3, _add_trees)),
    "water": ((0.2, _add_edge_of(_land)),),
    "beach": ((0.3, _add_houses), (0.2, _add_road)),
    "river": ((0.3, _add_road), (0.2, _add_houses)),
    "intersection": ((0.5, _add_houses), (0.3, _add_trees)),
    "dense_residential": ((0.3, _add_road), (0.2, _add_crossroads), (0.2, _add_edge_of(_land))),
    "sparse_residential": ((0.3, _add_road), (0.25, _add_crossroads)),
    "parking_lot": ((0.3, _add_houses), (0.3, _add_road)),
    "storage_tanks": ((0.4, _add_road), (0.3, _add_trees)),
    "runway": ((0.2, _add_road), (0.2, _add_edge_of(_agricultural))),
    "freeway": ((0.3, _add_houses), (0.2, _add_edge_of(_agricultural))),
    "golf_course": ((0.3, _add_houses), (0.2, _add_road)),
    "meadow": ((0.3, _add_road), (0.2, _add_edge_of(_forest))),
}


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
    image = image * (1 - haze) + haze * _colour(rng, (0.72, 0.75, 0.8), 0.03)
    u, _v = _rotated(render, rng.uniform(0, 2 * math.pi))
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


def _check(num_classes: int, images_per_class: int, image_size: int) -> None:
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
    _check(num_classes, images_per_class, image_size)
    classes = SYNTHETIC_CLASSES[:num_classes]
    images = np.empty((num_classes * images_per_class, 3, image_size, image_size), np.uint8)
    for label, name in enumerate(classes):
        for index in range(images_per_class):
            image = render_scene(name, scene_rng(seed, name, index), image_size)
            images[label * images_per_class + index] = image.transpose(2, 0, 1)
    labels = np.repeat(np.arange(num_classes, dtype=np.int64), images_per_class)
    return images, labels, classes


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
    _check(num_classes, images_per_class, image_size)
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
