# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Embeddings: t-SNE and UMAP
#
# Two-dimensional maps of the learned embeddings, coloured by the true class. In a noisy-label
# setting the training images whose label was corrupted are drawn as crosses: a robust method
# keeps them inside their true class's cluster.

# %% tags=["parameters"]
study_dir = "../runs/quick"
figures_dir = "../runs/quick/figures"
clean_setting = "clean"
noisy_setting = "uniform-0.4"
clean_methods = ["nsl", "snca_ce_mb", "srl"]
noisy_methods = ["nsl", "trnsl"]
seed = 0
projections = ["tsne", "umap"]

# %%
from pathlib import Path

from rsdml.plots import plot_projections, save_figure, use_style
from rsdml.report import find_runs, noisy_mask

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
            )
            save_figure(figure, figures / f"embedding_{method}_{setting}")
            shown.append(figure)
    return shown


# %% [markdown]
# ## Clean labels: test embeddings

# %%
figures_clean = show(clean_setting, clean_methods, "test")
figures_clean[-1] if figures_clean else "no clean runs in this study"

# %% [markdown]
# ## Noisy labels: training embeddings, corrupted labels marked

# %%
figures_noisy = show(noisy_setting, noisy_methods, "train")
figures_noisy[-1] if figures_noisy else "no noisy runs in this study"
