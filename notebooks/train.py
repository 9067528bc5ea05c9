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
# The default folders are under the repository's runs/ ($RSDML_RUNS overrides it), whatever the
# working folder: the notebook finds the study when run from JupyterLab, jupytext or papermill.
from rsdml.execution import runs_dir

# The whole run configuration, handed to TrainConfig unchanged: any TrainConfig field may be added
# here (split_seed, fractions, weights, pretrained, database_labels...; see
# rsdml/train/config.py), and an unknown or mistyped one is refused. None takes the documented
# default of the mode or dataset. The study runner replaces this dict with each cell's own.
# Keep brackets and quotes out of the comments inside the dict: papermill reads it line by line.
config = {
    "method": "nsl",
    "dataset": "synthetic",
    "root": None,
    "mode": "frozen",
    "backbone": "efficientnet_lite0",
    "epochs": 30,  # as the quick study: a minute or two; None: 100 in frozen mode
    "seed": 0,
    "noise": None,  # uniform, pairflip or dependent, with a noise_rate in (0, 1)
    "noise_rate": 0.0,
    "label_fraction": None,
    "views": None,  # frozen-mode feature views: None for every geometric view, or a list
    "loss_params": {},
    # standard, or unseen-classes: train on train_classes, test on the held-out rest;
    # train_classes None draws half the classes with class_seed, see docs/methods.md
    "protocol": "standard",
    "train_classes": None,
}
setting = "clean"
out_dir = runs_dir("notebook", "train")

# %%
import json
from pathlib import Path

import pandas as pd

from rsdml.metric_names import PAPER_METRICS
from rsdml.plots import plot_learning_curves, save_and_show, use_style
from rsdml.train import TrainConfig, fit

use_style()
train_config = TrainConfig.from_dict(config)
method = train_config.method
print(json.dumps(train_config.resolved().to_dict(), indent=1))

# %% [markdown]
# ## Training
# Model selection uses the validation split only (kNN@10, database = the training images with the
# labels the learner was given). The test split is touched once, by the selected model.

# %%
# reuse_data: the next run in this kernel (the study's next cell) takes this run's data, loaded
# once, unless it needs other data or an image file changed.
metrics = fit(train_config, out=out_dir, reuse_data=True)
print(f"best epoch {metrics['best_epoch']} of {len(metrics['history'])}")
if "protocol" in metrics:  # unseen classes: the test metrics score the held-out classes alone
    print(f"trained on {metrics['protocol']['train']}, tested on {metrics['protocol']['held_out']}")

# %% [markdown]
# ## Test metrics: untrained embedding against the trained one
# The untrained embedding is scored by kNN alone (what training has to improve on).

# %%
names = list(PAPER_METRICS)
table = pd.DataFrame(
    [metrics["untrained"], metrics["test"]], index=["untrained", f"{method} (selected)"]
).reindex(columns=names)
(table * 100).round(1)

# %% [markdown]
# ## Validation kNN@10 per epoch

# %%
history = metrics["history"]
figure = plot_learning_curves({method: [record["val_knn@10"] for record in history]})
# PNG only: one such figure per study cell, looked at on screen (a PDF would double the time)
saved = save_and_show(figure, Path(out_dir) / "learning_curve", formats=("png",))
