"""Colour-blind-aware categorical colours, markers and line styles.

:func:`categorical_colors` scales to the 45 classes of NWPU-RESISC45: Okabe-Ito first, then
colours picked greedily to be far apart both for normal vision and under simulated
protanopia/deuteranopia. :func:`categorical_markers` adds marker shapes once there are more
than 10 classes, because no palette keeps 45 colours apart for every reader.
"""

from __future__ import annotations

import functools
from typing import Any

import matplotlib as mpl
import numpy as np
from matplotlib.colors import to_hex

# Okabe & Ito (2008), "Color Universal Design", without black (reserved for marks such as the
# noisy-label crosses) and yellow (too light for small points on white).
OKABE_ITO = ("#0072B2", "#D55E00", "#009E73", "#E69F00", "#CC79A7", "#56B4E9")
MARKERS = ("o", "s", "^", "D", "v", "P", "X")
LINESTYLES = ("-", "--", "-.", ":")
# Up to this many classes colour alone separates them; beyond, markers vary too.
_COLOUR_ONLY_CLASSES = 10


def srgb_to_linear(rgb: np.ndarray) -> np.ndarray:
    """Linear-light values of sRGB values in [0, 1] (the sRGB transfer function undone)."""
    return np.where(rgb <= 0.04045, rgb / 12.92, ((rgb + 0.055) / 1.055) ** 2.4)


def linear_to_lab(linear: np.ndarray) -> np.ndarray:
    """CIELAB (D65) of linear-light sRGB values, shape (..., 3)."""
    to_xyz = np.array(
        [
            [0.4124564, 0.3575761, 0.1804375],
            [0.2126729, 0.7151522, 0.0721750],
            [0.0193339, 0.1191920, 0.9503041],
        ]
    )
    xyz = linear @ to_xyz.T / np.array([0.95047, 1.0, 1.08883])
    delta = 6 / 29
    f = np.where(xyz > delta**3, np.cbrt(xyz), xyz / (3 * delta**2) + 4 / 29)
    return np.stack(
        [116 * f[..., 1] - 16, 500 * (f[..., 0] - f[..., 1]), 200 * (f[..., 1] - f[..., 2])],
        axis=-1,
    )


# Machado, Oliveira & Fernandes (2009) dichromacy simulation matrices (severity 1.0), applied
# to linear-light RGB.
_PROTANOPIA = np.array(
    [
        [0.152286, 1.052583, -0.204868],
        [0.114503, 0.786281, 0.099216],
        [-0.003882, -0.048116, 1.051998],
    ]
)
_DEUTERANOPIA = np.array(
    [
        [0.367322, 0.860646, -0.227968],
        [0.280085, 0.672501, 0.047413],
        [-0.011820, 0.042940, 0.968881],
    ]
)


def _views(rgb: np.ndarray) -> list[np.ndarray]:
    """CIELAB coordinates as seen with normal vision, protanopia and deuteranopia."""
    linear = srgb_to_linear(rgb)
    return [linear_to_lab(linear)] + [
        linear_to_lab(np.clip(linear @ matrix.T, 0.0, 1.0))
        for matrix in (_PROTANOPIA, _DEUTERANOPIA)
    ]


@functools.lru_cache(maxsize=8)
def _palette(count: int) -> tuple[str, ...]:
    seeds = [np.array(mpl.colors.to_rgb(colour)) for colour in OKABE_ITO]
    if count <= len(seeds):
        return OKABE_ITO[:count]
    levels = np.linspace(0.0, 1.0, 16)
    grid = np.stack(np.meshgrid(levels, levels, levels, indexing="ij"), axis=-1).reshape(-1, 3)
    lab = _views(grid)[0]
    chroma = np.hypot(lab[:, 1], lab[:, 2])
    # Mid lightness stays visible on white and distinct from black marks; greys look "unlabelled".
    candidates = grid[(lab[:, 0] >= 30) & (lab[:, 0] <= 80) & (chroma >= 20)]
    candidate_views = _views(candidates)

    def distance(colour: np.ndarray) -> np.ndarray:
        seen = [
            np.linalg.norm(view - ref, axis=1)
            for view, ref in zip(candidate_views, _views(colour), strict=True)
        ]
        # Half normal vision, half the worse of the two red-green dichromacies.
        return 0.5 * seen[0] + 0.5 * np.minimum(seen[1], seen[2])

    nearest = np.full(len(candidates), np.inf)
    for colour in seeds:
        nearest = np.minimum(nearest, distance(colour))
    chosen = list(OKABE_ITO)
    while len(chosen) < count:
        best = int(np.argmax(nearest))
        chosen.append(to_hex(candidates[best]))
        nearest = np.minimum(nearest, distance(candidates[best]))
    return tuple(chosen)


def categorical_colors(count: int) -> list[str]:
    """``count`` distinct hex colours: Okabe-Ito, then a colour-blind-aware greedy extension.

    The extension picks, from a grid of mid-lightness sRGB colours, the one farthest (CIELAB
    distance, averaged between normal vision and the worse of simulated protanopia and
    deuteranopia) from all colours already chosen. Deterministic; a prefix of a longer palette.
    """
    if count < 0:
        raise ValueError(f"count must be >= 0, got {count}")
    return list(_palette(max(count, 1))[:count])


def categorical_markers(count: int) -> list[str]:
    """Marker shapes to pair with :func:`categorical_colors`: all circles up to 10 classes, then varied."""
    if count <= _COLOUR_ONLY_CLASSES:
        return ["o"] * count
    return [MARKERS[i % len(MARKERS)] for i in range(count)]


def line_styles(count: int) -> list[dict[str, Any]]:
    """Colour, dash pattern and marker per series, so curves stay apart in grey-scale print."""
    colours = categorical_colors(count)
    return [
        {
            "color": colours[i],
            "linestyle": LINESTYLES[i % len(LINESTYLES)],
            "marker": MARKERS[i % len(MARKERS)],
        }
        for i in range(count)
    ]
