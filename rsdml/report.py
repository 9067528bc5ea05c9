"""Reading a finished study back for the report notebooks: runs, curves, galleries, tables.

The report notebooks stay short because everything they compute from the run folders lives
here: which runs exist, their learning curves, precision-recall curves, retrieval examples and
the result tables. Nothing here trains.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from matplotlib.figure import Figure

from rsdml import rundir
from rsdml.data import read_image
from rsdml.evaluate import precision_recall_curve, ranked_hits_chunks, recall_levels, top_k
from rsdml.losses import METHODS, available
from rsdml.metric_names import PAPER_METRICS, PR_CURVE_POINTS
from rsdml.plots import plot_projections, save_and_show
from rsdml.tables import metric_label, summarise, write_tables


@dataclass
class Run:
    """One finished training run (a study cell or any folder written by ``rsdml train``)."""

    folder: Path
    method: str
    setting: str
    seed: int

    @cached_property
    def metrics(self) -> dict[str, Any]:
        """The run's ``metrics.json``."""
        return rundir.read_json(self.folder / rundir.METRICS, what="the run's final metrics")

    @cached_property
    def embeddings(self) -> dict[str, np.ndarray]:
        """The arrays of ``embeddings.npz`` (train/val/test embeddings, indices, labels)."""
        with np.load(self.folder / rundir.EMBEDDINGS) as stored:
            return {name: stored[name] for name in stored.files}

    @cached_property
    def files(self) -> list[str]:
        """Image paths of the dataset, in index order."""
        return rundir.read_json(self.folder / rundir.SPLIT, what="the run's split")["files"]

    @property
    def retrieval_problem(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """``(query, query_labels, database, database_labels)`` of the study's protocol: the
        test embeddings against the training embeddings with the archive's clean labels."""
        arrays = self.embeddings
        return arrays["test"], arrays["test_labels"], arrays["train"], arrays["train_clean"]

    def curve(self, key: str = "val_knn@10") -> list[float]:
        """A per-epoch series of the history."""
        return [record[key] for record in self.metrics["history"] if key in record]


def find_runs(
    study_dir: str | os.PathLike,
    *,
    method: str | None = None,
    setting: str | None = None,
    seed: int | None = None,
) -> list[Run]:
    """Finished runs of a study (done cells, as :func:`rsdml.rundir.is_cell_done` decides),
    filtered, in the registry's method order."""
    runs = []
    for folder in rundir.study_cell_folders(study_dir):
        if not rundir.is_cell_done(folder):
            continue
        record = rundir.read_json(folder / rundir.CELL_RECORD, what="the cell's record")
        parameters = record["parameters"]
        run = Run(folder, parameters["method"], parameters["setting"], int(parameters["seed"]))
        if method not in (None, run.method) or setting not in (None, run.setting):
            continue
        if seed is not None and run.seed != seed:
            continue
        runs.append(run)
    order = {name: position for position, name in enumerate(available())}
    return sorted(runs, key=lambda r: (order.get(r.method, len(order)), r.setting, r.seed))


def study_settings(study_dir: str | os.PathLike) -> list[str]:
    """Setting names in the order the study file lists them."""
    stored = Path(study_dir) / "study.json"
    if not stored.exists():
        return []
    return list(rundir.read_json(stored, what="the study's description")["settings"])


def result_records(runs: list[Run]) -> list[dict[str, Any]]:
    """One record per run: method, setting, seed and the test metrics."""
    return [
        {"method": r.method, "setting": r.setting, "seed": r.seed, **r.metrics["test"]}
        for r in runs
    ]


def write_result_tables(study_dir: str | os.PathLike, figures_dir: str | os.PathLike) -> Any:
    """Summarise every finished run (mean +- std over seeds) into CSV, Markdown and LaTeX tables:
    ``results`` (every metric) and ``results_paper`` (the papers' metrics). Returns the frame."""
    runs = find_runs(study_dir)
    if not runs:
        raise FileNotFoundError(f"no finished runs under {study_dir}/cells: run the study first")
    frame = summarise(
        result_records(runs), method_order=available(), setting_order=study_settings(study_dir)
    )
    figures = Path(figures_dir)
    write_tables(frame, figures / "results", caption="Test metrics of every method and setting")
    write_tables(
        frame,
        figures / "results_paper",
        metrics=list(PAPER_METRICS),
        caption="kNN accuracy, clustering ACC/NMI and retrieval mAP@K on the test split",
    )
    return frame


def pr_curves(
    runs: list[Run], points: int = PR_CURVE_POINTS
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Precision-recall curve of each run (test queries against the clean-labelled database):
    the one the run kept with its test metrics when it has these recall levels, else computed
    from its embeddings (runs of older versions, other levels)."""
    levels = recall_levels(points)
    curves = {}
    for run in runs:
        kept = run.metrics.get("pr_curve")
        if kept is not None and np.array_equal(kept["recall"], levels):
            curves[run.method] = (levels, np.asarray(kept["precision"], dtype=np.float64))
        else:
            curves[run.method] = precision_recall_curve(*run.retrieval_problem, points=points)
    return curves


def method_groups(methods: Iterable[str]) -> dict[str, list[str]]:
    """Methods grouped by the registry's loss family (``"memory losses": [snca_mb, ...]``),
    families and methods in registry order, for the small multiples of the line plots
    (``groups=`` of :func:`rsdml.plots.plot_learning_curves` and the like).

    Names the registry does not know are left out; the plots put them in a panel "other".
    """
    wanted = set(methods)
    groups: dict[str, list[str]] = {}
    for name, info in METHODS.items():
        if name in wanted:
            groups.setdefault(f"{info.family} losses", []).append(name)
    return groups


@dataclass
class Gallery:
    """A query image, its top results and whether each is of the query's class.

    ``title`` names the run (method, setting, seed) and how the query was chosen;
    ``average_precision`` is the query's AP over the whole ranking of the database.
    """

    query: np.ndarray
    results: np.ndarray
    correct: np.ndarray
    titles: list[str]
    query_title: str
    title: str
    average_precision: float


def query_average_precision(run: Run) -> np.ndarray:
    """Average precision of every test query of a run, over its whole ranking of the training
    images (the database; relevant: the query's class by the archive's clean labels)."""
    chunks = [
        hits.average_precision()
        for _, hits in ranked_hits_chunks(*run.retrieval_problem, device="cpu")
    ]
    return torch.cat(chunks).numpy()


def retrieval_gallery(
    run: Run,
    k: int = 10,
    size: int = 96,
    query: int | None = None,
    pick: Literal["typical", "worst"] = "typical",
) -> Gallery:
    """The top ``k`` training images retrieved for one test query.

    Without ``query`` the query is chosen, never hand-picked: ``pick="typical"`` takes the one
    whose precision@k is the median over the test set; ``pick="worst"`` the one with the
    lowest average precision (:func:`query_average_precision`; the first such query on a tie),
    which shows where the method fails rather than a query it gets right.
    """
    if pick not in ("typical", "worst"):
        raise ValueError(f"pick must be 'typical' or 'worst', not {pick!r}")
    arrays = run.embeddings
    classes = run.metrics["classes"]
    _, neighbours = top_k(arrays["test"], arrays["train"], k)
    neighbours = neighbours.numpy()
    hits = arrays["train_clean"][neighbours] == arrays["test_labels"][:, None]
    precision = hits.mean(axis=1)
    average_precision = query_average_precision(run)
    count = len(precision)
    if query is not None:
        how = f"test query {query}"
    elif pick == "worst":
        query = int(np.argmin(average_precision))
        how = f"lowest AP of {count} test queries"
    else:
        query = int(np.argsort(precision, kind="stable")[count // 2])
        how = f"median precision@{k} of {count} test queries"
    files = run.files

    def image(index: int) -> np.ndarray:
        """The dataset's image ``index`` as (3, size, size) uint8."""
        return read_image(files[int(index)], size).transpose(2, 0, 1)

    ap = float(average_precision[query])
    result_indices = arrays["train_index"][neighbours[query]]
    return Gallery(
        query=image(arrays["test_index"][query]),
        results=np.stack([image(i) for i in result_indices]),
        correct=hits[query],
        titles=[classes[c] for c in arrays["train_clean"][neighbours[query]]],
        query_title=f"query: {classes[arrays['test_labels'][query]]}",
        title=(
            f"{run.method}, {run.setting}, seed {run.seed}: {how} "
            f"(AP {100 * ap:.1f} %, {metric_label(f'p@{k}')} {100 * precision[query]:.0f} %)"
        ),
        average_precision=ap,
    )


def save_embedding_maps(
    study_dir: str | os.PathLike,
    figures: str | os.PathLike,
    setting: str,
    methods: Iterable[str],
    split: str,
    *,
    seed: int = 0,
    projections: Iterable[str] = ("tsne", "umap"),
    max_points: int | None = None,
) -> list[Figure]:
    """Draw and save the 2-D maps (:func:`rsdml.plots.plot_projections`) of the ``split``
    embeddings of each method's run in ``setting`` (seed ``seed``), coloured by true class, as
    ``embedding_<method>_<setting>`` in ``figures``. Maps of the training split mark the images
    whose label was corrupted; a notebook shows each as its saved PNG
    (:func:`rsdml.plots.save_and_show`). Returns the figures; methods without such a run are
    skipped."""
    drawn = []
    for method in methods:
        for run in find_runs(study_dir, method=method, setting=setting, seed=seed):
            arrays = run.embeddings
            labels = arrays["train_clean"] if split == "train" else arrays[f"{split}_labels"]
            figure = plot_projections(
                arrays[split],
                labels,
                run.metrics["classes"],
                noisy=noisy_mask(run) if split == "train" else None,
                seed=seed,
                methods=tuple(projections),
                title=f"{method}, {setting}, {split} images",
                max_points=max_points,
            )
            save_and_show(figure, Path(figures) / f"embedding_{method}_{setting}")
            drawn.append(figure)
    return drawn


def noisy_mask(run: Run) -> np.ndarray | None:
    """Which training images of a run carry a wrong (noisy) label; None for clean runs."""
    arrays = run.embeddings
    if run.metrics.get("noise") is None:
        return None
    return arrays["train_labels"] != arrays["train_clean"]
