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
# # Retrieval explorer
#
# Choose a query among the test images (its class, then which of them) and two runs (method,
# setting, seed): each run shows the query's K nearest training images, framed green when they
# have the query's class and red when not, with their embedding distances (Euclidean between
# L2-normalised embeddings), the query's AP and the precision of the K shown. Runs with the
# same split share their test images, so both sides answer the same query. Nothing is trained.
#
# `rsdml explore FOLDER --open` opens this notebook on FOLDER (a study or one run's folder). The
# widgets need a live kernel (JupyterLab); run without one (papermill, CI), the notebook ends on
# a static gallery of its default query: the first test image, in the first method's run and
# the next method's.

# %% tags=["parameters"]
# The default folder is $RSDML_EXPLORE (what `rsdml explore --open` sets), else the repository's
# runs/quick ($RSDML_RUNS overrides runs/), whatever the working folder.
from rsdml.explore import default_folder

study_dir = default_folder()
# the two runs as (method, setting, seed); None takes the first method's first run and the next
# method's run in the same setting
first = (None, None, None)
second = (None, None, None)
# the query: a class name (None: the first test image's) and which of its test images
query_class = None
query_position = 0
k = 10
# a folder to save the static gallery into as explore_a.png and explore_b.png (None: not saved)
figures_dir = None

# %%
from pathlib import Path

from IPython.display import display

from rsdml.explore import Explorer, explorable_runs
from rsdml.plots import save_figure, use_style

runs = explorable_runs(study_dir)
use_style()
explorer = Explorer(
    runs,
    first=tuple(first),
    second=tuple(second),
    query_class=query_class,
    query_position=query_position,
    k=k,
)
print(f"{len(runs)} finished run(s) in {study_dir}")

# %% [markdown]
# ## Interactive: change the query, K or either run

# %%
display(explorer.widget)

# %% [markdown]
# ## Static gallery of the chosen query (for papermill and CI)

# %%
static = explorer.figures()  # shown below the cell by the inline backend
if figures_dir is not None:
    for name, figure in zip("ab", static, strict=False):
        save_figure(figure, Path(figures_dir) / f"explore_{name}", formats=("png",))
