"""Rank analysis: singular-value spectra and a rank measure over training."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from rsdml.evaluate.rank import effective_rank
from rsdml.plots.lines import check_series, line_figure, plot_series
from rsdml.plots.style import finish_axes, to_numpy


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
    check_series(spectra, "spectra")
    series = {}
    for name, values in spectra.items():
        values = np.sort(to_numpy(values).astype(np.float64).reshape(-1))[::-1]
        if values.size == 0 or not np.isfinite(values).all() or values.min() < 0:
            raise ValueError(f"spectrum {name!r} must be non-empty, finite and non-negative")
        label = f"{name} (eff. rank {effective_rank(values):.1f})"
        shown = values / values[0] if normalise and values[0] > 0 else values
        # Exact zeros cannot sit on a log axis; they are cut rather than drawn at -inf.
        keep = shown > 0
        series[label] = (np.arange(1, values.size + 1)[keep], shown[keep])
    fig = line_figure(list(series))
    ax = plot_series(
        fig,
        series,
        xlabel="index $i$",
        ylabel=r"$\sigma_i / \sigma_1$" if normalise else r"singular value $\sigma_i$",
        title=title,
    )
    ax.set_yscale("log")
    finish_axes(ax)
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
    check_series(history, "histories")
    series = {
        name: (np.arange(first_epoch, first_epoch + len(values)), np.asarray(values, dtype=float))
        for name, values in history.items()
    }
    fig = line_figure(list(series))
    plot_series(fig, series, xlabel="epoch", ylabel=ylabel, title=title)
    return fig
