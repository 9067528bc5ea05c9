"""The study's figures: one print-ready style and one module per kind of plot.

Everything here is a pure function of arrays and dicts (no training, no data loading), so the
notebooks stay short and every figure of the study looks the same:

- :mod:`~rsdml.plots.style`: :func:`use_style` (global), :func:`save_figure` (PNG at 200 dpi +
  PDF, atomic), :func:`save_and_show` (the same, and in a notebook the PNG written is what is
  shown), the figure sizes and font, and the layout helpers every figure shares;
- :mod:`~rsdml.plots.colours`: :func:`categorical_colors` and :func:`categorical_markers`, a
  colour-blind-aware palette that scales to 45 classes;
- :mod:`~rsdml.plots.lines`: the line plots' legends and small multiples;
- :mod:`~rsdml.plots.data`: :func:`plot_class_examples`, :func:`plot_transition_matrix`;
- :mod:`~rsdml.plots.embeddings`: :func:`project_2d`, :func:`plot_embedding_2d`,
  :func:`plot_projections`;
- :mod:`~rsdml.plots.rank`: :func:`plot_singular_values`, :func:`plot_rank_over_training`;
- :mod:`~rsdml.plots.curves`: :func:`plot_pr_curves`, :func:`plot_learning_curves`,
  :func:`plot_metric_by_rate`;
- :mod:`~rsdml.plots.retrieval`: :func:`plot_retrieval_gallery`;
- :mod:`~rsdml.plots.scores`: :func:`plot_method_scores` (one metric per method, against a
  reference such as the frozen features).

Figures are created through pyplot (so notebooks show them inline); closing them is the
caller's decision (``plt.close(fig)``), never :func:`save_figure`'s: :func:`save_and_show` is
that decision for a figure a notebook saves and shows.
"""

from rsdml.plots.colours import categorical_colors, categorical_markers
from rsdml.plots.curves import plot_learning_curves, plot_metric_by_rate, plot_pr_curves
from rsdml.plots.data import plot_class_examples, plot_transition_matrix
from rsdml.plots.embeddings import (
    plot_embedding_2d,
    plot_projections,
    project_2d,
    sample_points,
)
from rsdml.plots.lines import (
    CONTEXT_COLOUR,
    MAX_BANDS_PER_PANEL,
    MAX_LINES_PER_PANEL,
    SPREAD_LABEL,
)
from rsdml.plots.rank import plot_rank_over_training, plot_singular_values
from rsdml.plots.retrieval import CORRECT_COLOUR, WRONG_COLOUR, plot_retrieval_gallery
from rsdml.plots.scores import plot_method_scores
from rsdml.plots.style import (
    DOUBLE_COLUMN,
    FONT_SIZE,
    PDF_DPI,
    PNG_DPI,
    SINGLE_COLUMN,
    STYLE,
    save_and_show,
    save_figure,
    use_style,
)

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
    "plot_method_scores",
    "plot_metric_by_rate",
    "plot_pr_curves",
    "plot_projections",
    "sample_points",
    "plot_rank_over_training",
    "plot_retrieval_gallery",
    "plot_singular_values",
    "plot_transition_matrix",
    "project_2d",
    "save_and_show",
    "save_figure",
    "use_style",
]
