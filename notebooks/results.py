# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#     notebook_metadata_filter: -jupytext.text_representation.jupytext_version
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#   kernelspec:
#     display_name: Python (rsdml)
#     language: python
#     name: rsdml
# ---

# %% [markdown]
# # Results: tables, learning curves, precision-recall curves, retrieval examples
#
# Reads every finished cell of a study folder (written by `rsdml study`) and regenerates the
# result tables and figures into `figures_dir`. Nothing is trained here.

# %% tags=["parameters"]
# The default folders are under the repository's runs/ ($RSDML_RUNS overrides it), whatever the
# working folder: the notebook finds the study when run from JupyterLab, jupytext or papermill.
from rsdml.execution import runs_dir

study_dir = runs_dir("quick")
figures_dir = runs_dir("quick", "figures")
main_setting = "clean"
seed = 0
# further settings that get their own precision-recall figure, e.g. ["uniform-0.5"]
pr_settings = []

# %%
from pathlib import Path

from rsdml.execution import require_finished_runs
from rsdml.plots import (
    plot_learning_curves,
    plot_metric_by_rate,
    plot_pr_curves,
    plot_retrieval_gallery,
    save_and_show,
    use_style,
)
from rsdml.report import (
    find_runs,
    method_groups,
    pr_curves,
    retrieval_gallery,
    write_result_tables,
)
from rsdml.tables import markdown_table, rate_frame, rate_series, write_tables

require_finished_runs(study_dir)
use_style()
figures = Path(figures_dir)
figures.mkdir(parents=True, exist_ok=True)

# %% [markdown]
# ## Result tables (test split, mean ± std over seeds)
# Written as `results.{csv,md,tex}` (every metric) and `results_paper.{csv,md,tex}` (the papers'
# metrics: kNN@1/5/10, clustering ACC and NMI, mAP@20/50/100).

# %%
frame = write_result_tables(study_dir, figures)
print(markdown_table(frame, metrics=["knn@10", "acc", "nmi", "map@20", "map@100"]))

# %% [markdown]
# ## Validation kNN@10 per epoch
# The selection metric over training, one line per method (the analogue of SNCA-CE's Fig. 4);
# many methods are drawn as small panels, one per loss family, the others in grey behind.

# %%
runs = find_runs(study_dir, setting=main_setting, seed=seed)
curves = {run.method: run.curve("val_knn@10") for run in runs}
figure = plot_learning_curves(
    curves,
    title=f"validation kNN@10 ({main_setting}, seed {seed})",
    groups=method_groups(curves),
)
saved = save_and_show(figure, figures / "learning_curves")  # the PNG and PDF written

# %% [markdown]
# ## Precision-recall curves
# Test images query the training images; a retrieved image is relevant when it has the query's class.

# %%
figure = plot_pr_curves(
    pr_curves(runs), title=f"precision-recall ({main_setting})", groups=method_groups(curves)
)
save_and_show(figure, figures / "pr_curves")
for setting in pr_settings:
    setting_runs = find_runs(study_dir, setting=setting, seed=seed)
    if setting_runs:
        setting_curves = pr_curves(setting_runs)
        extra = plot_pr_curves(
            setting_curves,
            title=f"precision-recall ({setting})",
            groups=method_groups(setting_curves),
        )
        save_and_show(extra, figures / f"pr_curves_{setting}")

# %% [markdown]
# ## Test metrics against the noise rate and the labelled fraction
# Settings named `uniform-<rate>`, `dependent-<rate>` or `labelled-<fraction>` feed these; a
# study without them draws none. The curves show kNN@10 per method, mean over seeds with a ±std
# band, the noise curves starting from the clean setting at rate 0. The tables put the rates side
# by side, like the RNSL paper's tables: `by_<kind>_<metric>.{csv,md,tex}`.

# %%
for kind, xlabel, zero in (
    ("uniform", "uniform noise rate", main_setting),
    ("dependent", "label-dependent noise rate", main_setting),
    ("labelled", "labelled fraction of the training split", None),
):
    series = rate_series(frame, kind, "knn@10", zero_setting=zero)
    if not series:
        continue
    figure = plot_metric_by_rate(
        series,
        "knn@10",
        xlabel=xlabel,
        title=f"test kNN@10, {kind}",
        groups=method_groups(series),
    )
    save_and_show(figure, figures / f"knn10_by_{kind}")
    of_kind = rate_frame(frame, kind, zero_setting=zero)
    for metric in ("knn@10", "acc", "map@20"):
        write_tables(
            of_kind,
            figures / f"by_{kind}_{metric.replace('@', '')}",
            metrics=[metric],
            layout="wide",
            caption=f"test {metric} per {xlabel}",
        )
    print(markdown_table(of_kind, metrics=["knn@10"], layout="wide"))


# %% [markdown]
# ## Retrieval examples
# The top 10 training images of two test queries: a typical one (median precision@10) for the
# method with the best mAP@20 in this setting, and the query with the lowest average precision for
# the method with the worst. Green frames are right, red frames wrong; the titles name the method,
# setting, seed and the query's AP.

# %%
by_map = sorted(runs, key=lambda run: run.metrics["test"]["map@20"])
for label, run, pick in (("best", by_map[-1], "typical"), ("worst", by_map[0], "worst")):
    gallery = retrieval_gallery(run, k=10, pick=pick)
    figure = plot_retrieval_gallery(
        gallery.query,
        gallery.results,
        gallery.correct,
        titles=gallery.titles,
        query_title=gallery.query_title,
        title=f"{label} mAP@20: {gallery.title}",
    )
    save_and_show(figure, figures / f"retrieval_{label}")
