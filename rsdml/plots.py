"""The study's figures: one print-ready style and one function per kind of plot.

Everything here is a pure function of arrays and dicts (no training, no data loading), so the
notebooks stay short and every figure of the study looks the same:

- style: :func:`use_style` (global) and :func:`save_figure` (PNG at 200 dpi + PDF, atomic);
  every plotting function applies the style itself, so figures look the same whether or not
  :func:`use_style` was called. Text is at least 8 pt at the saved size (figures are made at
  their print size: one column 3.5 in, two columns 7.2 in, and never rescaled).
- colours: :func:`categorical_colors` is a colour-blind-aware categorical palette that scales
  to the 45 classes of NWPU-RESISC45 (Okabe-Ito first, then colours picked greedily to be far
  apart both for normal vision and under simulated protanopia/deuteranopia);
  :func:`categorical_markers` adds marker shapes once there are more than 10 classes, because
  no palette keeps 45 colours apart for every reader.
- data: :func:`plot_class_examples`, :func:`plot_transition_matrix`;
- embeddings: :func:`project_2d`, :func:`plot_embedding_2d`, :func:`plot_projections`;
- rank analysis: :func:`plot_singular_values`, :func:`plot_rank_over_training`;
- results: :func:`plot_pr_curves`, :func:`plot_learning_curves`, :func:`plot_metric_by_rate`,
  :func:`plot_retrieval_gallery`.

Line plots print each series name exactly as given, so a method reads ``snca_mb`` in a legend
as in the tables. More than :data:`MAX_LINES_PER_PANEL` lines (or any ``groups=``) become
small multiples: one panel per group with its own legend, every other series in light grey
behind it. Spreads over seeds are drawn as bands and error bars, and the legend says so.

Figures are created through pyplot (so notebooks show them inline); closing them is the
caller's decision (``plt.close(fig)``), never :func:`save_figure`'s.
"""

from __future__ import annotations

import functools
import io
import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import matplotlib as mpl
import matplotlib.pyplot as plt
import numpy as np
from cycler import cycler
from matplotlib.axes import Axes
from matplotlib.colors import Normalize, PowerNorm, to_hex
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import FuncFormatter

from rsdml.storage import atomic_write_bytes
from rsdml.tables import METRIC_ORDER, metric_label

__all__ = [
    "CONTEXT_COLOUR",
    "CORRECT_COLOUR",
    "DOUBLE_COLUMN",
    "FONT_SIZE",
    "MAX_BANDS_PER_PANEL",
    "MAX_LINES_PER_PANEL",
    "PDF_DPI",
    "PNG_DPI",
    "SINGLE_COLUMN",
    "SPREAD_LABEL",
    "STYLE",
    "WRONG_COLOUR",
    "categorical_colors",
    "categorical_markers",
    "plot_class_examples",
    "plot_embedding_2d",
    "plot_learning_curves",
    "plot_metric_by_rate",
    "plot_pr_curves",
    "plot_projections",
    "plot_rank_over_training",
    "plot_retrieval_gallery",
    "plot_singular_values",
    "plot_transition_matrix",
    "project_2d",
    "save_figure",
    "use_style",
]

#: Figure widths in inches: one column and two columns of a journal page.
SINGLE_COLUMN = 3.5
DOUBLE_COLUMN = 7.2
#: The smallest (and default) font size in points; titles are one point larger.
FONT_SIZE = 8.0
PNG_DPI = 200
# Only rasterised artists (scatter points, images) depend on this; text and lines stay vector.
PDF_DPI = 300

# Okabe & Ito (2008), "Color Universal Design", without black (reserved for marks such as the
# noisy-label crosses) and yellow (too light for small points on white).
_OKABE_ITO = ("#0072B2", "#D55E00", "#009E73", "#E69F00", "#CC79A7", "#56B4E9")
_MARKERS = ("o", "s", "^", "D", "v", "P", "X")
_LINESTYLES = ("-", "--", "-.", ":")
# Up to this many classes colour alone separates them; beyond, markers vary too.
_COLOUR_ONLY_CLASSES = 10
# Frames of the retrieval gallery: the Okabe-Ito green and vermillion stay apart for
# red-green colour-blind readers, and a tick or cross repeats the verdict in grey-scale print.
CORRECT_COLOUR = "#009E73"
WRONG_COLOUR = "#D55E00"
QUERY_COLOUR = "#000000"

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
    "axes.prop_cycle": cycler(color=list(_OKABE_ITO)),
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

_PROJECTION_TITLES = {"tsne": "t-SNE", "umap": "UMAP"}
# Rough width of one 8-pt character in inches, used to size legends before drawing.
_CHAR_WIDTH_IN = 0.6 * FONT_SIZE / 72
_LEGEND_ROW_IN = 1.45 * FONT_SIZE / 72


def use_style() -> None:
    """Apply the study's figure style globally (for ad-hoc plots in notebooks)."""
    mpl.rcParams.update(STYLE)


def _style() -> Any:
    return mpl.rc_context(STYLE)


def _figure(width: float, height: float) -> Figure:
    with _style():
        return plt.figure(figsize=(width, height), layout="constrained")


def _finish_axes(ax: Axes) -> None:
    """Pin tick label sizes on the axes: ticks created later (at draw time) ignore rc_context."""
    ax.tick_params(labelsize=FONT_SIZE, which="both")


def save_figure(fig: Figure, path_stem: str | os.PathLike) -> list[Path]:
    """Write ``<stem>.png`` (200 dpi) and ``<stem>.pdf`` atomically; the figure stays open.

    Args:
        fig: the figure to save.
        path_stem: output path without extension (a trailing ``.png``/``.pdf`` is dropped;
            other dots, as in ``tsne_eta0.5``, are kept). Folders are created.

    Returns:
        The written paths, PNG first.
    """
    stem = Path(path_stem)
    if stem.suffix.lower() in (".png", ".pdf"):
        stem = stem.with_suffix("")
    written = []
    with _style():
        for suffix, options in (
            (".png", {"dpi": PNG_DPI}),
            # No creation date, so an unchanged figure gives an unchanged file.
            (".pdf", {"dpi": PDF_DPI, "metadata": {"CreationDate": None}}),
        ):
            buffer = io.BytesIO()
            fig.savefig(buffer, format=suffix[1:], **options)
            written.append(
                atomic_write_bytes(stem.with_name(stem.name + suffix), buffer.getvalue())
            )
    return written


# --------------------------------------------------------------------------- colours


def _srgb_to_linear(rgb: np.ndarray) -> np.ndarray:
    return np.where(rgb <= 0.04045, rgb / 12.92, ((rgb + 0.055) / 1.055) ** 2.4)


def _linear_to_lab(linear: np.ndarray) -> np.ndarray:
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
    linear = _srgb_to_linear(rgb)
    return [_linear_to_lab(linear)] + [
        _linear_to_lab(np.clip(linear @ matrix.T, 0.0, 1.0))
        for matrix in (_PROTANOPIA, _DEUTERANOPIA)
    ]


@functools.lru_cache(maxsize=8)
def _palette(count: int) -> tuple[str, ...]:
    seeds = [np.array(mpl.colors.to_rgb(colour)) for colour in _OKABE_ITO]
    if count <= len(seeds):
        return _OKABE_ITO[:count]
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
    chosen = list(_OKABE_ITO)
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
    return [_MARKERS[i % len(_MARKERS)] for i in range(count)]


def _line_styles(count: int) -> list[dict[str, Any]]:
    """Colour, dash pattern and marker per series, so curves stay apart in grey-scale print."""
    colours = categorical_colors(count)
    return [
        {
            "color": colours[i],
            "linestyle": _LINESTYLES[i % len(_LINESTYLES)],
            "marker": _MARKERS[i % len(_MARKERS)],
        }
        for i in range(count)
    ]


# --------------------------------------------------------------------------- helpers


def _to_numpy(array: Any) -> np.ndarray:
    """numpy view of a numpy array, list or torch tensor (moved to the CPU, detached)."""
    if hasattr(array, "detach"):
        array = array.detach().cpu().numpy()
    return np.asarray(array)


def _display_name(name: str) -> str:
    """Folder-style names read as words (``golf_course`` -> ``golf course``); mathtext is kept."""
    name = str(name)
    return name if "$" in name else name.replace("_", " ")


def _entry_width_in(labels: Sequence[str]) -> float:
    """Width of one legend column (marker, gap, longest label, column gap) in inches."""
    longest = max((len(label) for label in labels), default=1)
    return longest * _CHAR_WIDTH_IN + 3.2 * FONT_SIZE / 72


def _series_entry_width_in(labels: Sequence[str]) -> float:
    """Like :func:`_entry_width_in` for line handles, which are longer than markers."""
    return _entry_width_in(labels) + 1.4 * FONT_SIZE / 72


def _columns_for_height(count: int, height_in: float) -> int:
    rows = max(1, int(height_in / _LEGEND_ROW_IN))
    return max(1, math.ceil(count / rows))


def _class_handles(classes: Sequence[str], noisy: bool) -> list[Line2D]:
    colours = categorical_colors(len(classes))
    markers = categorical_markers(len(classes))
    handles = [
        Line2D(
            [],
            [],
            linestyle="",
            marker=markers[i],
            markersize=4.5,
            markerfacecolor=colours[i],
            markeredgewidth=0,
            color=colours[i],
            label=_display_name(name),
        )
        for i, name in enumerate(classes)
    ]
    if noisy:
        handles.append(
            Line2D(
                [],
                [],
                linestyle="",
                marker="x",
                markersize=4.5,
                color="black",
                markeredgewidth=0.8,
                label="noisy label",
            )
        )
    return handles


def _point_size(count: int) -> float:
    """Scatter marker area (pt^2): large for a few points, small but visible for thousands."""
    return float(np.clip(9000.0 / max(count, 1), 5.0, 24.0))


def _check_labels(labels: Any, count: int, num_classes: int) -> np.ndarray:
    labels = _to_numpy(labels).astype(np.int64).reshape(-1)
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


def _check_mask(mask: Any, count: int) -> np.ndarray | None:
    if mask is None:
        return None
    mask = _to_numpy(mask).astype(bool).reshape(-1)
    if mask.shape[0] != count:
        raise ValueError(f"noisy mask has {mask.shape[0]} entries for {count} points")
    return mask


def _outside_legend(fig: Figure, handles: Sequence[Any], labels: Sequence[str]) -> None:
    """Series legend outside the data: below the axes for a few entries, to the right for more."""
    if len(handles) <= 4:
        columns = max(
            1, min(len(handles), int(fig.get_figwidth() / _series_entry_width_in(labels)))
        )
        fig.legend(handles, labels, loc="outside lower center", ncol=columns, handlelength=2.4)
    else:
        fig.legend(handles, labels, loc="outside right upper", ncol=1, handlelength=2.4)


def _line_figure(names: Sequence[str], extra: Sequence[str] = ()) -> Figure:
    """A one-column line-plot figure, enlarged by the room its outside legend takes."""
    labels = [str(name) for name in names] + list(extra)
    if len(labels) > 4:
        return _figure(SINGLE_COLUMN + _entry_width_in(labels) + 0.25, 2.6)
    columns = max(1, min(len(labels), int(SINGLE_COLUMN / _series_entry_width_in(labels))))
    return _figure(SINGLE_COLUMN, 2.5 + math.ceil(len(labels) / columns) * _LEGEND_ROW_IN)


#: Lines one panel of a line plot shows; more are drawn as small multiples (one panel per
#: group), because no set of colours, dashes and markers keeps 13 lines apart for every reader.
MAX_LINES_PER_PANEL = 6
#: The same for lines with a band each (:func:`plot_metric_by_rate`): overlapping bands blur
#: sooner than lines.
MAX_BANDS_PER_PANEL = 4
#: Every other series, drawn in each panel of small multiples for comparison.
CONTEXT_COLOUR = "#c4c4c4"
#: Legend text of the shaded band and error bars of :func:`plot_metric_by_rate`.
SPREAD_LABEL = "band and bars: ±1 std over seeds"

# series name -> (x, y); spreads: series name -> (x, y, ±spread) drawn as band and bars
_Series = Mapping[str, tuple[np.ndarray, np.ndarray]]
_Spreads = Mapping[str, tuple[np.ndarray, np.ndarray, np.ndarray]]


def _panels(
    names: Sequence[str],
    groups: Mapping[str, Sequence[str]] | None,
    limit: int = MAX_LINES_PER_PANEL,
) -> list[tuple[str, list[str]]]:
    """(panel title, series) of each panel, the series in the order they were given.

    Up to ``limit`` series share one untitled panel, whatever ``groups`` say (a few lines
    compare best on one axes). Beyond, each non-empty group of ``groups`` (title -> series
    names) gets a panel and series in no group a last one, "other"; without ``groups`` the
    series are cut into equal untitled panels.
    """
    names = [str(name) for name in names]
    if len(names) <= limit:
        return [("", names)]
    if groups is None:
        count = math.ceil(len(names) / limit)
        size = math.ceil(len(names) / count)
        return [("", names[i : i + size]) for i in range(0, len(names), size)]
    placed: set[str] = set()
    panels = []
    for title, members in groups.items():
        wanted = {str(member) for member in members}
        shown = [name for name in names if name in wanted and name not in placed]
        placed.update(shown)
        if shown:
            panels.append((str(title), shown))
    rest = [name for name in names if name not in placed]
    if rest:
        panels.append(("other", rest))
    return panels


def _draw_spread(ax: Axes, line: Line2D, spread: tuple[np.ndarray, np.ndarray, np.ndarray]) -> None:
    """A band between mean - std and mean + std, and error bars at the points: a lone point
    (one rate) has no band to show, so the bars carry the spread there."""
    x, y, std = spread
    colour = line.get_color()
    if len(x) > 1:
        ax.fill_between(x, y - std, y + std, color=colour, alpha=0.12, lw=0)
    ax.errorbar(x, y, yerr=std, fmt="none", ecolor=colour, elinewidth=0.8, capsize=2.0)


def _spread_handle() -> Any:
    from matplotlib.patches import Patch

    return Patch(facecolor="0.45", alpha=0.3, edgecolor="none", label=SPREAD_LABEL)


def _plot_lines(
    series: _Series,
    *,
    xlabel: str,
    ylabel: str,
    title: str,
    groups: Mapping[str, Sequence[str]] | None = None,
    spreads: _Spreads | None = None,
) -> Figure:
    """Every line plot: one axes with an outside legend, or small multiples (see :func:`_panels`).

    Legends print each series name exactly as given, so a method reads as the tables spell it.
    """
    panels = _panels(list(series), groups, MAX_BANDS_PER_PANEL if spreads else MAX_LINES_PER_PANEL)
    if len(panels) == 1:
        extra = [SPREAD_LABEL] if spreads else []
        fig = _line_figure(list(series), extra)
        _plot_series(fig, series, xlabel=xlabel, ylabel=ylabel, title=title, spreads=spreads)
        return fig
    return _plot_panels(series, panels, xlabel=xlabel, ylabel=ylabel, title=title, spreads=spreads)


def _plot_series(
    fig: Figure,
    series: _Series,
    *,
    xlabel: str,
    ylabel: str,
    title: str,
    spreads: _Spreads | None = None,
) -> Axes:
    """One axes of styled lines, grid and outside legend (the spread explained in it)."""
    with _style():
        ax = fig.add_subplot()
        styles = _line_styles(len(series))
        handles: list[Any] = []
        for style, (name, (x, y)) in zip(styles, series.items(), strict=True):
            # Markers at about a dozen places per line: enough to identify it, not to clutter.
            every = max(1, len(x) // 12)
            (line,) = ax.plot(x, y, markevery=every, markersize=3.5, label=str(name), **style)
            if spreads is not None:
                _draw_spread(ax, line, spreads[name])
            handles.append(line)
        if spreads:
            handles.append(_spread_handle())
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        ax.grid(True)
        if title:
            ax.set_title(title)
        _finish_axes(ax)
        _outside_legend(fig, handles, [h.get_label() for h in handles])
    return ax


def _plot_panels(
    series: _Series,
    panels: Sequence[tuple[str, Sequence[str]]],
    *,
    xlabel: str,
    ylabel: str,
    title: str,
    spreads: _Spreads | None = None,
) -> Figure:
    """Small multiples at two-column width: each panel draws its own series in colour, with
    the legend above it, and every other series in light grey behind them for comparison."""
    columns = 2 if len(panels) in (2, 4) else 3
    rows = math.ceil(len(panels) / columns)
    longest = max(len(members) for _, members in panels)
    legend_rows = math.ceil(longest / 2)
    fig = _figure(DOUBLE_COLUMN, rows * (1.45 + (legend_rows + 1) * _LEGEND_ROW_IN) + 0.45)
    with _style():
        axes = fig.subplots(rows, columns, sharex=True, sharey=True, squeeze=False)
        for ax, (group, members) in zip(axes.flat, panels, strict=False):
            for name, (x, y) in series.items():
                if name not in members:
                    ax.plot(x, y, color=CONTEXT_COLOUR, linewidth=0.7, zorder=1)
            handles = []
            for style, name in zip(_line_styles(len(members)), members, strict=True):
                x, y = series[name]
                every = max(1, len(x) // 12)
                (line,) = ax.plot(
                    x, y, markevery=every, markersize=3.5, label=name, zorder=3, **style
                )
                if spreads is not None:
                    _draw_spread(ax, line, spreads[name])
                handles.append(line)
            ax.grid(True)
            # The legend sits above the panel, outside the data, titled by the group.
            ax.legend(
                handles=handles,
                title=group or None,
                loc="lower center",
                bbox_to_anchor=(0.5, 1.0),
                ncol=min(2, len(handles)),
                handlelength=2.4,
                borderaxespad=0.2,
            )
            _finish_axes(ax)
        for ax in axes.flat[len(panels) :]:
            ax.set_axis_off()
        for position, ax in enumerate(axes.flat[: len(panels)]):
            # the lowest panel of each column carries the x axis, also above an empty slot
            if position + columns >= len(panels):
                ax.tick_params(labelbottom=True)
                ax.set_xlabel(xlabel)
        fig.supylabel(ylabel)
        if title:
            fig.suptitle(title)
        context = Line2D([], [], color=CONTEXT_COLOUR, linewidth=0.7)
        notes = [context] + ([_spread_handle()] if spreads else [])
        labels = ["grey: the series of the other panels"] + ([SPREAD_LABEL] if spreads else [])
        spare = axes.flat[len(panels) :]
        if len(spare):
            # an empty slot of the grid holds the key to the grey lines (and the bands)
            spare[0].legend(notes, labels, loc="center", handlelength=2.4)
        else:
            fig.legend(notes, labels, loc="outside lower center", ncol=len(notes), handlelength=2.4)
    return fig


def _check_series(series: Mapping[str, Any], what: str) -> None:
    if not series:
        raise ValueError(f"no {what} to plot; pass a non-empty dict")


# --------------------------------------------------------------------------- embeddings


def project_2d(
    embeddings: Any,
    method: str = "tsne",
    seed: int = 0,
    perplexity: float = 30.0,
    *,
    threads: int | None = 1,
) -> np.ndarray:
    """Project embeddings to 2-D with t-SNE or UMAP, deterministically for a seed.

    t-SNE is scikit-learn's Barnes-Hut ``TSNE(init="pca", learning_rate="auto")`` with the
    perplexity capped at ``(n - 1) / 3`` so that small sets work. UMAP is umap-learn with
    ``n_neighbors=min(15, n - 1)`` and ``n_jobs=1`` (required for a fixed ``random_state``);
    it is imported here because its import (numba) takes seconds. Euclidean distance is used:
    on L2-normalised embeddings it orders neighbours exactly like cosine similarity.

    Args:
        embeddings: (N, D) array or tensor, N >= 4.
        method: ``"tsne"`` or ``"umap"``.
        seed: random state of the projection (with t-SNE's PCA initialisation the result
            barely depends on it; UMAP's does).
        perplexity: t-SNE perplexity before the cap.
        threads: native (BLAS/OpenMP) threads while projecting. The default 1 keeps the result
            independent of the machine's core count (with more threads t-SNE's output changes)
            and avoids oversubscription on small machines; None leaves the libraries' defaults.

    Returns:
        float32 array (N, 2).

    Raises:
        ValueError: on an unknown method, a non-2-D input, fewer than 4 points or NaN/inf values.
    """
    from threadpoolctl import threadpool_limits

    if method not in _PROJECTION_TITLES:
        raise ValueError(
            f"unknown projection {method!r}; choose one of {sorted(_PROJECTION_TITLES)}"
        )
    data = np.ascontiguousarray(_to_numpy(embeddings), dtype=np.float32)
    if data.ndim != 2:
        raise ValueError(f"embeddings must be a 2-D (N, D) array, got shape {data.shape}")
    count = data.shape[0]
    if count < 4:
        raise ValueError(f"need at least 4 points to project, got {count}")
    if not np.isfinite(data).all():
        raise ValueError(
            "embeddings contain NaN or inf; check the model's outputs before projecting"
        )
    if method == "tsne":
        # Imported before the thread limit: threadpoolctl only limits libraries already loaded.
        from sklearn.manifold import TSNE
    else:
        try:
            import umap
        except ImportError as error:  # pragma: no cover - umap-learn is a dependency
            raise ImportError("UMAP projections need umap-learn: pip install umap-learn") from error
    with threadpool_limits(limits=threads):
        if method == "tsne":
            projector = TSNE(
                n_components=2,
                init="pca",
                learning_rate="auto",
                perplexity=min(float(perplexity), (count - 1) / 3),
                random_state=seed,
            )
            points = projector.fit_transform(data)
        else:
            projector = umap.UMAP(
                n_components=2, n_neighbors=min(15, count - 1), random_state=seed, n_jobs=1
            )
            points = projector.fit_transform(data)
    return np.asarray(points, dtype=np.float32)


def plot_embedding_2d(
    points: Any,
    labels: Any,
    classes: Sequence[str],
    *,
    noisy: Any = None,
    title: str = "",
    ax: Axes | None = None,
    legend: bool = True,
) -> Axes:
    """Scatter 2-D points coloured (and, past 10 classes, shaped) by class.

    Args:
        points: (N, 2) projected embeddings.
        labels: (N,) class indices into ``classes`` (the labels the colours should show).
        classes: class names.
        noisy: optional (N,) bool mask; those points get a black cross (e.g. training points
            whose label was flipped).
        title: axes title.
        ax: axes to draw into; default a new one-column figure.
        legend: add the class legend to the right, outside the data.

    Returns:
        The axes drawn into.
    """
    points = _to_numpy(points).astype(np.float64)
    if points.ndim != 2 or points.shape[1] != 2:
        raise ValueError(f"points must have shape (N, 2), got {points.shape}; see project_2d()")
    labels = _check_labels(labels, points.shape[0], len(classes))
    mask = _check_mask(noisy, points.shape[0])
    own_figure = ax is None
    with _style():
        if ax is None:
            ax = _figure(SINGLE_COLUMN, SINGLE_COLUMN).add_subplot()
        colours = categorical_colors(len(classes))
        markers = categorical_markers(len(classes))
        size = _point_size(points.shape[0])
        for index in range(len(classes)):
            chosen = labels == index
            if chosen.any():
                ax.scatter(
                    points[chosen, 0],
                    points[chosen, 1],
                    s=size,
                    color=colours[index],
                    marker=markers[index],
                    linewidths=0,
                    rasterized=True,
                )
        has_noisy = mask is not None and bool(mask.any())
        if has_noisy:
            ax.scatter(
                points[mask, 0],
                points[mask, 1],
                s=size * 1.3,
                color="black",
                marker="x",
                linewidths=0.6,
                rasterized=True,
            )
        ax.set_xticks([])
        ax.set_yticks([])
        for side in ("top", "right"):
            ax.spines[side].set_visible(True)
        ax.set_box_aspect(1)
        ax.set_aspect("equal", adjustable="datalim")
        if title:
            ax.set_title(title)
        if legend:
            handles = _class_handles(classes, has_noisy)
            height = ax.figure.get_figheight()
            ax.legend(
                handles=handles,
                loc="upper left",
                bbox_to_anchor=(1.02, 1.0),
                borderaxespad=0.0,
                handletextpad=0.3,
                handlelength=1.0,
                ncol=_columns_for_height(len(handles), height),
            )
            if own_figure:
                # Widen the figure made here so the legend does not squeeze the panel.
                columns = _columns_for_height(len(handles), height)
                extra = columns * _entry_width_in([h.get_label() for h in handles])
                ax.figure.set_figwidth(SINGLE_COLUMN + extra)
    return ax


def plot_projections(
    embeddings: Any,
    labels: Any,
    classes: Sequence[str],
    *,
    noisy: Any = None,
    seed: int = 0,
    methods: Sequence[str] = ("tsne", "umap"),
    title: str = "",
) -> Figure:
    """t-SNE and UMAP of the same embeddings side by side, with one shared class legend below.

    Args:
        embeddings: (N, D) array or tensor.
        labels: (N,) class indices.
        classes: class names.
        noisy: optional (N,) bool mask of noisy-labelled points (marked with a cross).
        seed: random state of both projections.
        methods: projections to show, left to right.
        title: figure title.

    Returns:
        The figure (two-column width).
    """
    if not methods:
        raise ValueError("methods is empty; pass e.g. ('tsne', 'umap')")
    projections = [project_2d(embeddings, method, seed=seed) for method in methods]
    mask = _check_mask(noisy, projections[0].shape[0])
    handles = _class_handles(classes, mask is not None and bool(mask.any()))
    width = DOUBLE_COLUMN
    panel = min((width - 0.2) / len(methods), 3.6)
    columns = max(
        1, min(len(handles), int(width / _entry_width_in([h.get_label() for h in handles])))
    )
    rows = math.ceil(len(handles) / columns)
    fig = _figure(width, panel + 0.35 + rows * _LEGEND_ROW_IN + (0.2 if title else 0.0))
    with _style():
        axes = np.atleast_1d(fig.subplots(1, len(methods)))
        for ax, method, points in zip(axes, methods, projections, strict=True):
            plot_embedding_2d(
                points,
                labels,
                classes,
                noisy=mask,
                title=_PROJECTION_TITLES[method],
                ax=ax,
                legend=False,
            )
        fig.legend(
            handles=handles,
            loc="outside lower center",
            ncol=columns,
            handletextpad=0.3,
            handlelength=1.0,
            columnspacing=1.2,
        )
        if title:
            fig.suptitle(title)
    return fig


# --------------------------------------------------------------------------- rank analysis


def _effective_rank(values: np.ndarray) -> float:
    """exp(entropy) of the singular values normalised to sum 1 (Roy & Vetterli, 2007)."""
    positive = values[values > 0]
    if positive.size == 0:
        return 0.0
    share = positive / positive.sum()
    return float(np.exp(-(share * np.log(share)).sum()))


def plot_singular_values(
    spectra: Mapping[str, Any], *, title: str = "", normalise: bool = True
) -> Figure:
    """Singular-value spectra on a log scale, one line per run, effective rank in the legend.

    Args:
        spectra: name (e.g. ``"lambda = 0"``) -> singular values (any order; sorted descending).
        title: axes title.
        normalise: divide each spectrum by its largest value, so spectra of differently scaled
            matrices compare by shape (how fast they decay).

    Returns:
        The figure.
    """
    _check_series(spectra, "spectra")
    series = {}
    for name, values in spectra.items():
        values = np.sort(_to_numpy(values).astype(np.float64).reshape(-1))[::-1]
        if values.size == 0 or not np.isfinite(values).all() or values.min() < 0:
            raise ValueError(f"spectrum {name!r} must be non-empty, finite and non-negative")
        label = f"{name} (eff. rank {_effective_rank(values):.1f})"
        shown = values / values[0] if normalise and values[0] > 0 else values
        # Exact zeros cannot sit on a log axis; they are cut rather than drawn at -inf.
        keep = shown > 0
        series[label] = (np.arange(1, values.size + 1)[keep], shown[keep])
    fig = _line_figure(list(series))
    ax = _plot_series(
        fig,
        series,
        xlabel="index $i$",
        ylabel=r"$\sigma_i / \sigma_1$" if normalise else r"singular value $\sigma_i$",
        title=title,
    )
    ax.set_yscale("log")
    _finish_axes(ax)
    return fig


def plot_rank_over_training(
    history: Mapping[str, Sequence[float]],
    ylabel: str = "effective rank",
    *,
    title: str = "",
    first_epoch: int = 1,
) -> Figure:
    """A rank measure per epoch for several runs (e.g. lambda = 0 vs lambda = 1).

    Args:
        history: run name -> one value per epoch (NaN for epochs without a measurement).
        ylabel: what the values are.
        title: axes title.
        first_epoch: the epoch of each list's first value (0 when it holds the value before training).

    Returns:
        The figure.
    """
    _check_series(history, "histories")
    series = {
        name: (np.arange(first_epoch, first_epoch + len(values)), np.asarray(values, dtype=float))
        for name, values in history.items()
    }
    fig = _line_figure(list(series))
    _plot_series(fig, series, xlabel="epoch", ylabel=ylabel, title=title)
    return fig


# --------------------------------------------------------------------------- results


def plot_pr_curves(
    curves: Mapping[str, tuple[Any, Any]],
    *,
    title: str = "",
    groups: Mapping[str, Sequence[str]] | None = None,
) -> Figure:
    """Precision-recall curves of several methods (values are fractions; axes show them as such).

    Args:
        curves: method -> (recall, precision), equal-length arrays in [0, 1].
        title: axes (or figure) title.
        groups: panel title -> methods (e.g. :func:`rsdml.report.method_groups`), the panels
            of the small multiples drawn for more than :data:`MAX_LINES_PER_PANEL` methods;
            without, such methods are split into equal panels.

    Returns:
        The figure.
    """
    _check_series(curves, "curves")
    series = {}
    for name, (recall, precision) in curves.items():
        recall = _to_numpy(recall).astype(np.float64).reshape(-1)
        precision = _to_numpy(precision).astype(np.float64).reshape(-1)
        if recall.shape != precision.shape:
            raise ValueError(
                f"curve {name!r}: recall has {recall.size} points but precision {precision.size}"
            )
        series[str(name)] = (recall, precision)
    fig = _plot_lines(series, xlabel="recall", ylabel="precision", title=title, groups=groups)
    for ax in fig.axes:
        if ax.get_label() != "<colorbar>" and ax.axison:
            ax.set_xlim(-0.02, 1.02)
            ax.set_ylim(-0.02, 1.02)
    return fig


def plot_metric_by_rate(
    series: Mapping[str, tuple[Any, Any, Any]],
    metric: str = "knn@10",
    *,
    xlabel: str,
    title: str = "",
    groups: Mapping[str, Sequence[str]] | None = None,
) -> Figure:
    """A test metric against a rate (noise rate, labelled fraction): the mean over seeds, with
    a band and error bars of ±1 sample std over seeds, which the legend says.

    Args:
        series: method -> (rates, means, stds), as :func:`rsdml.tables.rate_series` returns;
            means and stds are fractions.
        metric: the metric's name (axis label).
        xlabel: what the rate is, e.g. ``"uniform noise rate"``.
        title: axes (or figure) title.
        groups: panel title -> methods, for the small multiples drawn for more than
            :data:`MAX_BANDS_PER_PANEL` methods (see :func:`plot_pr_curves`).

    Returns:
        The figure.
    """
    _check_series(series, "series")
    curves = {}
    for name, (rates, means, stds) in series.items():
        rates, means, stds = (
            _to_numpy(v).astype(np.float64).reshape(-1) for v in (rates, means, stds)
        )
        if not rates.shape == means.shape == stds.shape:
            raise ValueError(f"series {name!r}: rates, means and stds differ in length")
        if means.size and (np.nanmin(means) < 0 or np.nanmax(means) > 1):
            raise ValueError(f"series {name!r} has means outside [0, 1]; pass fractions")
        curves[str(name)] = (rates, 100.0 * means, 100.0 * np.nan_to_num(stds))
    fig = _plot_lines(
        {name: (x, y) for name, (x, y, _) in curves.items()},
        xlabel=xlabel,
        ylabel=f"{metric_label(metric)} (%)",
        title=title,
        groups=groups,
        spreads=curves,
    )
    ticks = sorted({float(r) for x, _, _ in curves.values() for r in x})
    with _style():
        for ax in fig.axes:
            if ax.axison:
                ax.set_xticks(ticks)
                _finish_axes(ax)
    return fig


def plot_learning_curves(
    curves: Mapping[str, Sequence[float]],
    metric: str = "knn@10",
    *,
    title: str = "",
    first_epoch: int = 1,
    groups: Mapping[str, Sequence[str]] | None = None,
) -> Figure:
    """A validation metric per epoch for several methods (like SNCA-CE's Fig. 4).

    The study's metrics (fractions) are shown in percent; any other metric as given.

    Args:
        curves: method -> one value per epoch.
        metric: metric name, e.g. ``"knn@10"`` (sets the axis label and the percent scaling).
        title: axes (or figure) title.
        first_epoch: the epoch of each list's first value.
        groups: panel title -> methods, for small multiples (see :func:`plot_pr_curves`).

    Returns:
        The figure.

    Raises:
        ValueError: when a study metric has values outside [0, 1] (pass fractions, not percent).
    """
    _check_series(curves, "curves")
    percent = metric in METRIC_ORDER
    series = {}
    for name, values in curves.items():
        values = np.asarray(values, dtype=float)
        if percent:
            finite = values[np.isfinite(values)]
            if finite.size and (finite.min() < 0 or finite.max() > 1):
                raise ValueError(
                    f"curve {name!r} has {metric} values outside [0, 1]; pass fractions, not percent"
                )
            values = 100.0 * values
        series[str(name)] = (np.arange(first_epoch, first_epoch + len(values)), values)
    ylabel = f"{metric_label(metric)} (%)" if percent else metric_label(metric)
    return _plot_lines(series, xlabel="epoch", ylabel=ylabel, title=title, groups=groups)


def _to_hwc(image: Any) -> np.ndarray:
    """An (H, W, 3) image for imshow from (3, H, W) or (H, W, 3), uint8 or float in [0, 1]."""
    image = _to_numpy(image)
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


def _text_width_in(text: str) -> float:
    """Printed width of ``text`` at the study's font size, in inches."""
    from matplotlib.font_manager import FontProperties
    from matplotlib.textpath import TextPath

    with _style():
        path = TextPath((0, 0), text, size=FONT_SIZE, prop=FontProperties())
    return path.get_extents().width / 72


def _wrap(text: str, width_in: float) -> str:
    """Wrap a caption to ``width_in`` inches at spaces only: a word is never cut (a reader
    takes "intersecti-on" for a typo), so a word wider than a line gets a line of its own."""
    lines: list[str] = []
    for word in text.split():
        joined = f"{lines[-1]} {word}" if lines else word
        if lines and _text_width_in(joined) <= width_in:
            lines[-1] = joined
        else:
            lines.append(word)
    return "\n".join(lines)


def _image_axes(ax: Axes, image: np.ndarray, frame: str | None = None, width: float = 0.0) -> None:
    ax.imshow(image, interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])
    for spine in ax.spines.values():
        spine.set_visible(frame is not None)
        if frame is not None:
            spine.set_edgecolor(frame)
            spine.set_linewidth(width)


def _gallery_layout(count: int, words: Sequence[str]) -> tuple[int, int, float]:
    """Rows, results per row and tile size (in) of a retrieval gallery at two-column width.

    One row while every caption word fits its tile (tiles at most 1.1 in); otherwise as many
    rows as it takes for the longest word to fit, because captions are never hyphenated and
    8-pt text does not shrink.
    """
    widest = max((_text_width_in(word) for word in words), default=0.0)
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
    results = _to_numpy(results)
    verdicts = _to_numpy(correct).astype(bool).reshape(-1)
    count = results.shape[0]
    if verdicts.shape[0] != count:
        raise ValueError(f"got {count} result images but {verdicts.shape[0]} correct flags")
    if titles is not None and len(titles) != count:
        raise ValueError(f"got {len(titles)} titles for {count} results")
    names = [_display_name(t) for t in titles] if titles is not None else []
    rows, per_row, tile = _gallery_layout(count, [w for name in names for w in name.split()])
    caption_lines = [_wrap(name, tile) for name in names]
    lines = max((text.count("\n") + 1 for text in caption_lines), default=0)
    row_height = tile + 0.3 + lines * _LEGEND_ROW_IN
    fig = _figure(
        DOUBLE_COLUMN if tile < 1.1 else tile * (per_row + 1.3) + 0.3,
        rows * row_height + (0.05 + _LEGEND_ROW_IN if title else 0.05),
    )
    with _style():
        grid = fig.add_gridspec(
            rows, per_row + 2, width_ratios=[1, 0.25] + [1] * per_row, wspace=0.06
        )
        query_ax = fig.add_subplot(grid[0, 0])
        _image_axes(query_ax, _to_hwc(query_image), QUERY_COLOUR, 1.5)
        query_ax.set_title(_wrap(_display_name(query_title), tile), fontsize=FONT_SIZE)
        for position in range(count):
            row, column = divmod(position, per_row)
            ax = fig.add_subplot(grid[row, column + 2])
            right = bool(verdicts[position])
            _image_axes(
                ax, _to_hwc(results[position]), CORRECT_COLOUR if right else WRONG_COLOUR, 3.0
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


# --------------------------------------------------------------------------- data overview


def _example_layout(names: Sequence[str], per_class: int) -> tuple[int, int, float]:
    """Blocks side by side, block rows and image size (in) for the class-example grid.

    Picks the number of class blocks per row whose page height is closest to 3/4 of the
    width, among those where a block is wide enough for its class name and images stay
    at least a quarter inch.
    """
    title_height = 1.6 * FONT_SIZE / 72
    longest = max(_text_width_in(name) for name in names)
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
    images = _to_numpy(images)
    if images.ndim != 4:
        raise ValueError(f"images must be (N, 3, H, W), got shape {images.shape}")
    labels = _check_labels(labels, images.shape[0], len(classes))
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
    blocks, block_rows, tile = _example_layout([_display_name(name) for name in classes], per_class)
    title_height = 1.6 * FONT_SIZE / 72
    fig = _figure(DOUBLE_COLUMN, block_rows * (tile + title_height + 0.04))
    fig.get_layout_engine().set(w_pad=0.01, h_pad=0.01, wspace=0.02, hspace=0.02)
    with _style():
        cells = fig.subfigures(block_rows, blocks, squeeze=False, wspace=0.03, hspace=0.0)
        for index in range(block_rows * blocks):
            subfigure = cells[index % block_rows, index // block_rows]
            if index >= count:
                continue
            subfigure.suptitle(_display_name(classes[index]), fontsize=FONT_SIZE)
            axes = subfigure.subplots(1, per_class, squeeze=False)[0]
            for slot, ax in enumerate(axes):
                if slot < len(picks[index]):
                    # A hairline frame keeps bright scenes (snow, cloud) apart from the page.
                    _image_axes(ax, _to_hwc(images[picks[index][slot]]), "#999999", 0.4)
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
    matrix = _to_numpy(matrix).astype(np.float64)
    count = len(classes)
    if matrix.shape != (count, count):
        raise ValueError(
            f"matrix must be ({count}, {count}) for {count} classes, got {matrix.shape}"
        )
    names = [_display_name(name) for name in classes]
    label_room = max(len(name) for name in names) * _CHAR_WIDTH_IN + 0.5
    side = float(np.clip(0.3 * count + label_room + 0.9, SINGLE_COLUMN, DOUBLE_COLUMN))
    cell = (side - label_room - 0.9) / count
    if annotate is None:
        annotate = cell >= 0.21
    fig = _figure(side, side - 0.6 + (0.2 if title else 0.0))
    probabilities = matrix.min() >= 0 and matrix.max() <= 1
    norm: Normalize = (
        PowerNorm(0.5, vmin=0.0, vmax=1.0)
        if probabilities
        else Normalize(vmin=matrix.min(), vmax=matrix.max())
    )
    with _style():
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
        colorbar = fig.colorbar(image, ax=ax, shrink=0.8, pad=0.02, aspect=30)
        if probabilities:
            # the cells print percent, so the colour bar counts in percent too: one unit
            colorbar.set_ticks([0.0, 0.05, 0.2, 0.4, 0.6, 0.8, 1.0])
            colorbar.ax.yaxis.set_major_formatter(
                FuncFormatter(lambda value, _: f"{100 * value:.0f}")
            )
        colorbar.set_label(r"$T_{ij}$ (%)" if probabilities else "value")
        colorbar.outline.set_linewidth(0.5)
        colorbar.ax.tick_params(labelsize=FONT_SIZE)
        if annotate:
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
        _finish_axes(ax)
        ax.tick_params(length=0)
    return fig
