"""The retrieval explorer of ``notebooks/explore.py``: pick runs and a query, see what comes back.

A query is one test image; its results are the K training images nearest to it in a run's
embedding, by the study's retrieval protocol (:attr:`rsdml.report.Run.retrieval_problem`: test
queries against the training split with the archive's clean labels, cosine similarity, ties to
the lower index as :func:`rsdml.evaluate.top_k` ranks them). Each result is right when it has the
query's class. The distance shown is the Euclidean distance between the L2-normalised
embeddings, ``sqrt(2 - 2 cos)``, the quantity the ranking sorts by.

A query is named by its index in the dataset (``Run.files``), not by its position in one run's
test split, so that two runs of the same archive and split show the same image side by side.

The pure functions here are what the widgets call; :class:`Explorer` only wires ipywidgets to
them, and its callbacks run without a browser, so tests drive them directly. There is no click
on a 2-D map: that needs an interactive matplotlib backend (ipympl) or another plotting
library, and the class dropdown with an index slider reaches every test image without one.
"""

from __future__ import annotations

import contextlib
import html
import importlib.util
import io
import os
import shlex
import subprocess
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from rsdml import rundir
from rsdml.data import read_image
from rsdml.errors import UserError
from rsdml.evaluate import ranked_hits_chunks, top_k
from rsdml.execution import KERNEL, NOTEBOOKS_DIR, REPOSITORY, require_finished_runs, runs_dir
from rsdml.report import Gallery, Run, find_runs
from rsdml.tables import metric_label

#: The notebook that ``rsdml explore`` opens.
NOTEBOOK = NOTEBOOKS_DIR / "explore.py"
#: A folder to explore, for the notebook's default (how ``rsdml explore --open`` hands it over:
#: JupyterLab cannot pass parameters, its kernels inherit its environment).
EXPLORE_ENV = "RSDML_EXPLORE"
#: The study the notebook explores when neither a parameter nor $RSDML_EXPLORE names one.
DEFAULT_STUDY = "quick"
DEFAULT_K = 10
#: Side of the gallery's tiles, in pixels, as the report's galleries draw them.
DEFAULT_SIZE = 96
#: The widget's top-K slider stops here: more results no longer fit a readable gallery.
MAX_K = 30


class LabNotInstalled(UserError, ModuleNotFoundError):
    """``rsdml explore --open`` without JupyterLab in this environment."""


class QueryNotInRun(UserError, LookupError):
    """A query image that is not among a run's test images (another archive or split)."""


class NoSuchRun(UserError, LookupError):
    """No finished run of the folder has the asked method, setting and seed."""


def default_folder() -> str:
    """The folder the notebook explores by default: ``$RSDML_EXPLORE``, else ``runs/quick``."""
    chosen = os.environ.get(EXPLORE_ENV)
    return str(Path(chosen).expanduser().absolute()) if chosen else runs_dir(DEFAULT_STUDY)


def explorable_runs(folder: str | os.PathLike) -> list[Run]:
    """The finished runs of a study folder, or the one run of a run folder (``rsdml train``).

    A run folder outside a study has no setting: its folder name stands for one.

    Raises:
        rsdml.execution.EmptyStudyError: neither a finished run nor a study with one.
    """
    folder = Path(folder).absolute()
    if rundir.is_complete(folder):
        config = rundir.read_json(folder / rundir.CONFIG, what="the run's configuration")
        setting, seed = folder.name, config["seed"]
        record = folder / rundir.CELL_RECORD
        if record.is_file():  # one cell of a study
            parameters = rundir.read_json(record, what="the cell's record")["parameters"]
            setting, seed = parameters["setting"], parameters["seed"]
        return [Run(folder, config["method"], setting, int(seed))]
    require_finished_runs(folder)
    return find_runs(folder)


def lab_command(folder: str | os.PathLike) -> tuple[list[str], dict[str, str]]:
    """The command that opens the explorer on ``folder`` in JupyterLab, and the environment
    variables it needs; run from the repository (JupyterLab serves files under its root only)."""
    notebook = str(NOTEBOOK.relative_to(REPOSITORY))
    command = [sys.executable, "-m", "jupyterlab", notebook]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        command.append("--allow-root")  # Jupyter refuses root (containers) unless told
    return command, {EXPLORE_ENV: str(Path(folder).absolute())}


def how_to_open(folder: str | os.PathLike) -> dict[str, str]:
    """Shell lines that open the explorer on ``folder`` (``lab``) and that render its static
    gallery without a browser (``static``: papermill on the notebook, written to
    ``explore.ipynb`` in the working folder)."""
    folder = shlex.quote(str(Path(folder).absolute()))
    notebook = shlex.quote(str(NOTEBOOK))
    return {
        "lab": f"cd {shlex.quote(str(REPOSITORY))} && {EXPLORE_ENV}={folder} jupyter lab "
        f"{NOTEBOOK.relative_to(REPOSITORY)}",
        "static": f"jupytext --to ipynb -o - {notebook} | papermill -k {KERNEL} - explore.ipynb "
        f"-p study_dir {folder}",
    }


def lab_installed() -> bool:
    """Whether JupyterLab can be started from this environment (the ``lab`` extra)."""
    return importlib.util.find_spec("jupyterlab") is not None


def open_lab(folder: str | os.PathLike) -> int:
    """Start JupyterLab on the explorer for ``folder``; returns its exit status when it stops.

    Raises:
        LabNotInstalled: JupyterLab is missing, naming how to install it.
    """
    if not lab_installed():
        raise LabNotInstalled(
            "JupyterLab is not installed in this environment: `make venv` installs it, or "
            "`pip install -e '.[lab]'`; without it, run the explorer's static gallery with the "
            "papermill line that `rsdml explore FOLDER` prints"
        )
    command, variables = lab_command(folder)
    return subprocess.run(command, cwd=REPOSITORY, env={**os.environ, **variables}).returncode


def list_methods(runs: Sequence[Run]) -> list[str]:
    """The methods of ``runs``, in their order (the registry's, from :func:`find_runs`)."""
    return list(dict.fromkeys(run.method for run in runs))


def list_settings(runs: Sequence[Run], method: str) -> list[str]:
    """The settings in which ``method`` has a finished run."""
    return list(dict.fromkeys(run.setting for run in runs if run.method == method))


def list_seeds(runs: Sequence[Run], method: str, setting: str) -> list[int]:
    """The seeds of ``method``'s finished runs in ``setting``."""
    return sorted({run.seed for run in runs if (run.method, run.setting) == (method, setting)})


def pick_run(
    runs: Sequence[Run], method: str, setting: str | None = None, seed: int | None = None
) -> Run:
    """The run of ``method`` in ``setting`` with ``seed``; by default its first setting and
    lowest seed.

    Raises:
        NoSuchRun: no such run, naming the runs there are.
    """
    for run in runs:
        if run.method != method or setting not in (None, run.setting):
            continue
        if seed is None or run.seed == seed:
            return run
    there = ", ".join(f"{r.method}/{r.setting}/seed{r.seed}" for r in runs) or "none"
    raise NoSuchRun(
        f"no finished run of method {method!r} (setting {setting}, seed {seed}); the finished "
        f"runs are {there}: choose one of them"
    )


def query_classes(run: Run) -> list[str]:
    """The classes that have test images in ``run`` (the ones a query can come from)."""
    present = set(run.embeddings["test_labels"].tolist())
    return [name for label, name in enumerate(run.metrics["classes"]) if label in present]


def class_queries(run: Run, label: int) -> np.ndarray:
    """Dataset indices of the run's test images of class ``label``, in test-split order."""
    arrays = run.embeddings
    return arrays["test_index"][arrays["test_labels"] == label]


@dataclass
class Retrieved:
    """The top ``k`` training images of one test query in one run.

    Indices are dataset indices (into ``Run.files``); ``distances`` are Euclidean distances
    between L2-normalised embeddings, ascending; ``average_precision`` is the query's AP over
    its whole ranking of the database.
    """

    query: int
    query_label: int
    indices: np.ndarray
    labels: np.ndarray
    distances: np.ndarray
    correct: np.ndarray
    average_precision: float


def retrieve(run: Run, query: int, k: int = DEFAULT_K) -> Retrieved:
    """The top ``k`` database images of the test image ``query`` (a dataset index) in ``run``.

    Raises:
        QueryNotInRun: ``query`` is not one of the run's test images.
    """
    arrays = run.embeddings
    # retrieval_problem is the test split against the training split, row for row with
    # test_index and train_index (checked: a protocol that drops rows would misname images)
    queries, query_labels, database, database_labels = run.retrieval_problem
    sizes = (len(queries), len(database))
    if sizes != (len(arrays["test_index"]), len(arrays["train_index"])):
        raise ValueError(
            f"the retrieval problem of {run.folder} has {sizes} query and database rows, not one "
            "per test and training image: the explorer cannot name their images"
        )
    position = np.flatnonzero(arrays["test_index"] == query)
    if position.size == 0:
        raise QueryNotInRun(
            f"image {query} ({run.files[query] if 0 <= query < len(run.files) else 'no file'}) "
            f"is not a test image of {run.folder}: pick a query from that run's test split"
        )
    row = slice(int(position[0]), int(position[0]) + 1)
    similarities, neighbours = top_k(queries[row], database, k, device="cpu")
    similarities, neighbours = similarities[0].numpy(), neighbours[0].numpy()
    _, hits = next(
        ranked_hits_chunks(queries[row], query_labels[row], database, database_labels, device="cpu")
    )
    labels = database_labels[neighbours]
    return Retrieved(
        query=int(query),
        query_label=int(query_labels[row][0]),
        indices=arrays["train_index"][neighbours],
        labels=labels,
        distances=np.sqrt(np.clip(2.0 - 2.0 * similarities.astype(np.float64), 0.0, None)),
        correct=labels == query_labels[row][0],
        average_precision=float(hits.average_precision()[0]),
    )


def gallery(run: Run, retrieved: Retrieved, size: int = DEFAULT_SIZE) -> Gallery:
    """The images and captions of a retrieval, for :func:`rsdml.plots.plot_retrieval_gallery`:
    each result captioned with its class and distance."""
    classes = run.metrics["classes"]
    files = run.files

    def image(index: int) -> np.ndarray:
        """The dataset's image ``index`` as (3, size, size) uint8."""
        return read_image(files[int(index)], size).transpose(2, 0, 1)

    precision = float(retrieved.correct.mean())
    return Gallery(
        query=image(retrieved.query),
        results=np.stack([image(i) for i in retrieved.indices]),
        correct=retrieved.correct,
        titles=[
            f"{classes[label]} d={distance:.3f}"
            for label, distance in zip(retrieved.labels, retrieved.distances, strict=True)
        ],
        query_title=f"query: {classes[retrieved.query_label]} (image {retrieved.query})",
        title=(
            f"{run.method}, {run.setting}, seed {run.seed}: AP "
            f"{100 * retrieved.average_precision:.1f} %, "
            f"{metric_label(f'p@{len(retrieved.indices)}')} {100 * precision:.0f} %"
        ),
        average_precision=retrieved.average_precision,
    )


def draw(shown: Gallery) -> Any:
    """The gallery as a figure (the report's own gallery plot)."""
    from rsdml.plots import plot_retrieval_gallery

    return plot_retrieval_gallery(
        shown.query,
        shown.results,
        shown.correct,
        titles=shown.titles,
        query_title=shown.query_title,
        title=shown.title,
    )


def result_table(run: Run, retrieved: Retrieved) -> str:
    """The results as an HTML table: rank, verdict, class, distance and file name."""
    classes = run.metrics["classes"]
    rows = [
        f"<tr><td>{rank}</td><td>{'✓' if right else '✗'}</td>"
        f"<td>{html.escape(classes[label])}</td><td>{distance:.4f}</td>"
        f"<td>{html.escape(Path(run.files[index]).name)}</td></tr>"
        for rank, (index, label, distance, right) in enumerate(
            zip(
                retrieved.indices,
                retrieved.labels,
                retrieved.distances,
                retrieved.correct,
                strict=True,
            ),
            start=1,
        )
    ]
    head = "<tr><th>rank</th><th></th><th>class</th><th>distance</th><th>file</th></tr>"
    return f"<table>{head}{''.join(rows)}</table>"


def figure_png(figure: Any) -> bytes:
    """A figure as PNG bytes, drawn in the study's style, for an image widget."""
    from rsdml.plots.style import style_context

    buffer = io.BytesIO()
    with style_context():
        figure.savefig(buffer, format="png", dpi=100)
    return buffer.getvalue()


class Panel:
    """One side of the explorer: dropdowns choosing a run, its gallery and its result table."""

    def __init__(self, explorer: Explorer, run: Run, name: str) -> None:
        import ipywidgets as widgets

        self.explorer = explorer
        runs = explorer.runs
        self.method = widgets.Dropdown(
            options=list_methods(runs), value=run.method, description=f"{name} method"
        )
        self.setting = widgets.Dropdown(
            options=list_settings(runs, run.method), value=run.setting, description="setting"
        )
        self.seed = widgets.Dropdown(
            options=list_seeds(runs, run.method, run.setting), value=run.seed, description="seed"
        )
        self.image = widgets.Image(format="png")
        self.table = widgets.HTML()
        self.widget = widgets.VBox(
            [widgets.HBox([self.method, self.setting, self.seed]), self.image, self.table]
        )
        #: What the panel shows now: its run, the retrieval, the gallery and its figure (closed
        #: after drawing to the image widget; its axes stay readable), or None after an error.
        self.run = run
        self.retrieved: Retrieved | None = None
        self.gallery: Gallery | None = None
        self.figure: Any = None
        self.method.observe(self.on_method, names="value")
        self.setting.observe(self.on_setting, names="value")
        self.seed.observe(self.on_seed, names="value")

    def on_method(self, change: dict[str, Any]) -> None:
        """A new method: offer its settings (keeping the current one where it has it)."""
        runs = self.explorer.runs
        with self.explorer.quiet():
            setting = self.setting.value
            self.setting.options = list_settings(runs, change["new"])
            if setting in self.setting.options:
                self.setting.value = setting
            self._offer_seeds()
        self.show()

    def on_setting(self, change: dict[str, Any]) -> None:
        """A new setting: offer its seeds, then show."""
        if self.explorer.updating:
            return
        with self.explorer.quiet():
            self._offer_seeds()
        self.show()

    def on_seed(self, change: dict[str, Any]) -> None:
        """A new seed: show its run."""
        if not self.explorer.updating:
            self.show()

    def _offer_seeds(self) -> None:
        seed = self.seed.value
        self.seed.options = list_seeds(self.explorer.runs, self.method.value, self.setting.value)
        if seed in self.seed.options:
            self.seed.value = seed

    def show(self) -> None:
        """Retrieve the explorer's query in the chosen run and redraw the gallery and table."""
        import matplotlib.pyplot as plt

        explorer = self.explorer
        self.run = pick_run(explorer.runs, self.method.value, self.setting.value, self.seed.value)
        try:
            self.retrieved = retrieve(self.run, explorer.query, explorer.k.value)
        except QueryNotInRun as error:
            self.retrieved = self.gallery = self.figure = None
            self.image.value = b""
            self.table.value = f"<p>{html.escape(str(error))}</p>"
            return
        self.gallery = gallery(self.run, self.retrieved, explorer.size)
        self.figure = draw(self.gallery)
        self.image.value = figure_png(self.figure)
        # shown through the image widget only: the inline backend would show it a second time
        plt.close(self.figure)
        self.table.value = f"<b>{html.escape(self.gallery.title)}</b>" + result_table(
            self.run, self.retrieved
        )


class Explorer:
    """Widgets to choose a query (class and index) and two runs, each shown as a gallery.

    Args:
        runs: the runs to choose from (:func:`explorable_runs`).
        first, second: ``(method, setting, seed)`` of the two panels, any part None for the
            default: the first run, and the next method's run in the same setting.
        query_class: class name of the query (default: the first test image's class).
        query_position: which test image of that class, in test-split order.
        k: how many results each gallery shows.
        size: side of the gallery's tiles, in pixels.
    """

    def __init__(
        self,
        runs: Sequence[Run],
        *,
        first: tuple[str | None, str | None, int | None] = (None, None, None),
        second: tuple[str | None, str | None, int | None] = (None, None, None),
        query_class: str | None = None,
        query_position: int = 0,
        k: int = DEFAULT_K,
        size: int = DEFAULT_SIZE,
    ) -> None:
        import ipywidgets as widgets

        if not runs:
            raise NoSuchRun("no finished run to explore: run a study or `rsdml train` first")
        self.runs = list(runs)
        self.size = size
        self.updating = False
        one = self._default_run(first, self.runs[0].method, None)
        methods = list_methods(self.runs)
        following = methods[(methods.index(one.method) + 1) % len(methods)]
        two = self._default_run(second, following, one.setting)
        arrays = one.embeddings
        self.classes = list(one.metrics["classes"])
        if query_class is None:
            query_class = self.classes[int(arrays["test_labels"][0])]
        if query_class not in query_classes(one):
            raise QueryNotInRun(
                f"no test image of class {query_class!r} in {one.folder}; the classes with test "
                f"images are {query_classes(one)}: choose one of them"
            )
        self.query_class = widgets.Dropdown(
            options=query_classes(one), value=query_class, description="query class"
        )
        self.query_position = widgets.IntSlider(min=0, description="test image")
        self._bound_positions()
        self.query_position.value = query_position
        self.k = widgets.IntSlider(
            value=k, min=1, max=max(k, min(MAX_K, len(arrays["train_index"]))), description="K"
        )
        self.panels = [Panel(self, one, "A"), Panel(self, two, "B")]
        self.widget = widgets.VBox(
            [
                widgets.HBox([self.query_class, self.query_position, self.k]),
                *(panel.widget for panel in self.panels),
            ]
        )
        self.query_class.observe(self.on_class, names="value")
        self.query_position.observe(self.on_query, names="value")
        self.k.observe(self.on_query, names="value")
        self.show()

    def _default_run(
        self, chosen: tuple[str | None, str | None, int | None], method: str, setting: str | None
    ) -> Run:
        """The chosen run, with the defaults for any part left None (a setting the method
        lacks falls back to its first)."""
        wanted_method, wanted_setting, seed = chosen
        method = wanted_method or method
        if wanted_setting is None and setting not in list_settings(self.runs, method):
            setting = None
        return pick_run(self.runs, method, wanted_setting or setting, seed)

    @property
    def query(self) -> int:
        """The query's dataset index: the chosen test image of the chosen class."""
        label = self.classes.index(self.query_class.value)
        queries = class_queries(self.query_run(), label)
        # panel A's run may have changed to one with fewer test images of the class
        return int(queries[min(self.query_position.value, len(queries) - 1)])

    def query_run(self) -> Run:
        """The run whose test split numbers the queries: panel A's (the first before it exists)."""
        panels = getattr(self, "panels", None)
        return panels[0].run if panels else self.runs[0]

    def _bound_positions(self) -> None:
        label = self.classes.index(self.query_class.value)
        count = len(class_queries(self.query_run(), label))
        self.query_position.max = max(count - 1, 0)

    @contextlib.contextmanager
    def quiet(self) -> Iterator[None]:
        """Widget changes inside do not redraw (one redraw follows them)."""
        before, self.updating = self.updating, True
        try:
            yield
        finally:
            self.updating = before

    def on_class(self, change: dict[str, Any]) -> None:
        """A new query class: its first test image."""
        with self.quiet():
            self.query_position.value = 0
            self._bound_positions()
        self.show()

    def on_query(self, change: dict[str, Any]) -> None:
        """A new test image or K: redraw both panels."""
        if not self.updating:
            self.show()

    def show(self) -> None:
        """Redraw both panels for the current query."""
        for panel in self.panels:
            panel.show()

    def figures(self) -> list[Any]:
        """Fresh figures of both panels' galleries (left open, for a static notebook output)."""
        return [draw(panel.gallery) for panel in self.panels if panel.gallery is not None]
