"""The line plots' shared machinery: one axes with an outside legend, or small multiples.

Line plots print each series name exactly as given, so a method reads ``snca_mb`` in a legend
as in the tables. More than :data:`MAX_LINES_PER_PANEL` lines (or any ``groups=``) become
small multiples: one panel per group with its own legend, every other series in light grey
behind it. Spreads over seeds are drawn as bands and error bars, and the legend says so.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from rsdml.plots.colours import line_styles
from rsdml.plots.style import (
    DOUBLE_COLUMN,
    LEGEND_ROW_IN,
    SINGLE_COLUMN,
    entry_width_in,
    finish_axes,
    new_figure,
    series_entry_width_in,
    style_context,
)

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


def plot_lines(
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
        fig = line_figure(list(series), extra)
        plot_series(fig, series, xlabel=xlabel, ylabel=ylabel, title=title, spreads=spreads)
        return fig
    return _plot_panels(series, panels, xlabel=xlabel, ylabel=ylabel, title=title, spreads=spreads)


def plot_series(
    fig: Figure,
    series: _Series,
    *,
    xlabel: str,
    ylabel: str,
    title: str,
    spreads: _Spreads | None = None,
) -> Axes:
    """One axes of styled lines, grid and outside legend (the spread explained in it)."""
    with style_context():
        ax = fig.add_subplot()
        styles = line_styles(len(series))
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
        finish_axes(ax)
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
    fig = new_figure(DOUBLE_COLUMN, rows * (1.45 + (legend_rows + 1) * LEGEND_ROW_IN) + 0.45)
    with style_context():
        axes = fig.subplots(rows, columns, sharex=True, sharey=True, squeeze=False)
        for ax, (group, members) in zip(axes.flat, panels, strict=False):
            for name, (x, y) in series.items():
                if name not in members:
                    ax.plot(x, y, color=CONTEXT_COLOUR, linewidth=0.7, zorder=1)
            handles = []
            for style, name in zip(line_styles(len(members)), members, strict=True):
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
            finish_axes(ax)
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


def check_series(series: Mapping[str, Any], what: str) -> None:
    """Refuse an empty mapping of series, naming what was missing."""
    if not series:
        raise ValueError(f"no {what} to plot; pass a non-empty dict")


def _outside_legend(fig: Figure, handles: Sequence[Any], labels: Sequence[str]) -> None:
    """Series legend outside the data: below the axes for a few entries, to the right for more."""
    if len(handles) <= 4:
        columns = max(1, min(len(handles), int(fig.get_figwidth() / series_entry_width_in(labels))))
        fig.legend(handles, labels, loc="outside lower center", ncol=columns, handlelength=2.4)
    else:
        fig.legend(handles, labels, loc="outside right upper", ncol=1, handlelength=2.4)


def line_figure(names: Sequence[str], extra: Sequence[str] = ()) -> Figure:
    """A one-column line-plot figure, enlarged by the room its outside legend takes."""
    labels = [str(name) for name in names] + list(extra)
    if len(labels) > 4:
        return new_figure(SINGLE_COLUMN + entry_width_in(labels) + 0.25, 2.6)
    columns = max(1, min(len(labels), int(SINGLE_COLUMN / series_entry_width_in(labels))))
    return new_figure(SINGLE_COLUMN, 2.5 + math.ceil(len(labels) / columns) * LEGEND_ROW_IN)
