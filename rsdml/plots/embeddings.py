"""Embedding maps: t-SNE/UMAP projections scattered by class, noisy labels marked."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from rsdml.plots.colours import categorical_colors, categorical_markers
from rsdml.plots.style import (
    DOUBLE_COLUMN,
    LEGEND_ROW_IN,
    SINGLE_COLUMN,
    check_labels,
    columns_for_height,
    display_name,
    entry_width_in,
    new_figure,
    style_context,
    to_numpy,
)

_PROJECTION_TITLES = {"tsne": "t-SNE", "umap": "UMAP"}
# A noisy-labelled point sits in a thin dark ring: area relative to the point, line width (pt).
NOISY_RING_SCALE = 3.0
NOISY_RING_WIDTH = 0.4
NOISY_RING_COLOUR = "0.15"


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
            label=display_name(name),
        )
        for i, name in enumerate(classes)
    ]
    if noisy:
        handles.append(
            Line2D(
                [],
                [],
                linestyle="",
                marker="o",
                markersize=6.5,
                markerfacecolor="none",
                markeredgecolor=NOISY_RING_COLOUR,
                markeredgewidth=0.8,
                label="noisy label",
            )
        )
    return handles


def _point_size(count: int) -> float:
    """Scatter marker area (pt^2): large for a few points, small but visible for thousands."""
    return float(np.clip(9000.0 / max(count, 1), 5.0, 24.0))


def _check_mask(mask: Any, count: int) -> np.ndarray | None:
    if mask is None:
        return None
    mask = to_numpy(mask).astype(bool).reshape(-1)
    if mask.shape[0] != count:
        raise ValueError(f"noisy mask has {mask.shape[0]} entries for {count} points")
    return mask


def sample_points(count: int, max_points: int | None, seed: int = 0) -> np.ndarray | None:
    """Sorted indices of a random subset of ``max_points`` of ``count`` points (seeded), or
    None when every point fits."""
    if max_points is None or count <= max_points:
        return None
    if max_points < 1:
        raise ValueError(f"max_points must be positive or None, got {max_points}")
    return np.sort(np.random.default_rng(seed).choice(count, size=max_points, replace=False))


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
    data = np.ascontiguousarray(to_numpy(embeddings), dtype=np.float32)
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


def _scatter_classes(
    ax: Axes, points: np.ndarray, labels: np.ndarray, num_classes: int, mask: np.ndarray | None
) -> bool:
    """Scatter the points class by class over thin rings round the noisy ones; whether any
    point was ringed.

    The rings go underneath and the class markers on top, so a noisy point keeps its class
    colour and shape: at a noise rate of 0.5 half the points are noisy, and a mark drawn over
    them would hide the classes.
    """
    colours = categorical_colors(num_classes)
    markers = categorical_markers(num_classes)
    size = _point_size(points.shape[0])
    has_noisy = mask is not None and bool(mask.any())
    if has_noisy:
        ax.scatter(
            points[mask, 0],
            points[mask, 1],
            s=size * NOISY_RING_SCALE,
            facecolors="none",
            edgecolors=NOISY_RING_COLOUR,
            linewidths=NOISY_RING_WIDTH,
            rasterized=True,
        )
    for index in range(num_classes):
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
    return has_noisy


def _class_legend(ax: Axes, classes: Sequence[str], noisy: bool, *, widen: bool) -> None:
    """The class legend right of the axes; ``widen`` grows the figure by the legend's width."""
    handles = _class_handles(classes, noisy)
    height = ax.figure.get_figheight()
    ax.legend(
        handles=handles,
        loc="upper left",
        bbox_to_anchor=(1.02, 1.0),
        borderaxespad=0.0,
        handletextpad=0.3,
        handlelength=1.0,
        ncol=columns_for_height(len(handles), height),
    )
    if widen:
        # Widen the figure made here so the legend does not squeeze the panel.
        columns = columns_for_height(len(handles), height)
        extra = columns * entry_width_in([h.get_label() for h in handles])
        ax.figure.set_figwidth(SINGLE_COLUMN + extra)


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
        noisy: optional (N,) bool mask; those points sit in a thin dark ring, their class
            marker on top (e.g. training points whose label was flipped).
        title: axes title.
        ax: axes to draw into; default a new one-column figure.
        legend: add the class legend to the right, outside the data.

    Returns:
        The axes drawn into.
    """
    points = to_numpy(points).astype(np.float64)
    if points.ndim != 2 or points.shape[1] != 2:
        raise ValueError(f"points must have shape (N, 2), got {points.shape}; see project_2d()")
    labels = check_labels(labels, points.shape[0], len(classes))
    mask = _check_mask(noisy, points.shape[0])
    own_figure = ax is None
    with style_context():
        if ax is None:
            ax = new_figure(SINGLE_COLUMN, SINGLE_COLUMN).add_subplot()
        has_noisy = _scatter_classes(ax, points, labels, len(classes), mask)
        ax.set_xticks([])
        ax.set_yticks([])
        for side in ("top", "right"):
            ax.spines[side].set_visible(True)
        ax.set_box_aspect(1)
        ax.set_aspect("equal", adjustable="datalim")
        if title:
            ax.set_title(title)
        if legend:
            _class_legend(ax, classes, has_noisy, widen=own_figure)
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
    max_points: int | None = None,
) -> Figure:
    """t-SNE and UMAP of the same embeddings side by side, with one shared class legend below.

    Args:
        embeddings: (N, D) array or tensor.
        labels: (N,) class indices.
        classes: class names.
        noisy: optional (N,) bool mask of noisy-labelled points (ringed).
        seed: random state of both projections.
        methods: projections to show, left to right.
        title: figure title.
        max_points: project at most this many points, a random subset drawn with ``seed``
            (t-SNE of an archive's test split takes minutes, and tens of thousands of points
            cover each other); the title then says how many of how many are shown.

    Returns:
        The figure (two-column width).
    """
    if not methods:
        raise ValueError("methods is empty; pass e.g. ('tsne', 'umap')")
    embeddings = to_numpy(embeddings)
    mask = _check_mask(noisy, embeddings.shape[0])
    shown = sample_points(embeddings.shape[0], max_points, seed)
    if shown is not None:
        count = embeddings.shape[0]
        embeddings, labels = embeddings[shown], to_numpy(labels)[shown]
        mask = None if mask is None else mask[shown]
        note = f"{len(shown):,} of {count:,} points"
        title = f"{title} ({note})" if title else note
    projections = [project_2d(embeddings, method, seed=seed) for method in methods]
    handles = _class_handles(classes, mask is not None and bool(mask.any()))
    width = DOUBLE_COLUMN
    panel = min((width - 0.2) / len(methods), 3.6)
    columns = max(
        1, min(len(handles), int(width / entry_width_in([h.get_label() for h in handles])))
    )
    rows = math.ceil(len(handles) / columns)
    fig = new_figure(width, panel + 0.35 + rows * LEGEND_ROW_IN + (0.2 if title else 0.0))
    with style_context():
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
