"""The retrieval gallery: a query and its ranked results, framed right or wrong."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from matplotlib.figure import Figure

from rsdml.plots.style import (
    DOUBLE_COLUMN,
    FONT_SIZE,
    LEGEND_ROW_IN,
    display_name,
    image_axes,
    new_figure,
    style_context,
    text_width_in,
    to_hwc,
    to_numpy,
    wrap_text,
)

# Frames of the retrieval gallery: the Okabe-Ito green and vermillion stay apart for
# red-green colour-blind readers, and a tick or cross repeats the verdict in grey-scale print.
CORRECT_COLOUR = "#009E73"
WRONG_COLOUR = "#D55E00"
QUERY_COLOUR = "#000000"


def _gallery_layout(count: int, words: Sequence[str]) -> tuple[int, int, float]:
    """Rows, results per row and tile size (in) of a retrieval gallery at two-column width.

    One row while every caption word fits its tile (tiles at most 1.1 in); otherwise as many
    rows as it takes for the longest word to fit, because captions are never hyphenated and
    8-pt text does not shrink.
    """
    widest = max((text_width_in(word) for word in words), default=0.0)
    rows = 1
    while True:
        per_row = math.ceil(count / rows)
        tile = min(1.1, (DOUBLE_COLUMN - 0.3) / (per_row + 1.3))
        if widest <= tile or per_row == 1:
            return rows, per_row, tile
        rows += 1


def plot_retrieval_gallery(
    query_image: Any,
    results: Any,
    correct: Any,
    *,
    titles: Sequence[str] | None = None,
    query_title: str = "query",
    title: str = "",
) -> Figure:
    """A query and its ranked results, each result framed green (right) or red (wrong).

    Args:
        query_image: (3, H, W) uint8 (or float in [0, 1]) image.
        results: (K, 3, H, W) retrieved images, best first.
        correct: (K,) bool, whether each result has the query's class.
        titles: optional K captions under the results (e.g. their class names), wrapped at
            spaces; the results take two rows or more when a word would not fit a tile.
        query_title: caption above the query.
        title: the figure's title, e.g. which run and why this query (see
            :func:`rsdml.report.retrieval_gallery`).

    Returns:
        A two-column-wide figure: the query, a gap, then results labelled "1 ✓", "2 ✗", ...
    """
    results = to_numpy(results)
    verdicts = to_numpy(correct).astype(bool).reshape(-1)
    count = results.shape[0]
    if verdicts.shape[0] != count:
        raise ValueError(f"got {count} result images but {verdicts.shape[0]} correct flags")
    if titles is not None and len(titles) != count:
        raise ValueError(f"got {len(titles)} titles for {count} results")
    names = [display_name(t) for t in titles] if titles is not None else []
    rows, per_row, tile = _gallery_layout(count, [w for name in names for w in name.split()])
    caption_lines = [wrap_text(name, tile) for name in names]
    lines = max((text.count("\n") + 1 for text in caption_lines), default=0)
    row_height = tile + 0.3 + lines * LEGEND_ROW_IN
    fig = new_figure(
        DOUBLE_COLUMN if tile < 1.1 else tile * (per_row + 1.3) + 0.3,
        rows * row_height + (0.05 + LEGEND_ROW_IN if title else 0.05),
    )
    with style_context():
        grid = fig.add_gridspec(
            rows, per_row + 2, width_ratios=[1, 0.25] + [1] * per_row, wspace=0.06
        )
        query_ax = fig.add_subplot(grid[0, 0])
        image_axes(query_ax, to_hwc(query_image), QUERY_COLOUR, 1.5)
        query_ax.set_title(wrap_text(display_name(query_title), tile), fontsize=FONT_SIZE)
        for position in range(count):
            row, column = divmod(position, per_row)
            ax = fig.add_subplot(grid[row, column + 2])
            right = bool(verdicts[position])
            image_axes(
                ax, to_hwc(results[position]), CORRECT_COLOUR if right else WRONG_COLOUR, 3.0
            )
            ax.set_title(
                f"{position + 1} {'✓' if right else '✗'}",
                fontsize=FONT_SIZE,
                color=CORRECT_COLOUR if right else WRONG_COLOUR,
            )
            if titles is not None:
                ax.set_xlabel(caption_lines[position], fontsize=FONT_SIZE, labelpad=3)
        if title:
            fig.suptitle(title, fontsize=FONT_SIZE + 1)
    return fig
