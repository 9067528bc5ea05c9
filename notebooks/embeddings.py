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
# # Embeddings: t-SNE and UMAP
#
# Two-dimensional maps of the learned embeddings, coloured by the true class. In a noisy-label
# setting the training images whose label was corrupted sit in thin dark rings, in their true
# class's colour: a robust method keeps them inside their true class's cluster.

# %% tags=["parameters"]
# The default folders are under the repository's runs/ ($RSDML_RUNS overrides it), whatever the
# working folder: the notebook finds the study when run from JupyterLab, jupytext or papermill.
from rsdml.execution import runs_dir

study_dir = runs_dir("quick")
figures_dir = runs_dir("quick", "figures")
clean_setting = "clean"
noisy_setting = "uniform-0.4"
clean_methods = ["nsl", "snca_ce_mb", "srl"]
noisy_methods = ["nsl", "trnsl"]
seed = 0
projections = ["tsne", "umap"]
# An archive's splits hold thousands of images: project a random subset of at most this many
# (the figure's title says so); None projects every point.
max_points = 3000

# %%
from pathlib import Path

from rsdml.execution import require_finished_runs
from rsdml.plots import plot_projections, save_figure, use_style
from rsdml.report import find_runs, noisy_mask

require_finished_runs(study_dir)
use_style()
figures = Path(figures_dir)
figures.mkdir(parents=True, exist_ok=True)


def show(setting, methods, split):
    """Project the ``split`` embeddings of each method's run in ``setting``; save and return figures."""
    shown = []
    for method in methods:
        for run in find_runs(study_dir, method=method, setting=setting, seed=seed):
            arrays = run.embeddings
            labels = arrays["train_clean"] if split == "train" else arrays[f"{split}_labels"]
            noisy = noisy_mask(run) if split == "train" else None
            figure = plot_projections(
                arrays[split],
                labels,
                run.metrics["classes"],
                noisy=noisy,
                seed=seed,
                methods=tuple(projections),
                title=f"{method}, {setting}, {split} images",
                max_points=max_points,
            )
            save_figure(figure, figures / f"embedding_{method}_{setting}")
            shown.append(figure)
    return shown


# %% [markdown]
# ## Clean labels: test embeddings

# %%
figures_clean = show(clean_setting, clean_methods, "test")
if not figures_clean:
    print("no clean runs in this study")

# %% [markdown]
# ## Noisy labels: training embeddings, corrupted labels marked

# %%
figures_noisy = show(noisy_setting, noisy_methods, "train")
if not figures_noisy:
    print("no noisy runs in this study")
