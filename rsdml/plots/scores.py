"""One metric per method, panel by panel, against a reference: the unseen-classes figure."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from matplotlib.figure import Figure

from rsdml.plots.colours import OKABE_ITO
from rsdml.plots.style import DOUBLE_COLUMN, finish_axes, new_figure, style_context
from rsdml.tables import metric_label

#: Height of one method's row, in inches (two lines of 8-pt text would not fit in less).
ROW_HEIGHT_IN = 0.17
#: The colour of the reference line and its band: a neutral grey, so that the methods stand out.
REFERENCE_COLOUR = "0.45"


def plot_method_scores(
    panels: Mapping[str, Mapping[str, tuple[float, float]]],
    metric: str,
    *,
    references: Mapping[str, tuple[float, float]] | None = None,
    reference_label: str = "reference",
    title: str = "",
) -> Figure:
    """A dot with ±1 std error bars per method, one panel per group (e.g. per archive), and a
    vertical line with a ±1 std band for each panel's reference (e.g. the frozen features).

    Args:
        panels: panel title -> method -> (mean, std), fractions; methods are listed top down in
            the order given.
        metric: the metric's name (axis label).
        references: panel title -> (mean, std) of the panel's reference; panels without one
            draw none.
        reference_label: what the reference is, for the legend.
        title: the figure's title.

    Returns:
        The figure.

    Raises:
        ValueError: no panel, an empty panel, or a mean outside [0, 1].
    """
    if not panels or any(not methods for methods in panels.values()):
        raise ValueError("plot_method_scores needs at least one panel with at least one method")
    for name, methods in panels.items():
        means = np.array([mean for mean, _ in methods.values()], dtype=np.float64)
        if np.nanmin(means) < 0 or np.nanmax(means) > 1:
            raise ValueError(f"panel {name!r} has means outside [0, 1]; pass fractions")
    references = dict(references or {})
    rows = max(len(methods) for methods in panels.values())
    fig = new_figure(DOUBLE_COLUMN, 0.8 + ROW_HEIGHT_IN * rows)
    with style_context():
        axes = fig.subplots(1, len(panels), squeeze=False)[0]
        for ax, (name, methods) in zip(axes, panels.items(), strict=True):
            labels = list(methods)
            positions = np.arange(len(labels))[::-1]
            means = 100.0 * np.array([methods[m][0] for m in labels], dtype=np.float64)
            stds = 100.0 * np.nan_to_num(np.array([methods[m][1] for m in labels], dtype=float))
            if name in references:
                mean, std = (100.0 * value for value in references[name])
                ax.axvspan(mean - std, mean + std, color=REFERENCE_COLOUR, alpha=0.15, lw=0)
                ax.axvline(mean, color=REFERENCE_COLOUR, ls="--", lw=1.0, label=reference_label)
            ax.errorbar(
                means, positions, xerr=stds, fmt="o", color=OKABE_ITO[0], ms=3.5,
                elinewidth=0.9, capsize=1.5, label="mean ± 1 std",
            )  # fmt: skip
            ax.set_yticks(positions, labels)
            ax.set_xlabel(f"{metric_label(metric)} (%)")
            ax.set_title(name)
            ax.grid(axis="x")
            finish_axes(ax)
        handles, texts = axes[0].get_legend_handles_labels()
        fig.legend(handles, texts, loc="outside lower center", ncols=len(texts))
        if title:
            fig.suptitle(title)
    return fig
