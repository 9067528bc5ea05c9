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
# # Beyond the training classes and the archive
#
# The papers test on the classes they trained on, so they cannot tell a good metric from a good
# classifier. This report reads two kinds of runs from a study folder, and draws what it finds:
#
# - **unseen classes** (`--protocol unseen-classes`, the `unseen` preset): each method trained on
#   half of an archive's classes and scored leave-one-out on every image of the other half, beside
#   the frozen backbone features scored the same way on the same images;
# - **transfer** (`--eval-dataset`, the `transfer` preset): each method trained on one archive and
#   scored on another's standard split, beside the frozen features there and its own archive.

# %% tags=["parameters"]
# The default folders are under the repository's runs/ ($RSDML_RUNS overrides it), whatever the
# working folder: the notebook finds the study when run from JupyterLab, jupytext or papermill.
from rsdml.execution import runs_dir

study_dir = runs_dir("unseen")
figures_dir = runs_dir("unseen", "figures")
# the metric of the unseen-classes figure (MAP@R, the metric-learning benchmarks' headline)
metric = "map@r"

# %%
from pathlib import Path

from rsdml.execution import require_finished_runs
from rsdml.generalisation import (
    FROZEN_FEATURES,
    TRANSFER_METRIC,
    UNSEEN_TABLE_METRICS,
    method_scores,
    write_transfer_tables,
    write_unseen_tables,
)
from rsdml.plots import plot_method_scores, save_and_show, use_style
from rsdml.report import find_runs
from rsdml.tables import markdown_table, metric_label

require_finished_runs(study_dir)
use_style()
figures = Path(figures_dir)
figures.mkdir(parents=True, exist_ok=True)
runs = find_runs(study_dir)
unseen = [run for run in runs if "protocol" in run.metrics]
transfer = [run for run in runs if "transfer" in run.metrics]
print(f"{len(unseen)} unseen-classes runs, {len(transfer)} runs with a transfer evaluation")

# %% [markdown]
# ## Unseen classes
# Written as `unseen.{csv,md,tex}` (every metric) and `unseen_benchmark.{csv,md,tex}` (MAP@R,
# R-precision, Recall@1, kNN@10, mAP@20, NMI). One column per archive (and labelled fraction);
# each method's spread runs over class partitions and seeds, the frozen features' over the
# partitions. The figure puts each method's mean against the frozen features (dashed line, ±1 std
# band).

# %%
if unseen:
    frame = write_unseen_tables(study_dir, figures)
    print(markdown_table(frame, metrics=list(UNSEEN_TABLE_METRICS)))
    panels, references = method_scores(frame, metric)
    figure = plot_method_scores(
        panels,
        metric,
        references=references,
        reference_label=FROZEN_FEATURES,
        title=f"{metric_label(metric)} on classes never trained on (leave-one-out)",
    )
    save_and_show(figure, figures / f"unseen_{metric.replace('@', '')}")

# %% [markdown]
# ## Transfer across archives
# Written as `transfer.{csv,md,tex}` (every metric) and `transfer_knn10.{csv,md,tex}`: kNN@10 on
# the target archive's test split (database: its train split) for each direction, beside the same
# runs on their own archive and the frozen features on the target.

# %%
if transfer:
    transfer_frame = write_transfer_tables(study_dir, figures)
    print(markdown_table(transfer_frame, metrics=[TRANSFER_METRIC], layout="wide"))
