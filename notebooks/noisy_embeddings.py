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
# # Embeddings under noisy labels: t-SNE and UMAP of the training images
#
# Two-dimensional maps of the training embeddings of a noisy-label setting, coloured by the true
# class. The images whose label was corrupted sit in thin dark rings, in their true class's
# colour: a robust method keeps them inside their true class's cluster.

# %% tags=["parameters"]
# The default folders are under the repository's runs/ ($RSDML_RUNS overrides it), whatever the
# working folder: the notebook finds the study when run from JupyterLab, jupytext or papermill.
from rsdml.execution import runs_dir

study_dir = runs_dir("quick")
figures_dir = runs_dir("quick", "figures")
noisy_setting = "uniform-0.4"
noisy_methods = ["nsl", "trnsl"]
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
figures_noisy = save_embedding_maps(
    study_dir, figures_dir, noisy_setting, noisy_methods, "train",
    seed=seed, projections=projections, max_points=max_points,
)  # fmt: skip
if not figures_noisy:
    print("no noisy runs in this study")
