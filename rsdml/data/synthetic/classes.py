"""The synthetic scene classes: one painter per class, the class list, the deliberately confusable
pairs, and the distractors (elements of other classes that sometimes appear in a scene)."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

import rsdml.data.synthetic.draw as draw
from rsdml.data.synthetic.draw import Array, Painter

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
    split_u, _ = draw.rotated(size, rng.uniform(0, math.pi), rng)
    blocks = [split_u < 0, split_u >= 0] if rng.random() < 0.6 else [np.ones((size, size), bool)]
    for block in blocks:
        u, v = draw.rotated(size, angle, rng)
        width = rng.uniform(0.06, 0.2) * size
        strip = np.floor(u / width).astype(np.int64)
        table = crops[rng.integers(0, len(crops), 64)] * rng.uniform(0.85, 1.15, (64, 1))
        colour = table[strip % 64]
        period = rng.uniform(0.015, 0.035) * size
        furrows = 1 + rng.uniform(0.04, 0.14) * np.sin(2 * np.pi * u / period)[..., None]
        edge = ((u / width) % 1 < 0.06)[..., None]
        colour = colour * furrows * np.where(edge, 0.75, 1.0)
        draw.paint(image, block, colour)
        angle += rng.choice([math.pi / 2, rng.uniform(0.3, 1.2)])
    image *= 1 + 0.15 * (draw.noise(rng, size, size / 2)[..., None] - 0.5)
    return image


def _forest(rng: np.random.Generator, size: int) -> Array:
    crown = rng.uniform(0.03, 0.08) * size
    height = draw.noise(rng, size, crown, octaves=2)
    shade = draw.shade(height * size / crown, rng.uniform(1.5, 3.0))
    # Mostly dark green; some stands olive (dry or mixed), which brings them close to chaparral.
    tone = (0.24, 0.3, 0.15) if rng.random() < 0.3 else (0.14, 0.27, 0.12)
    base = draw.colour(rng, tone, 0.03)
    image = base * np.clip(shade, 0.3, 1.6)[..., None]
    image *= 1 + 0.25 * (draw.noise(rng, size, size / 3)[..., None] - 0.5)
    gaps = height < rng.uniform(0.05, 0.4)
    understory = draw.colour(rng, (0.42, 0.38, 0.28), 0.04) if rng.random() < 0.4 else base * 0.45
    draw.paint(image, gaps, understory)
    if rng.random() < 0.3:  # a trail or firebreak crossing the canopy
        u, v = draw.rotated(size, rng.uniform(0, math.pi), rng)
        trail = (
            np.abs(v + 0.1 * size * np.sin(u / size * rng.uniform(2, 6)))
            < rng.uniform(0.012, 0.03) * size
        )
        draw.paint(image, trail, draw.colour(rng, (0.5, 0.42, 0.3), 0.04))
    return image


def _chaparral(rng: np.random.Generator, size: int) -> Array:
    soil = draw.colour(rng, (0.45, 0.42, 0.32) if rng.random() < 0.35 else (0.6, 0.52, 0.4), 0.04)
    image = draw.textured(rng, size, soil, 0.3, size / 6)
    shrub = rng.uniform(0.03, 0.065) * size
    height = draw.noise(rng, size, shrub, octaves=2)
    cover = rng.uniform(0.35, 0.85)
    mask = height > np.quantile(height, 1 - cover)
    olive = draw.colour(rng, (0.2, 0.29, 0.15) if rng.random() < 0.35 else (0.3, 0.33, 0.2), 0.035)
    shade = np.clip(draw.shade(height * size / shrub, 2.0), 0.4, 1.5)[..., None]
    draw.paint(image, mask, olive * shade)
    image[draw.shadow(mask, size, 0.01)] *= 0.75
    return image


def _water(rng: np.random.Generator, size: int) -> Array:
    deep = draw.colour(rng, (0.08, 0.22, 0.36), 0.04)
    if rng.random() < 0.3:
        deep = draw.colour(rng, (0.12, 0.28, 0.26), 0.03)  # a greener lake
    image = draw.textured(rng, size, deep, 0.35, size / 2)
    for _ in range(rng.integers(2, 4)):
        u, _v = draw.rotated(size, rng.uniform(0, math.pi))
        wavelength = rng.uniform(0.025, 0.07) * size
        image *= (
            1
            + rng.uniform(0.02, 0.07)
            * np.sin(2 * np.pi * u / wavelength + rng.uniform(0, 6))[..., None]
        )
    glints = rng.random((size, size)) < rng.uniform(0.0, 0.004)
    draw.paint(image, glints, np.array([0.8, 0.85, 0.9], np.float32), 0.6)
    if rng.random() < 0.35:  # a boat and its wake
        u, v = draw.rotated(size, rng.uniform(0, 2 * math.pi), rng)
        length = rng.uniform(0.04, 0.09) * size
        hull = (np.abs(u) < length / 2) & (np.abs(v) < length / 6)
        wake = (u < -length / 2) & (np.abs(v) < 0.25 * (-u - length / 2) + 0.5) & (u > -6 * length)
        draw.paint(image, wake, np.array([0.7, 0.78, 0.82], np.float32), 0.2)
        draw.paint(image, hull, np.array([0.93, 0.93, 0.9], np.float32))
    return image


def _land(rng: np.random.Generator, size: int) -> Array:
    """Generic vegetated land for backgrounds."""
    green = draw.colour(rng, (0.3, 0.4, 0.2), 0.05)
    image = draw.textured(rng, size, green, 0.45, size / 4)
    if rng.random() < 0.5:
        draw.trees(rng, image, int(rng.integers(3, 15) * (size / 128) ** 2 + 1), (0.02, 0.045))
    return image


def _beach(rng: np.random.Generator, size: int) -> Array:
    u, v = draw.rotated(size, rng.uniform(0, 2 * math.pi))
    shore = rng.uniform(-0.3, 0.2) * size + rng.uniform(0.03, 0.12) * size * np.sin(
        v / size * rng.uniform(2, 7) + rng.uniform(0, 6)
    )
    sand_width = rng.uniform(0.12, 0.35) * size
    image = _land(rng, size)
    sand = draw.textured(rng, size, draw.colour(rng, (0.83, 0.76, 0.6), 0.03), 0.12, size / 8)
    draw.paint(image, u < shore + sand_width, sand)
    wet = (u < shore + 0.04 * size) & (u >= shore)
    draw.paint(image, wet, sand * 0.8)
    sea = _water(rng, size)
    draw.paint(image, u < shore, sea)
    foam = (
        np.abs(u - shore + 0.01 * size) < (0.01 + 0.015 * draw.noise(rng, size, size / 10)) * size
    )
    draw.paint(image, foam, np.array([0.9, 0.93, 0.93], np.float32), 0.8)
    return image


def _river(rng: np.random.Generator, size: int) -> Array:
    image = _agricultural(rng, size) if rng.random() < 0.4 else _land(rng, size)
    u, v = draw.rotated(size, rng.uniform(0, math.pi))
    centre = rng.uniform(-0.15, 0.15) * size
    for _ in range(2):
        centre = centre + rng.uniform(0.05, 0.2) * size * np.sin(
            u / size * rng.uniform(2, 8) + rng.uniform(0, 6)
        )
    width = rng.uniform(0.07, 0.2) * size
    banks = np.abs(v - centre) < width / 2 + rng.uniform(0.02, 0.05) * size
    draw.paint(
        image,
        banks,
        draw.textured(rng, size, draw.colour(rng, (0.16, 0.28, 0.13), 0.03), 0.5, size / 20),
    )
    murky = draw.colour(rng, (0.22, 0.3, 0.3), 0.05) if rng.random() < 0.5 else None
    water = _water(rng, size)
    if murky is not None:
        water = 0.5 * water + 0.5 * murky
    draw.paint(image, np.abs(v - centre) < width / 2, water)
    return image


def _urban_ground(rng: np.random.Generator, size: int, green: float) -> Array:
    """Background of built-up areas: concrete/soil with patches of lawn."""
    concrete = draw.textured(
        rng, size, draw.colour(rng, (0.58, 0.56, 0.52), 0.04), 0.25, size / 6, hue=0.03
    )
    lawn = draw.textured(rng, size, draw.colour(rng, (0.34, 0.45, 0.24), 0.04), 0.35, size / 8)
    mask = draw.noise(rng, size, size / 4) < green
    draw.paint(concrete, mask, lawn)
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
    u, v = draw.rotated(size, angle, rng)
    iu, iv, fu, fv, params = draw.cells(rng, u, v, cell, cell * rng.uniform(0.8, 1.3), 6)
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
    draw.paint(image, street, draw.colour(rng, (0.4, 0.4, 0.41), 0.03))
    image[draw.shadow(house, size, 0.015)] *= 0.55
    draw.paint(image, house, roof * ridge * rng.uniform(0.85, 1.1))


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
        draw.trees(rng, image, int(rng.integers(1, 6) * (size / 128) ** 2 + 1), (0.015, 0.03))
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
    draw.trees(rng, image, int(rng.integers(3, 25) * (size / 128) ** 2 + 1), (0.015, 0.04))
    if rng.random() < 0.4:  # a few swimming pools
        y, x = draw.grid(size)
        for _ in range(int(rng.integers(1, 4))):
            cy, cx = rng.uniform(0, size, 2)
            r = rng.uniform(0.012, 0.025) * size
            draw.paint(
                image,
                (np.abs(y - cy) < r) & (np.abs(x - cx) < 1.6 * r),
                np.array([0.3, 0.7, 0.8], np.float32),
            )
    return image


def _parking_lot(rng: np.random.Generator, size: int) -> Array:
    asphalt = draw.colour(rng, (0.38, 0.38, 0.39), 0.04)
    image = draw.textured(rng, size, asphalt, 0.25, size / 4, hue=0.03)
    u, v = draw.rotated(size, rng.uniform(0, math.pi), rng)
    slot_w = rng.uniform(0.03, 0.05) * size
    row_len = rng.uniform(0.08, 0.11) * size
    # Two rows of slots back to back, then an aisle: period 2 rows + aisle.
    period = 2 * row_len + rng.uniform(0.8, 1.3) * row_len
    pos = v % period
    in_row = pos < 2 * row_len
    slot_index = np.floor(u / slot_w)
    frac = u / slot_w - slot_index
    lines = in_row & (frac < 0.08)
    draw.paint(image, lines, np.array([0.85, 0.85, 0.82], np.float32), 0.8)
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
    image[draw.shadow(car, size, 0.008)] *= 0.6
    draw.paint(image, car, colours)
    if rng.random() < 0.35:  # planted islands with trees
        draw.trees(rng, image, int(rng.integers(2, 8) * (size / 128) ** 2 + 1), (0.02, 0.04))
    return image


def _storage_tanks(rng: np.random.Generator, size: int) -> Array:
    image = _urban_ground(rng, size, rng.uniform(0.0, 0.3))
    radius = rng.uniform(0.05, 0.11) * size
    u, v = draw.rotated(size, rng.uniform(0, math.pi / 2), rng)
    spacing = radius * rng.uniform(2.2, 3.2)
    _iu, _iv, fu, fv, params = draw.cells(rng, u, v, spacing, spacing, 3)
    du = (fu - 0.5) * spacing + (params[..., 1] - 0.5) * 0.2 * spacing
    dv = (fv - 0.5) * spacing + (params[..., 2] - 0.5) * 0.2 * spacing
    r = radius * (0.75 + 0.25 * params[..., 0])
    distance = np.sqrt(du * du + dv * dv)
    present = params[..., 0] > rng.uniform(0.0, 0.35)
    tank = (distance < r) & present
    rim = tank & (distance > r * 0.88)
    image[draw.shadow(tank, size, 0.02)] *= 0.5
    top = draw.colour(rng, (0.86, 0.86, 0.84), 0.04)
    light = np.clip(1.05 - 0.25 * (du + dv) / np.maximum(r, 1), 0.7, 1.2)[..., None]
    draw.paint(image, tank, top * light)
    draw.paint(image, rim, top * 0.6)
    return image


def _grass(rng: np.random.Generator, size: int, angle: float) -> Array:
    """Mown grass with faint stripes."""
    grass = draw.textured(rng, size, draw.colour(rng, (0.38, 0.5, 0.25), 0.04), 0.3, size / 5)
    u, _v = draw.rotated(size, angle)
    grass *= 1 + 0.05 * np.sign(np.sin(2 * np.pi * u / (0.06 * size)))[..., None]
    return grass


def _runway(rng: np.random.Generator, size: int) -> Array:
    angle = rng.uniform(0, math.pi)
    image = _grass(rng, size, angle + math.pi / 2)
    u, v = draw.rotated(size, angle, rng, spread=0.25)
    width = rng.uniform(0.14, 0.24) * size
    asphalt = draw.textured(
        rng, size, draw.colour(rng, (0.42, 0.42, 0.42), 0.04), 0.15, size / 3, hue=0.03
    )
    draw.road(image, v, width, asphalt, None, dashes=False)
    centre = (np.abs(v) < 0.012 * size) & ((u / (0.08 * size)) % 1 < 0.55)
    draw.paint(image, centre, np.array([0.93, 0.93, 0.93], np.float32))
    if rng.random() < 0.6:  # threshold piano keys
        end = rng.uniform(-0.3, 0.3) * size
        keys = (
            (np.abs(u - end) < 0.05 * size)
            & (np.abs(v) < width * 0.4)
            & ((v / (0.025 * size)) % 1 < 0.5)
        )
        draw.paint(image, keys, np.array([0.93, 0.93, 0.93], np.float32))
    if rng.random() < 0.7:  # a parallel taxiway
        offset = rng.choice([-1, 1]) * rng.uniform(0.25, 0.4) * size
        draw.road(image, v - offset, width * 0.35, asphalt * 0.95, None, dashes=False)
    return image


def _freeway(rng: np.random.Generator, size: int) -> Array:
    angle = rng.uniform(0, math.pi)
    image = _land(rng, size)
    u, v = draw.rotated(size, angle, rng, spread=0.25)
    lane = rng.uniform(0.035, 0.05) * size
    lanes = int(rng.integers(2, 4))
    median = rng.uniform(0.02, 0.08) * size
    asphalt = draw.textured(
        rng, size, draw.colour(rng, (0.4, 0.4, 0.41), 0.04), 0.15, size / 4, hue=0.03
    )
    for side in (-1, 1):
        centre = side * (median / 2 + lanes * lane / 2)
        draw.road(image, v - centre, lanes * lane, asphalt, u, dashes=False)
        for k in range(1, lanes):
            marking = np.abs(v - (centre - lanes * lane / 2 + k * lane)) < 0.006 * size
            marking &= (u / (0.05 * size)) % 1 < 0.5
            draw.paint(image, marking, np.array([0.9, 0.9, 0.88], np.float32), 0.8)
        lane_centres = [centre - lanes * lane / 2 + (k + 0.5) * lane for k in range(lanes)]
        draw.cars(rng, image, u, v, lane_centres, lane * 0.9, rng.uniform(0.1, 0.5))
    return image


def _intersection(rng: np.random.Generator, size: int) -> Array:
    image = _urban_ground(rng, size, rng.uniform(0.2, 0.7))
    angle = rng.uniform(0, math.pi)
    asphalt = draw.textured(
        rng, size, draw.colour(rng, (0.38, 0.38, 0.39), 0.04), 0.15, size / 4, hue=0.03
    )
    u1, v1 = draw.rotated(size, angle, rng, spread=0.25)
    u2, v2 = draw.rotated(size, angle + math.pi / 2 + rng.uniform(-0.25, 0.25), rng, spread=0.25)
    width = rng.uniform(0.1, 0.18) * size
    # A four-way crossing, or (30 %) a T-junction where the second road ends at the first.
    branch = np.ones((size, size), bool)
    if rng.random() < 0.3:
        branch = v1 * rng.choice([-1.0, 1.0]) > -width / 2
    pavement = np.array([0.7, 0.69, 0.66], np.float32)
    draw.paint(image, np.abs(v1) < width / 2 + 0.025 * size, pavement)
    draw.paint(image, (np.abs(v2) < width / 2 + 0.025 * size) & branch, pavement)
    second = image.copy()
    road2 = draw.road(second, v2, width, asphalt, u2) & branch
    draw.cars(rng, second, u2, v2, [-width / 4, width / 4], width * 0.3, rng.uniform(0.1, 0.4))
    draw.paint(image, road2, second)
    road1 = draw.road(image, v1, width, asphalt, u1)
    draw.cars(rng, image, u1, v1, [-width / 4, width / 4], width * 0.3, rng.uniform(0.1, 0.4))
    draw.paint(image, road1 & road2, asphalt, 0.7)
    return image


def _golf_course(rng: np.random.Generator, size: int) -> Array:
    image = draw.textured(rng, size, draw.colour(rng, (0.28, 0.42, 0.2), 0.04), 0.35, size / 5)
    u, v = draw.rotated(size, rng.uniform(0, math.pi), rng)
    path = rng.uniform(0.05, 0.15) * size * np.sin(u / size * rng.uniform(2, 5) + rng.uniform(0, 6))
    width = rng.uniform(0.15, 0.3) * size
    fairway = np.abs(v - path) < width / 2
    light = draw.textured(rng, size, draw.colour(rng, (0.45, 0.62, 0.3), 0.03), 0.1, size / 6)
    light *= 1 + 0.06 * np.sign(np.sin(2 * np.pi * u / (0.07 * size)))[..., None]
    draw.paint(image, fairway, light)
    y, x = draw.grid(size)
    for _ in range(int(rng.integers(1, 4))):  # sand bunkers
        cy, cx = rng.uniform(0, size, 2)
        r = rng.uniform(0.025, 0.05) * size
        blob = (y - cy) ** 2 / (r * r) + (x - cx) ** 2 / (r * r * rng.uniform(1, 3)) < 1
        draw.paint(image, blob, draw.colour(rng, (0.86, 0.8, 0.62), 0.03))
    draw.trees(rng, image, int(rng.integers(4, 16) * (size / 128) ** 2 + 1), (0.02, 0.045))
    if rng.random() < 0.3:
        cy, cx = rng.uniform(0, size, 2)
        r = rng.uniform(0.05, 0.1) * size
        pond = (y - cy) ** 2 + (x - cx) ** 2 < r * r
        draw.paint(image, pond, draw.colour(rng, (0.12, 0.3, 0.35), 0.03))
    return image


def _meadow(rng: np.random.Generator, size: int) -> Array:
    base = draw.colour(rng, (0.45, 0.52, 0.28), 0.06)
    image = draw.textured(rng, size, base, 0.5, size / rng.uniform(2, 6))
    image *= 1 + 0.12 * (draw.noise(rng, size, size / 25, octaves=2)[..., None] - 0.5)
    if rng.random() < 0.6:
        draw.trees(rng, image, int(rng.integers(1, 6) * (size / 128) ** 2 + 1), (0.02, 0.04))
    if rng.random() < 0.3:  # a dirt track
        u, v = draw.rotated(size, rng.uniform(0, math.pi), rng)
        track = np.abs(v + 0.08 * size * np.sin(u / size * 4)) < 0.012 * size
        draw.paint(image, track, draw.colour(rng, (0.6, 0.52, 0.4), 0.03), 0.8)
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


def _region(rng: np.random.Generator, size: int, fraction: float) -> Array:
    """A wobbly half-plane covering about ``fraction`` of the image (an edge of another scene)."""
    u, v = draw.rotated(size, rng.uniform(0, 2 * math.pi))
    edge = v + 0.06 * size * np.sin(u / size * rng.uniform(2, 6) + rng.uniform(0, 6))
    return edge > np.quantile(edge, 1 - fraction)


def _add_road(rng: np.random.Generator, image: Array) -> None:
    size = image.shape[0]
    u, v = draw.rotated(size, rng.uniform(0, math.pi), rng, spread=0.35)
    asphalt = draw.colour(rng, (0.4, 0.4, 0.41), 0.04)
    draw.road(image, v, rng.uniform(0.04, 0.09) * size, asphalt, u)


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
    draw.paint(image, _region(rng, size, rng.uniform(0.1, 0.35)), houses)


def _add_trees(rng: np.random.Generator, image: Array) -> None:
    draw.trees(
        rng, image, int(rng.integers(3, 12) * (image.shape[0] / 128) ** 2 + 1), (0.02, 0.045)
    )


def _add_edge_of(painter: Painter) -> Callable[[np.random.Generator, Array], None]:
    """A distractor that shows a strip of another kind of scene along one side."""

    def add(rng: np.random.Generator, image: Array) -> None:
        size = image.shape[0]
        draw.paint(image, _region(rng, size, rng.uniform(0.08, 0.25)), painter(rng, size))

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
