"""The data overview: example scenes per class and the label-noise transition matrix."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from matplotlib.axes import Axes
from matplotlib.colors import Normalize, PowerNorm
from matplotlib.figure import Figure
from matplotlib.image import AxesImage
from matplotlib.ticker import FuncFormatter

from rsdml.plots.style import (
    CHAR_WIDTH_IN,
    DOUBLE_COLUMN,
    FONT_SIZE,
    SINGLE_COLUMN,
    check_labels,
    display_name,
    finish_axes,
    image_axes,
    new_figure,
    style_context,
    text_width_in,
    to_hwc,
    to_numpy,
)


def _example_layout(names: Sequence[str], per_class: int) -> tuple[int, int, float]:
    """Blocks side by side, block rows and image size (in) for the class-example grid.

    Picks the number of class blocks per row whose page height is closest to 3/4 of the
    width, among those where a block is wide enough for its class name and images stay
    at least a quarter inch.
    """
    title_height = 1.6 * FONT_SIZE / 72
    longest = max(text_width_in(name) for name in names)
    best: tuple[float, int, int, float] | None = None
    for blocks in range(1, len(names) + 1):
        tile = (DOUBLE_COLUMN - 0.15 * (blocks - 1)) / (blocks * per_class)
        if blocks > 1 and (tile < 0.25 or tile * per_class < longest):
            break
        rows = math.ceil(len(names) / blocks)
        miss = abs(rows * (tile + title_height + 0.04) - 0.75 * DOUBLE_COLUMN)
        if best is None or miss < best[0]:
            best = (miss, blocks, rows, tile)
    assert best is not None
    return best[1], best[2], best[3]


def plot_class_examples(
    images: Any,
    labels: Any,
    classes: Sequence[str],
    per_class: int = 5,
    *,
    seed: int | None = 0,
) -> Figure:
    """A grid of example scenes: one row of ``per_class`` images under each class name.

    Classes are laid out in blocks side by side, as many per row as keep the figure about
    3/4 as tall as it is wide, so that 45 classes still fit a two-column page.

    Args:
        images: (N, 3, H, W) uint8 images.
        labels: (N,) class indices.
        classes: class names.
        per_class: examples shown per class (fewer when a class has fewer images).
        seed: which examples (random, reproducible); None takes each class's first images.

    Returns:
        The figure (two-column width).
    """
    images = to_numpy(images)
    if images.ndim != 4:
        raise ValueError(f"images must be (N, 3, H, W), got shape {images.shape}")
    labels = check_labels(labels, images.shape[0], len(classes))
    if per_class < 1:
        raise ValueError(f"per_class must be >= 1, got {per_class}")
    rng = np.random.default_rng(seed) if seed is not None else None
    picks = []
    for index in range(len(classes)):
        members = np.flatnonzero(labels == index)
        if rng is not None and members.size > per_class:
            members = np.sort(rng.choice(members, size=per_class, replace=False))
        picks.append(members[:per_class])
    count = len(classes)
    blocks, block_rows, tile = _example_layout([display_name(name) for name in classes], per_class)
    title_height = 1.6 * FONT_SIZE / 72
    fig = new_figure(DOUBLE_COLUMN, block_rows * (tile + title_height + 0.04))
    fig.get_layout_engine().set(w_pad=0.01, h_pad=0.01, wspace=0.02, hspace=0.02)
    with style_context():
        cells = fig.subfigures(block_rows, blocks, squeeze=False, wspace=0.03, hspace=0.0)
        for index in range(block_rows * blocks):
            subfigure = cells[index % block_rows, index // block_rows]
            if index >= count:
                continue
            subfigure.suptitle(display_name(classes[index]), fontsize=FONT_SIZE)
            axes = subfigure.subplots(1, per_class, squeeze=False)[0]
            for slot, ax in enumerate(axes):
                if slot < len(picks[index]):
                    # A hairline frame keeps bright scenes (snow, cloud) apart from the page.
                    image_axes(ax, to_hwc(images[picks[index][slot]]), "#999999", 0.4)
                else:
                    ax.set_axis_off()
    return fig


def plot_transition_matrix(
    matrix: Any,
    classes: Sequence[str],
    *,
    title: str = "",
    annotate: bool | None = None,
) -> Figure:
    """A label-noise transition matrix T (T[i, j] = P(noisy j | clean i)) as a heatmap.

    Probabilities use a square-root colour scale so that the small off-diagonal entries of
    uniform noise stay visible next to the diagonal. Cells carry their value in percent when
    they are large enough for 8-pt text (up to about 20 classes at two-column width), and the
    colour bar is labelled in percent too.

    Args:
        matrix: (C, C) array.
        classes: the C class names.
        title: axes title.
        annotate: write values in the cells; default when they fit.

    Returns:
        The figure.
    """
    matrix = to_numpy(matrix).astype(np.float64)
    count = len(classes)
    if matrix.shape != (count, count):
        raise ValueError(
            f"matrix must be ({count}, {count}) for {count} classes, got {matrix.shape}"
        )
    names = [display_name(name) for name in classes]
    label_room = max(len(name) for name in names) * CHAR_WIDTH_IN + 0.5
    side = float(np.clip(0.3 * count + label_room + 0.9, SINGLE_COLUMN, DOUBLE_COLUMN))
    cell = (side - label_room - 0.9) / count
    if annotate is None:
        annotate = cell >= 0.21
    fig = new_figure(side, side - 0.6 + (0.2 if title else 0.0))
    probabilities = matrix.min() >= 0 and matrix.max() <= 1
    norm: Normalize = (
        PowerNorm(0.5, vmin=0.0, vmax=1.0)
        if probabilities
        else Normalize(vmin=matrix.min(), vmax=matrix.max())
    )
    with style_context():
        ax = fig.add_subplot()
        image = ax.imshow(matrix, cmap="Blues", norm=norm, interpolation="nearest")
        ax.set_xticks(range(count), names, rotation=90)
        ax.set_yticks(range(count), names)
        ax.set_xlabel("noisy label $j$")
        ax.set_ylabel("clean label $i$")
        ax.tick_params(length=0)
        for spine in ax.spines.values():
            spine.set_visible(False)
        if title:
            ax.set_title(title)
        _percent_colorbar(fig, ax, image, probabilities)
        if annotate:
            _annotate_cells(ax, matrix, norm, probabilities)
        finish_axes(ax)
        ax.tick_params(length=0)
    return fig


def _percent_colorbar(fig: Figure, ax: Axes, image: AxesImage, probabilities: bool) -> None:
    """The heatmap's colour bar, counting in percent when the values are probabilities."""
    colorbar = fig.colorbar(image, ax=ax, shrink=0.8, pad=0.02, aspect=30)
    if probabilities:
        # the cells print percent, so the colour bar counts in percent too: one unit
        colorbar.set_ticks([0.0, 0.05, 0.2, 0.4, 0.6, 0.8, 1.0])
        colorbar.ax.yaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{100 * value:.0f}"))
    colorbar.set_label(r"$T_{ij}$ (%)" if probabilities else "value")
    colorbar.outline.set_linewidth(0.5)
    colorbar.ax.tick_params(labelsize=FONT_SIZE)


def _annotate_cells(ax: Axes, matrix: np.ndarray, norm: Normalize, probabilities: bool) -> None:
    """Write each non-zero value in its cell (percent for probabilities), white on dark cells."""
    count = matrix.shape[0]
    for i in range(count):
        for j in range(count):
            value = matrix[i, j]
            if value == 0:
                continue
            shown = 100 * value if probabilities else value
            text = f"{shown:.0f}" if abs(shown) >= 10 else f"{shown:.1f}"
            dark = norm(value) > 0.6
            ax.text(
                j,
                i,
                text,
                ha="center",
                va="center",
                fontsize=FONT_SIZE,
                color="white" if dark else "black",
            )
