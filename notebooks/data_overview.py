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
# # The data: example scenes, split sizes, label-noise transition matrices
#
# Shows the dataset of a study (or any dataset when run on its own): a grid of example scenes per
# class, the sizes of the papers' per-class split, and the transition matrices of the label noise
# that the study's noisy settings applied to the training labels.

# %% tags=["parameters"]
# The default folders are under the repository's runs/ ($RSDML_RUNS overrides it), whatever the
# working folder: the notebook finds the study when run from JupyterLab, jupytext or papermill.
from rsdml.execution import runs_dir

study_dir = runs_dir("quick")
figures_dir = runs_dir("quick", "figures")
dataset = None  # None: the study's dataset
root = None
per_class = 5
image_size = 96

# %%
import json
from pathlib import Path

import numpy as np
import pandas as pd

from rsdml.data import read_image
from rsdml.plots import plot_class_examples, plot_transition_matrix, save_and_show, use_style
from rsdml.report import find_runs, study_settings
from rsdml.train import TrainConfig
from rsdml.train.prepare import load_run_images

use_style()
figures = Path(figures_dir)
figures.mkdir(parents=True, exist_ok=True)
shared = {}
if (Path(study_dir) / "study.json").exists():
    shared = json.loads((Path(study_dir) / "study.json").read_text())["shared"]
# The study's own configuration decides the data (split seed and fractions, dataset options such
# as on_error): the same scenes and split its runs trained on, read through the image cache.
chosen_data = {key: value for key, value in (("dataset", dataset), ("root", root)) if value}
run_config = TrainConfig.from_dict({**shared, **chosen_data}).resolved()
scenes, split, _, _, skipped = load_run_images(run_config)
if skipped:
    print(f"{len(skipped)} unreadable files left out (on_error=skip)")

# %% [markdown]
# ## Split sizes (per class: sorted names, shuffled with seed 42, floor-cut 70/10/20)

# %%
summary = split.summary(scenes.labels, scenes.classes)
pd.DataFrame(summary["per_class"]).T

# %% [markdown]
# ## Example scenes

# %%
rng = np.random.default_rng(0)
chosen = np.concatenate(
    [
        rng.choice(
            np.flatnonzero(scenes.labels == c),
            size=min(per_class, int((scenes.labels == c).sum())),
            replace=False,
        )
        for c in range(len(scenes.classes))
    ]
)
images = np.stack([read_image(scenes.files[i], image_size).transpose(2, 0, 1) for i in chosen])
figure = plot_class_examples(images, scenes.labels[chosen], scenes.classes, per_class=per_class)
saved = save_and_show(figure, figures / "class_examples")  # the PNG and PDF written

# %% [markdown]
# ## Label-noise transition matrices
# Row i gives the probability that a training image of class i carries label j. One matrix per
# noise kind at the highest rate the study used (read from the runs, so it is exactly what trained).

# %%
shown = None
for kind in ("uniform", "pairflip", "dependent"):
    noisy = [s for s in study_settings(study_dir) if s.startswith(kind)]
    for setting in sorted(noisy, key=lambda s: float(s.split("-")[-1]))[-1:]:
        runs = find_runs(study_dir, setting=setting)
        if not runs:
            continue
        noise = runs[0].metrics["noise"]
        shown = plot_transition_matrix(
            np.asarray(noise["transition"]),
            runs[0].metrics["classes"],
            title=f"{kind} noise, rate {noise['rate']} (realised {noise['realised_rate']:.2f})",
        )
        save_and_show(shown, figures / f"transition_{setting}")
if shown is None:
    print("no noisy settings in this study")
