"""Drawing primitives of the synthetic scenes: coordinates, value noise, shading, colours, and the
recurring objects (cell layouts, trees with shadows, roads, cars) that the scene classes combine."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

Array = np.ndarray
Painter = Callable[[np.random.Generator, int], Array]
"""Draws one scene class: ``painter(rng, size)`` -> (size, size, 3) float RGB in about [0, 1]."""

# --------------------------------------------------------------------------- building blocks


def grid(size: int) -> tuple[Array, Array]:
    """Pixel-centre coordinates (y, x)."""
    axis = np.arange(size, dtype=np.float32) + 0.5
    return np.meshgrid(axis, axis, indexing="ij")


def rotated(
    size: int, angle: float, rng: np.random.Generator | None = None, spread: float = 0.5
) -> tuple[Array, Array]:
    """Coordinates (u along ``angle``, v across it) in pixels, about the image centre moved by up
    to ``spread`` x size when a generator is given."""
    y, x = grid(size)
    cy = cx = size / 2
    if rng is not None:
        cy += rng.uniform(-spread, spread) * size
        cx += rng.uniform(-spread, spread) * size
    c, s = math.cos(angle), math.sin(angle)
    u = (x - cx) * c + (y - cy) * s
    v = -(x - cx) * s + (y - cy) * c
    return u, v


def upsample(grid: Array, size: int) -> Array:
    """Smooth (smoothstep-bilinear) interpolation of a coarse square grid to size x size."""
    cells = grid.shape[0] - 1
    t = np.linspace(0.0, cells, size, endpoint=False)
    index = np.minimum(t.astype(np.int64), cells - 1)
    frac = (t - index).astype(np.float32)
    frac = frac * frac * (3 - 2 * frac)
    rows = grid[index] * (1 - frac)[:, None] + grid[index + 1] * frac[:, None]
    return rows[:, index] * (1 - frac)[None, :] + rows[:, index + 1] * frac[None, :]


def noise(rng: np.random.Generator, size: int, feature: float, octaves: int = 3) -> Array:
    """Fractal value noise in [0, 1] whose coarsest features are about ``feature`` pixels."""
    total = np.zeros((size, size), dtype=np.float32)
    amplitude, weight = 1.0, 0.0
    for octave in range(octaves):
        cells = max(1, int(round(size / max(feature / 2**octave, 1.0))))
        total += amplitude * upsample(rng.random((cells + 2, cells + 2), dtype=np.float32), size)
        weight += amplitude
        amplitude *= 0.5
    total /= weight
    low, high = float(total.min()), float(total.max())
    return (total - low) / max(high - low, 1e-6)


def shade(height: Array, strength: float, azimuth: float = 2.4) -> Array:
    """Hill-shading of a height field, about 1 on flat ground (sun from the upper left)."""
    gy, gx = np.gradient(height)
    light = -(gx * math.cos(azimuth) + gy * math.sin(azimuth))
    return 1.0 + strength * light


def colour(rng: np.random.Generator, base: tuple[float, float, float], jitter: float) -> Array:
    """A colour near ``base`` (RGB in [0, 1])."""
    return np.clip(np.asarray(base, dtype=np.float32) + rng.normal(0, jitter, 3), 0, 1).astype(
        np.float32
    )


def paint(image: Array, mask: Array, colour: Array, alpha: float | Array = 1.0) -> None:
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


def textured(
    rng: np.random.Generator,
    size: int,
    colour: Array,
    amount: float,
    feature: float,
    hue: float = 0.2,
) -> Array:
    """A flat colour modulated by noise in brightness and (by ``hue``) in colour."""
    field = noise(rng, size, feature)[..., None] - 0.5
    tint = (noise(rng, size, feature * 2, octaves=1)[..., None] - 0.5) * rng.normal(0, hue, 3)
    return np.clip(colour * (1 + amount * field + amount * tint.astype(np.float32)), 0, 1)


def shadow(mask: Array, size: int, length: float) -> Array:
    """Where a raised mask casts its shadow (down-right), excluding the mask itself."""
    shift = max(1, int(round(length * size)))
    cast = np.zeros_like(mask)
    cast[shift:, shift:] = mask[:-shift, :-shift]
    return cast & ~mask


def cells(
    rng: np.random.Generator, u: Array, v: Array, cell_u: float, cell_v: float, fields: int
) -> tuple[Array, Array, Array, Array, Array]:
    """Cell indices, in-cell coordinates in [0, 1) and per-cell random parameters."""
    iu, iv = np.floor(u / cell_u), np.floor(v / cell_v)
    fu, fv = u / cell_u - iu, v / cell_v - iv
    table = rng.random((64, 64, fields), dtype=np.float32)
    params = table[iu.astype(np.int64) % 64, iv.astype(np.int64) % 64]
    return iu.astype(np.int64), iv.astype(np.int64), fu, fv, params


def trees(rng: np.random.Generator, image: Array, count: int, radius: tuple[float, float]) -> Array:
    """Scatter shaded round tree crowns; returns the crown mask."""
    size = image.shape[0]
    y, x = grid(size)
    crowns = np.zeros((size, size), dtype=bool)
    green = colour(rng, (0.16, 0.30, 0.13), 0.03)
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
    shade = shadow(crowns, size, 0.012)
    image[shade] *= 0.6
    return crowns


def road(
    image: Array,
    across: Array,
    width: float,
    asphalt: Array,
    along: Array | None = None,
    dashes: bool = True,
) -> Array:
    """A straight road |across| < width/2 with edge and dashed centre markings; returns its mask."""
    road = np.abs(across) < width / 2
    paint(image, road, asphalt)
    edge = road & (np.abs(np.abs(across) - width * 0.42) < max(width * 0.03, 0.5))
    paint(image, edge, np.array([0.8, 0.8, 0.76], np.float32), 0.7)
    if dashes and along is not None:
        dash = (
            road & (np.abs(across) < max(width * 0.03, 0.5)) & ((along / (width * 0.6)) % 1 < 0.5)
        )
        paint(image, dash, np.array([0.92, 0.9, 0.7], np.float32), 0.85)
    return road


def cars(
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
        paint(image, body, colours)
        screen = body & (np.abs(frac - 0.62) < 0.06)
        paint(image, screen, np.array([0.08, 0.09, 0.1], np.float32), 0.8)
