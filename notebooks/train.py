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
# # Train one method
#
# One notebook serves every method: a method in rsdml is configuration (a loss and the hooks it
# needs), not a copy of the training loop, so the parameters cell below is the whole experiment.
# The study runner executes this notebook once per grid cell with papermill; opened in JupyterLab
# it trains the defaults interactively.
#
# The run folder (`out_dir`) receives `metrics.json` (configuration, validation and test metrics,
# per-epoch history), `embeddings.npz`, checkpoints and the figures below. Re-running with the same
# parameters returns the finished result at once; an interrupted run resumes.

# %% tags=["parameters"]
method = "nsl"
setting = "clean"
dataset = "synthetic"
root = None
dataset_options = {}
mode = "frozen"
backbone = "efficientnet_lite0"
image_size = None
epochs = None
batch_size = None
lr = None
seed = 0
label_fraction = None
noise = None
noise_rate = 0.0
# views: frozen-mode feature views; None = every geometric view, ["plain"] = none
views = None
unlabelled_pool = "train"
loss_params = {}
device = "auto"
out_dir = "../runs/notebook/train"

# %%
import json
from pathlib import Path

import pandas as pd

from rsdml.plots import plot_learning_curves, save_figure, use_style
from rsdml.train import TrainConfig, fit

use_style()
config = TrainConfig(
    method=method,
    dataset=dataset,
    root=root,
    dataset_options=dataset_options,
    mode=mode,
    backbone=backbone,
    image_size=image_size,
    epochs=epochs,
    batch_size=batch_size,
    lr=lr,
    seed=seed,
    label_fraction=label_fraction,
    noise=noise,
    noise_rate=noise_rate,
    views=None if views is None else tuple(views),
    unlabelled_pool=unlabelled_pool,
    loss_params=loss_params,
    device=device,
)
print(json.dumps(config.resolved().to_dict(), indent=1))

# %% [markdown]
# ## Training
# Model selection uses the validation split only (kNN@10, database = the training images with the
# labels the learner was given). The test split is touched once, by the selected model.

# %%
metrics = fit(config, out=out_dir)
print(f"best epoch {metrics['best_epoch']} of {len(metrics['history'])}")

# %% [markdown]
# ## Test metrics: untrained embedding against the trained one

# %%
names = ["knn@1", "knn@5", "knn@10", "acc", "nmi", "map@20", "map@50", "map@100"]
table = pd.DataFrame(
    [metrics["untrained"], metrics["test"]], index=["untrained", f"{method} (selected)"]
)[names]
(table * 100).round(1)

# %% [markdown]
# ## Validation kNN@10 per epoch

# %%
history = metrics["history"]
figure = plot_learning_curves({method: [record["val_knn@10"] for record in history]})
save_figure(figure, Path(out_dir) / "learning_curve")
figure
