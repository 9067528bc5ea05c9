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
# # Rank analysis: does the high-rankness term raise the rank of the predictions?
#
# HR-S2DML adds to ArcFace's normalized softmax with margin a term that maximises the nuclear norm
# of the class-probability matrix P of unlabelled images. With λ = 0 it *is* ArcFace trained on the
# labelled images only, so the pair (arcface, hr_s2dml) in a `labelled-*` setting is λ = 0 against
# λ = 1 on the same labelled images. The engine records, after every epoch, the effective rank of P
# over the unlabelled pool and of the embeddings; the final singular values are in `metrics.json`.

# %% tags=["parameters"]
# The default folders are under the repository's runs/ ($RSDML_RUNS overrides it), whatever the
# working folder: the notebook finds the study when run from JupyterLab, jupytext or papermill.
from rsdml.execution import runs_dir

study_dir = runs_dir("quick")
figures_dir = runs_dir("quick", "figures")
baseline = "arcface"
method = "hr_s2dml"
seed = 0

# %%
from pathlib import Path

import numpy as np
import pandas as pd

from rsdml.execution import require_finished_runs
from rsdml.plots import plot_rank_over_training, plot_singular_values, save_and_show, use_style
from rsdml.report import find_runs, study_settings

require_finished_runs(study_dir)
use_style()
figures = Path(figures_dir)
figures.mkdir(parents=True, exist_ok=True)
settings = [s for s in study_settings(study_dir) if s.startswith("labelled")]
print("semi-supervised settings:", settings or "none in this study")

# %%
rows = []
for setting in settings:
    pair = {}
    for name, label in ((baseline, "λ = 0 (arcface)"), (method, "λ = 1 (hr_s2dml)")):
        runs = find_runs(study_dir, method=name, setting=setting, seed=seed)
        if runs:
            pair[label] = runs[0]
    if len(pair) < 2:
        continue
    figure = plot_rank_over_training(
        {label: run.curve("prediction_effective_rank") for label, run in pair.items()},
        ylabel="effective rank of P (unlabelled)",
        title=setting,
    )
    save_and_show(figure, figures / f"rank_over_training_{setting}")
    figure = plot_singular_values(
        {label: np.asarray(run.metrics["rank"]["prediction"]) for label, run in pair.items()},
        title=f"singular values of P, {setting}",
    )
    save_and_show(figure, figures / f"singular_values_{setting}")
    for label, run in pair.items():
        rows.append(
            {
                "setting": setting,
                "model": label,
                "final effective rank of P": run.curve("prediction_effective_rank")[-1],
                "embedding effective rank": run.curve("embedding_effective_rank")[-1],
                "test knn@10": run.metrics["test"]["knn@10"],
                "test map@20": run.metrics["test"]["map@20"],
            }
        )
table = pd.DataFrame(rows)
if len(table):
    table.to_csv(figures / "rank_analysis.csv", index=False)
table
