"""The look every figure shares: sizes, fonts, rcParams, saving, and layout helpers.

Text is at least 8 pt at the saved size: figures are made at their print size (one column
3.5 in, two columns 7.2 in) and never rescaled. Every plotting function draws inside
:func:`style_context`, so figures look the same whether or not :func:`use_style` was called.
"""

from __future__ import annotations

import contextlib
import io
import math
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import matplotlib as mpl
import matplotlib.pyplot as plt
import numpy as np
from cycler import cycler
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from rsdml.plots.colours import OKABE_ITO
from rsdml.storage import atomic_write_bytes

#: Figure widths in inches: one column and two columns of a journal page.
SINGLE_COLUMN = 3.5
DOUBLE_COLUMN = 7.2
#: The smallest (and default) font size in points; titles are one point larger.
FONT_SIZE = 8.0
PNG_DPI = 200
# Only rasterised artists (scatter points, images) depend on this; text and lines stay vector.
PDF_DPI = 300


#: The rcParams every figure is made and saved with.
STYLE: dict[str, Any] = {
    "font.family": "sans-serif",
    "font.sans-serif": ["DejaVu Sans", "Arial", "Helvetica", "sans-serif"],
    "font.size": FONT_SIZE,
    "axes.titlesize": FONT_SIZE + 1,
    "axes.labelsize": FONT_SIZE,
    "xtick.labelsize": FONT_SIZE,
    "ytick.labelsize": FONT_SIZE,
    "legend.fontsize": FONT_SIZE,
    "legend.title_fontsize": FONT_SIZE,
    "figure.titlesize": FONT_SIZE + 1,
    "figure.labelsize": FONT_SIZE,
    "axes.linewidth": 0.8,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.prop_cycle": cycler(color=list(OKABE_ITO)),
    "axes.titlepad": 4.0,
    "axes.labelpad": 3.0,
    "grid.linewidth": 0.5,
    "grid.alpha": 0.35,
    "lines.linewidth": 1.3,
    "lines.markersize": 3.5,
    "xtick.major.width": 0.8,
    "ytick.major.width": 0.8,
    "xtick.major.size": 3.0,
    "ytick.major.size": 3.0,
    "xtick.minor.size": 1.8,
    "ytick.minor.size": 1.8,
    "legend.frameon": False,
    "legend.handlelength": 1.8,
    "legend.borderaxespad": 0.3,
    "image.cmap": "viridis",
    "figure.dpi": 100,
    "savefig.dpi": PNG_DPI,
    "savefig.bbox": "tight",
    "savefig.pad_inches": 0.03,
    "savefig.facecolor": "white",
    # TrueType fonts in PDF/PS, so text stays text (editable, searchable) in the saved files.
    "pdf.fonttype": 42,
    "ps.fonttype": 42,
}


# Rough width of one 8-pt character in inches, used to size legends before drawing.
CHAR_WIDTH_IN = 0.6 * FONT_SIZE / 72
LEGEND_ROW_IN = 1.45 * FONT_SIZE / 72


def use_style() -> None:
    """Apply the study's figure style globally (for ad-hoc plots in notebooks)."""
    mpl.rcParams.update(STYLE)


@contextlib.contextmanager
def style_context() -> Iterator[None]:
    """A context in which matplotlib draws with :data:`STYLE`.

    Only the keys of :data:`STYLE` are restored on exit. ``matplotlib.rc_context`` restores every
    setting, which undoes what loading a notebook's inline backend inside it switched on
    (interactive display), so later figures would no longer show.
    """
    saved = {key: mpl.rcParams[key] for key in STYLE}
    mpl.rcParams.update(STYLE)
    try:
        yield
    finally:
        mpl.rcParams.update(saved)


def new_figure(width: float, height: float) -> Figure:
    """A pyplot figure of the given print size (inches) with constrained layout, in the style."""
    with style_context():
        return plt.figure(figsize=(width, height), layout="constrained")


def finish_axes(ax: Axes) -> None:
    """Pin tick label sizes on the axes: ticks created later (at draw time) ignore rc_context."""
    ax.tick_params(labelsize=FONT_SIZE, which="both")


#: What :func:`save_figure` writes, and how: a 200 dpi PNG for screens and a PDF for print.
FIGURE_FORMATS = ("png", "pdf")


def save_figure(
    fig: Figure, path_stem: str | os.PathLike, formats: tuple[str, ...] = FIGURE_FORMATS
) -> list[Path]:
    """Write ``<stem>.png`` (200 dpi) and ``<stem>.pdf`` atomically; the figure stays open.

    Args:
        fig: the figure to save.
        path_stem: output path without extension (a trailing ``.png``/``.pdf`` is dropped;
            other dots, as in ``tsne_eta0.5``, are kept). Folders are created.
        formats: a subset of :data:`FIGURE_FORMATS`, in the order to write them (a figure
            that is only looked at on screen needs no PDF, which costs twice the PNG's time).

    Returns:
        The written paths, in the order of ``formats``.
    """
    unknown = [name for name in formats if name not in FIGURE_FORMATS]
    if unknown or not formats:
        raise ValueError(f"formats must be a non-empty subset of {FIGURE_FORMATS}, got {formats}")
    stem = Path(path_stem)
    if stem.suffix.lower() in (".png", ".pdf"):
        stem = stem.with_suffix("")
    options = {
        "png": {"dpi": PNG_DPI},
        # No creation date, so an unchanged figure gives an unchanged file.
        "pdf": {"dpi": PDF_DPI, "metadata": {"CreationDate": None}},
    }
    written = []
    with style_context():
        for name in formats:
            buffer = io.BytesIO()
            fig.savefig(buffer, format=name, **options[name])
            written.append(
                atomic_write_bytes(stem.with_name(f"{stem.name}.{name}"), buffer.getvalue())
            )
    return written


def save_and_show(
    fig: Figure, path_stem: str | os.PathLike, formats: tuple[str, ...] = FIGURE_FORMATS
) -> list[Path]:
    """:func:`save_figure`, then, under a notebook's inline backend, show the PNG just written
    in place of the figure, and close the figure.

    The inline backend would draw the figure again when the cell ends (as long as the PNG
    takes, longer for maps of thousands of points): the written PNG is shown instead, at the
    size the figure has on screen (its own dpi; the file has :data:`PNG_DPI`, so it is sharp
    on high-resolution screens). Elsewhere, or without a PNG among ``formats``, it is
    :func:`save_figure` and the figure stays open.

    Returns:
        The written paths, as :func:`save_figure`.
    """
    written = save_figure(fig, path_stem, formats)
    png = next((path for path in written if path.suffix == ".png"), None)
    if png is None or "inline" not in mpl.get_backend():
        return written
    from IPython.display import Image, display

    data = png.read_bytes()
    # the PNG header's width (big-endian, bytes 16-19), scaled from the file's dpi to the figure's
    pixels = int.from_bytes(data[16:20], "big")
    display(Image(data=data, format="png", width=max(1, round(pixels * fig.dpi / PNG_DPI))))
    plt.close(fig)
    return written


def to_numpy(array: Any) -> np.ndarray:
    """numpy view of a numpy array, list or torch tensor (moved to the CPU, detached)."""
    if hasattr(array, "detach"):
        array = array.detach().cpu().numpy()
    return np.asarray(array)


def display_name(name: str) -> str:
    """Folder-style names read as words (``golf_course`` -> ``golf course``); mathtext is kept."""
    name = str(name)
    return name if "$" in name else name.replace("_", " ")


def entry_width_in(labels: Sequence[str]) -> float:
    """Width of one legend column (marker, gap, longest label, column gap) in inches."""
    longest = max((len(label) for label in labels), default=1)
    return longest * CHAR_WIDTH_IN + 3.2 * FONT_SIZE / 72


def series_entry_width_in(labels: Sequence[str]) -> float:
    """Like :func:`entry_width_in` for line handles, which are longer than markers."""
    return entry_width_in(labels) + 1.4 * FONT_SIZE / 72


def columns_for_height(count: int, height_in: float) -> int:
    """Legend columns needed for ``count`` entries to fit ``height_in`` inches."""
    rows = max(1, int(height_in / LEGEND_ROW_IN))
    return max(1, math.ceil(count / rows))


def check_labels(labels: Any, count: int, num_classes: int) -> np.ndarray:
    """Class indices as an int64 vector, one per point, each indexing the class names."""
    labels = to_numpy(labels).astype(np.int64).reshape(-1)
    if labels.shape[0] != count:
        raise ValueError(
            f"got {labels.shape[0]} labels for {count} points; pass one label per point"
        )
    if count and (labels.min() < 0 or labels.max() >= num_classes):
        raise ValueError(
            f"labels must index into the {num_classes} class names, got values in "
            f"[{labels.min()}, {labels.max()}]"
        )
    return labels


def to_hwc(image: Any) -> np.ndarray:
    """An (H, W, 3) image for imshow from (3, H, W) or (H, W, 3), uint8 or float in [0, 1]."""
    image = to_numpy(image)
    if image.ndim == 2:
        image = np.repeat(image[..., None], 3, axis=-1)
    elif image.ndim == 3 and image.shape[0] in (1, 3):
        # The study's (3, H, W) layout wins the (tiny-image) cases that are ambiguous.
        image = np.moveaxis(image, 0, -1)
    if image.ndim != 3 or image.shape[-1] not in (1, 3):
        raise ValueError(f"expected an image of shape (3, H, W) or (H, W, 3), got {image.shape}")
    if image.shape[-1] == 1:
        image = np.repeat(image, 3, axis=-1)
    if image.dtype == np.uint8:
        return image
    return np.clip(image.astype(np.float32), 0.0, 1.0)


def text_width_in(text: str) -> float:
    """Printed width of ``text`` at the study's font size, in inches."""
    from matplotlib.font_manager import FontProperties
    from matplotlib.textpath import TextPath

    with style_context():
        path = TextPath((0, 0), text, size=FONT_SIZE, prop=FontProperties())
    return path.get_extents().width / 72


def wrap_text(text: str, width_in: float) -> str:
    """Wrap a caption to ``width_in`` inches at spaces only: a word is never cut (a reader
    takes "intersecti-on" for a typo), so a word wider than a line gets a line of its own."""
    lines: list[str] = []
    for word in text.split():
        joined = f"{lines[-1]} {word}" if lines else word
        if lines and text_width_in(joined) <= width_in:
            lines[-1] = joined
        else:
            lines.append(word)
    return "\n".join(lines)


def image_axes(ax: Axes, image: np.ndarray, frame: str | None = None, width: float = 0.0) -> None:
    """Show an image without ticks, framed in ``frame`` colour at ``width`` pt (or unframed)."""
    ax.imshow(image, interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])
    for spine in ax.spines.values():
        spine.set_visible(frame is not None)
        if frame is not None:
            spine.set_edgecolor(frame)
            spine.set_linewidth(width)
