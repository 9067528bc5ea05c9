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
# # Embeddings: t-SNE and UMAP of the test images, clean labels
#
# Two-dimensional maps of the learned test embeddings, coloured by the true class: how well
# each method separates the classes it was trained on. The maps of noisy-label runs are the
# `noisy_embeddings` notebook's (a report runs the two side by side).

# %% tags=["parameters"]
# The default folders are under the repository's runs/ ($RSDML_RUNS overrides it), whatever the
# working folder: the notebook finds the study when run from JupyterLab, jupytext or papermill.
from rsdml.execution import runs_dir

study_dir = runs_dir("quick")
figures_dir = runs_dir("quick", "figures")
clean_setting = "clean"
clean_methods = ["nsl", "snca_ce_mb", "srl"]
seed = 0
projections = ["tsne", "umap"]
# An archive's splits hold thousands of images: project a random subset of at most this many
# (the figure's title says so); None projects every point.
max_points = 3000

# %%
from rsdml.execution import require_finished_runs
from rsdml.plots import use_style
from rsdml.report import save_embedding_maps

require_finished_runs(study_dir)
use_style()

# %%
figures_clean = save_embedding_maps(
    study_dir, figures_dir, clean_setting, clean_methods, "test",
    seed=seed, projections=projections, max_points=max_points,
)  # fmt: skip
if not figures_clean:
    print("no clean runs in this study")
