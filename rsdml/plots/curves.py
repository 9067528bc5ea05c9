"""Result curves: precision-recall, a metric against a rate, learning curves."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from rsdml.metric_names import ALL_METRICS
from rsdml.plots.lines import check_series, plot_lines
from rsdml.plots.style import finish_axes, style_context, to_numpy
from rsdml.tables import metric_label


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
    check_series(curves, "curves")
    series = {}
    for name, (recall, precision) in curves.items():
        recall = to_numpy(recall).astype(np.float64).reshape(-1)
        precision = to_numpy(precision).astype(np.float64).reshape(-1)
        if recall.shape != precision.shape:
            raise ValueError(
                f"curve {name!r}: recall has {recall.size} points but precision {precision.size}"
            )
        series[str(name)] = (recall, precision)
    fig = plot_lines(series, xlabel="recall", ylabel="precision", title=title, groups=groups)
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
    check_series(series, "series")
    curves = {}
    for name, (rates, means, stds) in series.items():
        rates, means, stds = (
            to_numpy(v).astype(np.float64).reshape(-1) for v in (rates, means, stds)
        )
        if not rates.shape == means.shape == stds.shape:
            raise ValueError(f"series {name!r}: rates, means and stds differ in length")
        if means.size and (np.nanmin(means) < 0 or np.nanmax(means) > 1):
            raise ValueError(f"series {name!r} has means outside [0, 1]; pass fractions")
        curves[str(name)] = (rates, 100.0 * means, 100.0 * np.nan_to_num(stds))
    fig = plot_lines(
        {name: (x, y) for name, (x, y, _) in curves.items()},
        xlabel=xlabel,
        ylabel=f"{metric_label(metric)} (%)",
        title=title,
        groups=groups,
        spreads=curves,
    )
    ticks = sorted({float(r) for x, _, _ in curves.values() for r in x})
    with style_context():
        for ax in fig.axes:
            if ax.axison:
                ax.set_xticks(ticks)
                finish_axes(ax)
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
    check_series(curves, "curves")
    percent = metric in ALL_METRICS
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
    return plot_lines(series, xlabel="epoch", ylabel=ylabel, title=title, groups=groups)
