"""Tests of rsdml.plots on tiny synthetic arrays: files, plotted data, print readability."""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from matplotlib.collections import PathCollection  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.image import AxesImage  # noqa: E402
from matplotlib.legend import Legend  # noqa: E402
from matplotlib.text import Text  # noqa: E402

from rsdml import plots  # noqa: E402
from rsdml.plots import colours as plot_colours  # noqa: E402
from rsdml.plots import style as plot_style  # noqa: E402

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
PDF_MAGIC = b"%PDF-"


@pytest.fixture(autouse=True)
def _close_figures() -> Iterator[None]:
    yield
    plt.close("all")


def _blobs(num_classes: int, per_class: int, dim: int = 8, seed: int = 0):
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(num_classes, dim)) * 2
    points = np.concatenate([c + rng.normal(size=(per_class, dim)) for c in centres])
    labels = np.repeat(np.arange(num_classes), per_class)
    return points.astype(np.float32), labels


def _images(count: int, size: int = 8, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (count, 3, size, size), dtype=np.uint8)


def _class_names(count: int) -> list[str]:
    return [f"class_{i:02d}" for i in range(count)]


def _assert_readable(fig: Figure) -> None:
    """Every visible, non-empty text of the drawn figure is at least 8 pt."""
    fig.canvas.draw()
    texts = [t for t in fig.findobj(Text) if t.get_visible() and t.get_text().strip()]
    assert texts
    small = [(t.get_text(), t.get_fontsize()) for t in texts if t.get_fontsize() < 8]
    assert not small


def _assert_legend_outside(fig: Figure) -> None:
    """No legend of the figure overlaps the data area of any axes."""
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    legends = [artist for artist in fig.findobj(Legend)]
    assert legends
    for legend in legends:
        box = legend.get_window_extent(renderer)
        for ax in fig.axes:
            if ax.get_label() == "<colorbar>":
                continue
            assert not box.overlaps(ax.get_window_extent(renderer)), legend


# --------------------------------------------------------------------------- saving and style


def test_save_figure_writes_png_and_pdf(tmp_path: Path) -> None:
    fig = plots.plot_rank_over_training({"a": [1.0, 2.0, 3.0]})
    paths = plots.save_figure(fig, tmp_path / "new" / "rank_eta0.5")
    assert paths == [tmp_path / "new" / "rank_eta0.5.png", tmp_path / "new" / "rank_eta0.5.pdf"]
    assert paths[0].read_bytes().startswith(PNG_MAGIC)
    assert paths[1].read_bytes().startswith(PDF_MAGIC)
    assert paths[1].read_bytes().rstrip().endswith(b"%%EOF")
    assert plt.fignum_exists(fig.number)  # the caller closes it
    # Saving again (suffix given) is byte-identical and leaves no temporary files.
    again = plots.save_figure(fig, tmp_path / "new" / "rank_eta0.5.png")
    assert again == paths
    assert sorted(p.name for p in (tmp_path / "new").iterdir()) == [
        "rank_eta0.5.pdf",
        "rank_eta0.5.png",
    ]


def test_save_figure_writes_only_the_formats_asked_for(tmp_path: Path) -> None:
    fig = plots.plot_rank_over_training({"a": [1.0, 2.0, 3.0]})
    (png,) = plots.save_figure(fig, tmp_path / "curve", formats=("png",))
    assert png.read_bytes().startswith(PNG_MAGIC)
    assert [p.name for p in tmp_path.iterdir()] == ["curve.png"]
    for bad in ((), ("svg",), ("png", "jpeg")):
        with pytest.raises(ValueError, match="formats"):
            plots.save_figure(fig, tmp_path / "bad", formats=bad)
    assert [p.name for p in tmp_path.iterdir()] == ["curve.png"]


def test_save_figure_png_size_follows_dpi(tmp_path: Path) -> None:
    fig = plt.figure(figsize=(2.0, 1.0))
    ax = fig.add_axes((0.0, 0.0, 1.0, 1.0))
    ax.imshow(np.zeros((10, 20)), aspect="auto")
    ax.set_axis_off()
    png = plots.save_figure(fig, tmp_path / "full")[0].read_bytes()
    width, height = int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")
    # A full-bleed image: the tight box is the figure plus the padding on each side.
    pad = 2 * plots.STYLE["savefig.pad_inches"] * plots.PNG_DPI
    assert width == pytest.approx(2.0 * plots.PNG_DPI + pad, abs=2)
    assert height == pytest.approx(1.0 * plots.PNG_DPI + pad, abs=2)


def test_save_and_show_shows_the_png_written_under_the_inline_backend(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import IPython.display

    shown = []
    monkeypatch.setattr(IPython.display, "display", shown.append)
    # outside a notebook: save_figure alone, the figure left open
    fig = plots.plot_rank_over_training({"a": [1.0, 2.0, 3.0]})
    written = plots.save_and_show(fig, tmp_path / "plain")
    assert [path.name for path in written] == ["plain.png", "plain.pdf"]
    assert not shown and plt.fignum_exists(fig.number)
    monkeypatch.setattr(
        matplotlib, "get_backend", lambda: "module://matplotlib_inline.backend_inline"
    )
    # a notebook's inline backend, no PNG asked for: nothing to show, the figure left open
    plots.save_and_show(fig, tmp_path / "print", formats=("pdf",))
    assert not shown and plt.fignum_exists(fig.number)
    png, pdf = plots.save_and_show(fig, tmp_path / "inline")
    (image,) = shown
    assert image.data == png.read_bytes() and pdf.exists()
    # at the size on screen: the file's 200 dpi drawn at the figure's 100
    pixels = int.from_bytes(png.read_bytes()[16:20], "big")
    assert image.width == round(pixels * plots.STYLE["figure.dpi"] / plots.PNG_DPI)
    assert not plt.fignum_exists(fig.number)  # not drawn a second time when the cell ends


def test_use_style_sets_print_fonts() -> None:
    with matplotlib.rc_context():
        plots.use_style()
        assert matplotlib.rcParams["font.size"] == plots.FONT_SIZE
        assert matplotlib.rcParams["savefig.dpi"] == plots.PNG_DPI
        assert matplotlib.rcParams["pdf.fonttype"] == 42


# --------------------------------------------------------------------------- colours


def _lab(hex_colours: list[str]) -> np.ndarray:
    """CIELAB by scikit-image, independent of the module's own conversion."""
    from skimage.color import rgb2lab

    rgb = np.array([matplotlib.colors.to_rgb(c) for c in hex_colours])
    return rgb2lab(rgb[None])[0]


def test_categorical_colors_are_distinct_and_stable() -> None:
    colours = plots.categorical_colors(45)
    assert len(colours) == len(set(colours)) == 45
    assert colours[:6] == ["#0072B2", "#D55E00", "#009E73", "#E69F00", "#CC79A7", "#56B4E9"]
    assert plots.categorical_colors(12) == colours[:12]
    assert plots.categorical_colors(0) == []
    lab = _lab(colours)
    distances = np.linalg.norm(lab[:, None] - lab[None], axis=-1)
    np.fill_diagonal(distances, np.inf)
    assert distances.min() > 10  # CIELAB units; about 2.3 is a just-noticeable difference
    assert ((lab[:, 0] >= 29) & (lab[:, 0] <= 81)).all()  # visible on white, not black


def test_palette_lab_conversion_matches_skimage() -> None:
    colours = ["#000000", "#ffffff", "#0072B2", "#D55E00", "#808080"]
    rgb = np.array([matplotlib.colors.to_rgb(c) for c in colours])
    ours = plot_colours.linear_to_lab(plot_colours.srgb_to_linear(rgb))
    np.testing.assert_allclose(ours, _lab(colours), atol=0.05)


def test_markers_vary_beyond_ten_classes() -> None:
    assert set(plots.categorical_markers(10)) == {"o"}
    markers = plots.categorical_markers(45)
    pairs = set(zip(plots.categorical_colors(45), markers, strict=True))
    assert len(pairs) == 45 and len(set(markers)) > 4
    assert markers[0] != markers[1]


# --------------------------------------------------------------------------- projections


def test_project_2d_tsne_shape_determinism_and_oracle() -> None:
    torch = pytest.importorskip("torch")
    from sklearn.manifold import TSNE
    from threadpoolctl import threadpool_limits

    points, _ = _blobs(3, 10)
    first = plots.project_2d(points, "tsne", seed=3)
    assert first.shape == (30, 2) and first.dtype == np.float32
    np.testing.assert_array_equal(first, plots.project_2d(torch.from_numpy(points), "tsne", seed=3))
    with threadpool_limits(limits=1):
        expected = TSNE(
            init="pca", learning_rate="auto", perplexity=29 / 3, random_state=3
        ).fit_transform(points)
    np.testing.assert_allclose(first, expected, rtol=1e-5, atol=1e-5)


def test_project_2d_tiny_input_caps_perplexity() -> None:
    points, _ = _blobs(2, 2)
    assert plots.project_2d(points, "tsne", seed=0).shape == (4, 2)


@pytest.mark.parametrize(
    ("data", "method", "message"),
    [
        (np.zeros((10, 3)), "pca", "unknown projection"),
        (np.zeros(10), "tsne", "2-D"),
        (np.zeros((3, 4)), "tsne", "at least 4"),
        (np.full((6, 2), np.nan), "tsne", "NaN"),
    ],
)
def test_project_2d_rejects_bad_input(data: np.ndarray, method: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        plots.project_2d(data, method)


@pytest.mark.slow
def test_project_2d_umap_runs_on_tiny_data() -> None:
    # Slow only because numba compiles UMAP on first use in each process (about 20 s).
    points, labels = _blobs(3, 8)
    projected = plots.project_2d(points, "umap", seed=0)
    assert projected.shape == (24, 2) and np.isfinite(projected).all()
    fig = plots.plot_projections(points, labels, _class_names(3), seed=0)
    assert [ax.get_title() for ax in fig.axes] == ["t-SNE", "UMAP"]


# --------------------------------------------------------------------------- embedding plots


def test_plot_embedding_2d_draws_classes_and_noisy_marks() -> None:
    points, labels = _blobs(4, 5, dim=2)
    noisy = np.zeros(20, dtype=bool)
    noisy[[1, 7, 12]] = True
    ax = plots.plot_embedding_2d(points, labels, list("abcd"), noisy=noisy, title="t-SNE")
    collections = [c for c in ax.collections if isinstance(c, PathCollection)]
    assert len(collections) == 5  # the rings round the noisy points, then one per class
    rings, classes = collections[0], collections[1:]
    np.testing.assert_allclose(rings.get_offsets(), points[noisy])
    assert len(rings.get_facecolor()) == 0  # hollow: the class marker shows through
    for index, collection in enumerate(classes):
        # every point, noisy or not, keeps its class colour, drawn above the rings
        np.testing.assert_allclose(collection.get_offsets(), points[labels == index])
        assert matplotlib.colors.to_hex(collection.get_facecolor()[0]) == (
            plots.categorical_colors(4)[index].lower()
        )
        assert collection.get_zorder() >= rings.get_zorder()
    legend_texts = [t.get_text() for t in ax.get_legend().get_texts()]
    assert legend_texts == ["a", "b", "c", "d", "noisy label"]
    _assert_readable(ax.figure)
    _assert_legend_outside(ax.figure)


def test_plot_embedding_2d_many_classes_keep_legend_outside() -> None:
    points, labels = _blobs(45, 3, dim=2)
    names = [f"very_long_class_name_{i}" for i in range(45)]
    ax = plots.plot_embedding_2d(points, labels, names)
    assert len(ax.get_legend().get_texts()) == 45
    assert ax.get_legend().get_texts()[0].get_text() == "very long class name 0"
    _assert_readable(ax.figure)
    _assert_legend_outside(ax.figure)


def test_plot_embedding_2d_into_given_axes_without_legend() -> None:
    fig, ax = plt.subplots()
    points, labels = _blobs(2, 3, dim=2)
    assert plots.plot_embedding_2d(points, labels, ["a", "b"], ax=ax, legend=False) is ax
    assert ax.get_legend() is None
    with pytest.raises(ValueError, match="index into the 2 class"):
        plots.plot_embedding_2d(points, labels + 1, ["a", "b"], ax=ax)
    with pytest.raises(ValueError, match=r"\(N, 2\)"):
        plots.plot_embedding_2d(np.zeros((6, 3)), labels, ["a", "b"], ax=ax)


def test_plot_projections_of_a_large_split_show_a_seeded_subset_and_say_so() -> None:
    points, labels = _blobs(4, 30)  # 120 points
    noisy = np.arange(120) % 3 == 0
    fig = plots.plot_projections(
        points, labels, list("abcd"), noisy=noisy, methods=("tsne",), title="run", max_points=50
    )
    assert fig._suptitle.get_text() == "run (50 of 120 points)"
    shown = plots.sample_points(120, 50, seed=0)
    assert len(shown) == 50 == len(set(shown.tolist()))
    assert np.array_equal(shown, plots.sample_points(120, 50, seed=0))  # seeded
    rings = fig.axes[0].collections[0]
    assert len(rings.get_offsets()) == noisy[shown].sum()  # the mask follows the subset
    assert plots.sample_points(120, 120) is None  # every point fits: no sampling, no note
    with pytest.raises(ValueError, match="max_points"):
        plots.sample_points(120, 0)


def test_plot_projections_side_by_side_with_shared_legend(tmp_path: Path) -> None:
    points, labels = _blobs(12, 3)
    noisy = np.arange(36) % 5 == 0
    fig = plots.plot_projections(
        points, labels, _class_names(12), noisy=noisy, methods=("tsne", "tsne"), seed=1
    )
    assert [ax.get_title() for ax in fig.axes] == ["t-SNE", "t-SNE"]
    np.testing.assert_allclose(
        fig.axes[0].collections[0].get_offsets(), fig.axes[1].collections[0].get_offsets()
    )
    assert len(fig.legends) == 1 and len(fig.legends[0].get_texts()) == 13
    _assert_readable(fig)
    _assert_legend_outside(fig)
    assert fig.get_figwidth() == pytest.approx(plots.DOUBLE_COLUMN)


# --------------------------------------------------------------------------- line plots


def _line_data(fig: Figure) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    ax = fig.axes[0]
    return {line.get_label(): (line.get_xdata(), line.get_ydata()) for line in ax.get_lines()}


def test_plot_singular_values_normalises_sorts_and_reports_effective_rank() -> None:
    fig = plots.plot_singular_values({"lambda 0": [1.0, 3.0], "lambda 1": [2.0, 2.0, 0.0]})
    lines = _line_data(fig)
    # [3, 1]: p = (3/4, 1/4), effective rank exp(-(3/4 ln 3/4 + 1/4 ln 1/4)) = 1.75...
    erank = math.exp(-(0.75 * math.log(0.75) + 0.25 * math.log(0.25)))
    first = f"lambda 0 (eff. rank {erank:.1f})"
    assert set(lines) == {first, "lambda 1 (eff. rank 2.0)"}
    np.testing.assert_allclose(lines[first][1], [1.0, 1 / 3])
    np.testing.assert_array_equal(lines[first][0], [1, 2])
    # The zero singular value cannot sit on the log axis.
    np.testing.assert_allclose(lines["lambda 1 (eff. rank 2.0)"][1], [1.0, 1.0])
    assert fig.axes[0].get_yscale() == "log"
    raw = _line_data(plots.plot_singular_values({"x": [1.0, 4.0]}, normalise=False))
    np.testing.assert_allclose(next(iter(raw.values()))[1], [4.0, 1.0])
    with pytest.raises(ValueError, match="non-negative"):
        plots.plot_singular_values({"x": [-1.0]})


def test_plot_rank_over_training_epochs() -> None:
    fig = plots.plot_rank_over_training({"a": [5.0, 6.0, 7.0], "b": [1.0, 2.0]}, first_epoch=0)
    lines = _line_data(fig)
    np.testing.assert_array_equal(lines["a"][0], [0, 1, 2])
    np.testing.assert_array_equal(lines["b"][1], [1.0, 2.0])
    assert fig.axes[0].get_ylabel() == "effective rank"
    math_label = plots.plot_rank_over_training({"$\\lambda_1$ = 1": [1.0]})
    assert list(_line_data(math_label)) == ["$\\lambda_1$ = 1"]  # mathtext is not "prettified"
    assert fig.axes[0].get_xlabel() == "epoch"


def test_plot_learning_curves_in_percent() -> None:
    fig = plots.plot_learning_curves({"snca_mb": [0.5, 0.75], "dcnn": [0.25, 0.5]})
    lines = _line_data(fig)
    np.testing.assert_allclose(lines["snca_mb"][1], [50.0, 75.0])
    np.testing.assert_array_equal(lines["dcnn"][0], [1, 2])
    assert fig.axes[0].get_ylabel() == "kNN@10 (%)"
    loss = plots.plot_learning_curves({"a": [3.0, 2.0]}, metric="loss")
    np.testing.assert_allclose(_line_data(loss)["a"][1], [3.0, 2.0])
    with pytest.raises(ValueError, match="fractions, not percent"):
        plots.plot_learning_curves({"a": [93.5]})


def test_plot_pr_curves_data_and_errors() -> None:
    recall = np.linspace(0, 1, 11)
    fig = plots.plot_pr_curves({"nsl": (recall, 1 - recall / 2)})
    np.testing.assert_allclose(_line_data(fig)["nsl"][1], 1 - recall / 2)
    assert fig.axes[0].get_xlabel() == "recall"
    with pytest.raises(ValueError, match="11 points but precision 3"):
        plots.plot_pr_curves({"nsl": (recall, [1.0, 0.5, 0.2])})
    with pytest.raises(ValueError, match="no curves"):
        plots.plot_pr_curves({})


def test_plot_metric_by_rate_in_percent_with_a_spread_band() -> None:
    rates = [0.0, 0.1, 0.5]
    fig = plots.plot_metric_by_rate(
        {"nsl": (rates, [0.9, 0.8, 0.6], [0.01, 0.02, 0.0])}, xlabel="uniform noise rate"
    )
    x, y = _line_data(fig)["nsl"]
    np.testing.assert_allclose(x, rates)
    np.testing.assert_allclose(y, [90.0, 80.0, 60.0])
    band = fig.axes[0].collections[0].get_paths()[0].vertices[:, 1]
    assert band.min() == pytest.approx(60.0) and band.max() == pytest.approx(91.0)
    # the legend says what the band is
    assert plots.SPREAD_LABEL in [t.get_text() for t in fig.legends[0].get_texts()]
    assert "std" in plots.SPREAD_LABEL and "seeds" in plots.SPREAD_LABEL
    assert fig.axes[0].get_xlabel() == "uniform noise rate"
    assert list(fig.axes[0].get_xticks()) == rates
    with pytest.raises(ValueError, match="outside"):
        plots.plot_metric_by_rate({"nsl": ([0.1], [85.0], [1.0])}, xlabel="rate")
    with pytest.raises(ValueError, match="differ in length"):
        plots.plot_metric_by_rate({"nsl": ([0.1, 0.2], [0.8], [0.0])}, xlabel="rate")


@pytest.mark.parametrize("count", [2, 6])
def test_line_plots_readable_with_legend_outside(count: int) -> None:
    curves = {f"method {i}": list(np.linspace(0.1, 0.9, 30) ** (i + 1)) for i in range(count)}
    fig = plots.plot_learning_curves(curves, title="validation")
    assert len(fig.legends) == 1 and len(fig.legends[0].get_texts()) == count
    styles = {(line.get_color(), line.get_linestyle()) for line in fig.axes[0].get_lines()}
    assert len(styles) == count
    _assert_readable(fig)
    _assert_legend_outside(fig)


def _legend_texts(fig: Figure) -> list[str]:
    """Every legend entry of a figure: its own legends and those of its axes."""
    legends = list(fig.legends) + [ax.get_legend() for ax in fig.axes if ax.get_legend()]
    return [text.get_text() for legend in legends for text in legend.get_texts()]


def _coloured_lines(ax) -> dict[str, Any]:
    """The labelled lines of an axes (the grey context lines carry no label)."""
    return {
        line.get_label(): line for line in ax.get_lines() if not line.get_label().startswith("_")
    }


def test_legends_spell_methods_as_the_tables_do() -> None:
    names = ["snca_mb", "snca_ce_mu", "hr_s2dml"]
    curves = {name: [0.5, 0.6] for name in names}
    for fig in (
        plots.plot_learning_curves(curves),
        plots.plot_pr_curves({name: ([0.0, 1.0], [1.0, 0.5]) for name in names}),
        plots.plot_metric_by_rate(
            {name: ([0.1, 0.2], [0.8, 0.7], [0.01, 0.0]) for name in names}, xlabel="rate"
        ),
    ):
        texts = _legend_texts(fig)
        assert [text for text in texts if text in names] == names
        assert not [text for text in texts if "_" not in text and text.replace(" ", "_") in names]


def test_many_methods_become_small_multiples_by_group() -> None:
    names = [f"m{i}" for i in range(13)]
    curves = {name: list(np.linspace(0.2, 0.2 + 0.05 * i, 20)) for i, name in enumerate(names)}
    groups = {"first": names[:6], "second": names[6:10], "third": names[10:12]}
    fig = plots.plot_learning_curves(curves, groups=groups)
    panels = [ax for ax in fig.axes if ax.axison]
    titles = [ax.get_legend().get_title().get_text() for ax in panels]
    # m12 is in no group: it gets a panel of its own
    assert titles == ["first", "second", "third", "other"]
    for ax, members in zip(panels, [names[:6], names[6:10], names[10:12], names[12:]], strict=True):
        coloured = _coloured_lines(ax)
        assert list(coloured) == members
        # every line of a panel tells apart from the others by colour alone
        assert len({line.get_color() for line in coloured.values()}) == len(members)
        # every other method stays in the panel, in grey, for comparison
        greys = [line for line in ax.get_lines() if line.get_label().startswith("_")]
        assert len(greys) == len(names) - len(members)
        assert {matplotlib.colors.to_hex(g.get_color()) for g in greys} == {plots.CONTEXT_COLOUR}
        np.testing.assert_allclose(
            coloured[members[0]].get_ydata(), 100 * np.asarray(curves[members[0]])
        )
    assert "grey: the series of the other panels" in _legend_texts(fig)
    _assert_readable(fig)
    # a few methods compare best on one axes, whatever the groups
    few = plots.plot_learning_curves({name: curves[name] for name in names[5:8]}, groups=groups)
    assert len(few.axes) == 1 and list(_coloured_lines(few.axes[0])) == names[5:8]
    # without groups, no panel holds more than MAX_LINES_PER_PANEL lines
    ungrouped = plots.plot_pr_curves({name: ([0.0, 1.0], [1.0, 0.5]) for name in names})
    counts = [len(_coloured_lines(ax)) for ax in ungrouped.axes if ax.axison]
    assert sum(counts) == 13 and max(counts) <= plots.MAX_LINES_PER_PANEL


def test_a_single_rate_gets_an_error_bar() -> None:
    fig = plots.plot_metric_by_rate(
        {"arcface": ([0.2], [0.84], [0.012]), "hr_s2dml": ([0.2], [0.875], [0.024])},
        xlabel="labelled fraction",
    )
    ax = fig.axes[0]
    bars = {}
    for collection in ax.collections:
        segments = getattr(collection, "get_segments", lambda: [])()
        for segment in segments:
            (x0, y0), (x1, y1) = segment
            if x0 == x1 and y0 != y1:
                bars[round((y0 + y1) / 2, 6)] = abs(y1 - y0) / 2
    assert bars == pytest.approx({84.0: 1.2, 87.5: 2.4})
    assert plots.SPREAD_LABEL in _legend_texts(fig)


def test_bands_blur_sooner_than_lines() -> None:
    series = {f"m{i}": ([0.0, 0.4], [0.9, 0.8 - 0.01 * i], [0.01, 0.02]) for i in range(6)}
    fig = plots.plot_metric_by_rate(series, xlabel="uniform noise rate")
    counts = [len(_coloured_lines(ax)) for ax in fig.axes if ax.axison]
    assert sum(counts) == 6 and max(counts) <= plots.MAX_BANDS_PER_PANEL
    assert plots.SPREAD_LABEL in _legend_texts(fig)


# --------------------------------------------------------------------------- images


def test_plot_retrieval_gallery_frames() -> None:
    results = _images(4)
    correct = np.array([True, False, True, False])
    fig = plots.plot_retrieval_gallery(
        _images(1)[0], results, correct, titles=["beach", "river", "beach", "golf_course"]
    )
    query, *ranked = fig.axes
    assert query.get_title() == "query"
    np.testing.assert_array_equal(query.images[0].get_array(), np.moveaxis(_images(1)[0], 0, -1))
    assert [ax.get_title() for ax in ranked] == ["1 ✓", "2 ✗", "3 ✓", "4 ✗"]
    for ax, right, image in zip(ranked, correct, results, strict=True):
        expected = plots.CORRECT_COLOUR if right else plots.WRONG_COLOUR
        for spine in ax.spines.values():
            assert matplotlib.colors.to_hex(spine.get_edgecolor()) == expected.lower()
        np.testing.assert_array_equal(ax.images[0].get_array(), np.moveaxis(image, 0, -1))
    assert ranked[3].get_xlabel().replace("\n", "") == "golf course"
    _assert_readable(fig)
    with pytest.raises(ValueError, match="4 result images but 3"):
        plots.plot_retrieval_gallery(_images(1)[0], results, correct[:3])


def test_gallery_captions_wrap_at_spaces_only() -> None:
    wrapped = plot_style.wrap_text("mediumresidential parking lot", 0.6)
    lines = wrapped.split("\n")
    assert lines == ["mediumresidential", "parking lot"]  # the long word is whole, on its own
    assert plot_style.text_width_in("parking lot") <= 0.6
    assert not any(line.endswith("-") for line in lines)


@pytest.mark.parametrize(
    "names",
    [
        ["intersection", "parking_lot"] * 5,
        ["mediumresidential", "baseballdiamond", "golf_course", "beach", "river"] * 2,
    ],
)
def test_gallery_captions_keep_words_whole(names: list[str]) -> None:
    fig = plots.plot_retrieval_gallery(
        _images(1)[0], _images(len(names)), [True] * len(names), titles=names, title="run x"
    )
    fig.canvas.draw()  # the layout engine sizes the tiles when drawing
    ranked = fig.axes[1:]
    for ax, name in zip(ranked, names, strict=True):
        caption = ax.get_xlabel()
        # words are neither cut nor hyphenated: the caption is the name, wrapped at spaces
        assert caption.split() == name.replace("_", " ").split()
        assert "-" not in caption
        width = ax.get_window_extent().width / fig.dpi
        assert all(plot_style.text_width_in(line) <= width + 0.02 for line in caption.split("\n"))
    assert fig._suptitle.get_text() == "run x"
    _assert_readable(fig)


def test_plot_class_examples_picks_and_layout() -> None:
    images = _images(11)
    labels = np.array([0, 0, 0, 1, 1, 2, 2, 2, 2, 2, 2])
    fig = plots.plot_class_examples(images, labels, ["a", "b", "c_d"], per_class=3, seed=None)
    shown = [ax.images[0].get_array() for ax in fig.get_axes() if ax.images]
    # seed=None shows each class's first images; class b has only two.
    expected = [images[i] for i in (0, 1, 2, 3, 4, 5, 6, 7)]
    assert len(shown) == len(expected)
    for got, want in zip(shown, expected, strict=True):
        np.testing.assert_array_equal(got, np.moveaxis(want, 0, -1))
    titles = [sub._suptitle.get_text() for sub in fig.subfigs if sub._suptitle is not None]
    assert titles == ["a", "b", "c d"]
    _assert_readable(fig)
    seeded = plots.plot_class_examples(images, labels, ["a", "b", "c"], per_class=3, seed=0)
    again = plots.plot_class_examples(images, labels, ["a", "b", "c"], per_class=3, seed=0)
    for one, two in zip(seeded.get_axes(), again.get_axes(), strict=True):
        if one.images:
            np.testing.assert_array_equal(one.images[0].get_array(), two.images[0].get_array())


def test_plot_class_examples_many_classes_fit_the_page() -> None:
    labels = np.repeat(np.arange(45), 2)
    fig = plots.plot_class_examples(_images(90, size=4), labels, _class_names(45), per_class=1)
    assert fig.get_figwidth() == pytest.approx(plots.DOUBLE_COLUMN)
    assert 4 < fig.get_figheight() < 8
    _assert_readable(fig)


def test_plot_transition_matrix_values() -> None:
    matrix = np.array([[0.6, 0.4, 0.0], [0.0, 0.95, 0.05], [0.25, 0.0, 0.75]])
    fig = plots.plot_transition_matrix(matrix, ["a", "b", "c"], title="pairflip")
    ax = fig.axes[0]
    image = next(a for a in ax.get_children() if isinstance(a, AxesImage))
    np.testing.assert_allclose(image.get_array(), matrix)
    cells = sorted(t.get_text() for t in ax.texts)
    assert cells == sorted(["60", "40", "95", "5.0", "25", "75"])  # zeros stay blank
    # one unit: the colour bar counts in percent, as the cells do
    colorbar = next(a for a in fig.axes if a.get_label() == "<colorbar>")
    fig.canvas.draw()
    assert "(%)" in colorbar.get_ylabel()
    labels, values = colorbar.get_yticklabels(), colorbar.get_yticks()
    ticks = {t.get_text(): v for t, v in zip(labels, values, strict=True)}
    assert ticks["100"] == pytest.approx(1.0) and ticks["60"] == pytest.approx(0.6)
    assert all(float(text) == pytest.approx(100 * value) for text, value in ticks.items())
    assert [t.get_text() for t in ax.get_xticklabels()] == ["a", "b", "c"]
    _assert_readable(fig)
    big = plots.plot_transition_matrix(np.eye(45), _class_names(45))
    assert not big.axes[0].texts  # cells too small for 8-pt text
    _assert_readable(big)
    with pytest.raises(ValueError, match=r"\(2, 2\)"):
        plots.plot_transition_matrix(matrix, ["a", "b"])


def test_every_plot_saves_valid_files(tmp_path: Path) -> None:
    points, labels = _blobs(3, 4, dim=2)
    figures = {
        "embedding": plots.plot_embedding_2d(points, labels, list("abc")).figure,
        "spectrum": plots.plot_singular_values({"a": [3.0, 2.0, 1.0]}),
        "rank": plots.plot_rank_over_training({"a": [1.0, 2.0]}),
        "pr": plots.plot_pr_curves({"a": ([0.0, 1.0], [1.0, 0.5])}),
        "learning": plots.plot_learning_curves({"a": [0.5, 0.6]}),
        "gallery": plots.plot_retrieval_gallery(_images(1)[0], _images(3), [True, False, True]),
        "examples": plots.plot_class_examples(_images(12), labels, list("abc"), per_class=2),
        "transition": plots.plot_transition_matrix(np.eye(3), list("abc")),
    }
    for name, fig in figures.items():
        png, pdf = plots.save_figure(fig, tmp_path / name)
        assert png.read_bytes().startswith(PNG_MAGIC), name
        assert pdf.read_bytes().startswith(PDF_MAGIC), name
        assert png.stat().st_size > 1000 and pdf.stat().st_size > 1000, name


def test_plot_method_scores_draws_each_panel_with_its_reference() -> None:
    panels = {
        "ucmerced": {"nsl": (0.41, 0.01), "snca_mb": (0.45, 0.02), "ce": (0.40, 0.0)},
        "eurosat": {"nsl": (0.50, 0.03)},
    }
    fig = plots.plot_method_scores(
        panels, "map@r", references={"ucmerced": (0.53, 0.01)}, reference_label="frozen"
    )
    axes = [ax for ax in fig.axes if ax.get_title()]
    assert [ax.get_title() for ax in axes] == ["ucmerced", "eurosat"]
    # methods top down in the order given, x in percent
    labels = [tick.get_text() for tick in axes[0].get_yticklabels()]
    assert labels == ["nsl", "snca_mb", "ce"]
    assert axes[0].get_xlabel() == "MAP@R (%)"
    (dots,) = [line for line in axes[0].lines if line.get_marker() == "o"]
    assert np.allclose(dots.get_xdata(), [41.0, 45.0, 40.0])
    assert np.allclose(dots.get_ydata(), [2, 1, 0])  # nsl at the top
    # the reference line in the first panel only, at 53 %
    dashed = [line for line in axes[0].lines if line.get_linestyle() == "--"]
    assert len(dashed) == 1 and np.allclose(dashed[0].get_xdata(), 53.0)
    assert not [line for line in axes[1].lines if line.get_linestyle() == "--"]
    plt.close(fig)


@pytest.mark.parametrize(
    ("panels", "message"),
    [
        ({}, "at least one panel"),
        ({"a": {}}, "at least one panel"),
        ({"a": {"m": (42.0, 1)}}, "fractions"),
    ],
)
def test_plot_method_scores_rejects_bad_input(panels: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        plots.plot_method_scores(panels, "map@r")
