"""The retrieval explorer: its top-K against a brute-force numpy search, its widgets driven through
their callbacks, `rsdml explore`, and notebooks/explore.py executed headless with its defaults.

The study explored is written by hand in the run-folder layout (:mod:`rsdml.rundir`): a few
solid-colour images and seeded embeddings, so that every expected result is computed here
independently and no training is needed; the notebook runs on it in one kernel.
"""

from __future__ import annotations

import json
import zlib
from pathlib import Path

import jupytext
import nbformat
import numpy as np
import pytest
from papermill.exceptions import PapermillExecutionError
from PIL import Image

from rsdml import explore, rundir
from rsdml.cli import main
from rsdml.execution import RUNS_ENV, EmptyStudyError, WarmKernel, notebook_path
from rsdml.explore import (
    EXPLORE_ENV,
    Explorer,
    NoSuchRun,
    QueryNotInRun,
    class_queries,
    explorable_runs,
    list_methods,
    list_seeds,
    list_settings,
    pick_run,
    query_classes,
    retrieve,
)

CLASSES = ["forest", "water", "golf_course"]
PER_CLASS = 8
TRAIN_PER_CLASS = 5  # the other 3 of each class are test images
DIM = 6
# (method, setting, seed); arcface's runs are in the other order of the registry, nsl first
CELLS = [
    ("arcface", "clean", 0),
    ("nsl", "clean", 0),
    ("nsl", "clean", 1),
    ("nsl", "uniform-0.4", 0),
]


def split_indices(shift: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Training and test dataset indices, class by class; ``shift`` moves the test images."""
    train, test = [], []
    for label in range(len(CLASSES)):
        images = label * PER_CLASS + np.roll(np.arange(PER_CLASS), shift)
        train += list(images[:TRAIN_PER_CLASS])
        test += list(images[TRAIN_PER_CLASS:])
    return np.array(train), np.array(test)


def write_run(folder: Path, files: list[str], method: str, seed: int, shift: int = 0) -> None:
    """A finished run: seeded embeddings around one centre per class, every final file."""
    rng = np.random.default_rng(zlib.crc32(f"{method} {seed} {shift}".encode()))
    labels = np.repeat(np.arange(len(CLASSES)), PER_CLASS)
    centres = rng.normal(size=(len(CLASSES), DIM))
    embedded = centres[labels] + 0.9 * rng.normal(size=(len(labels), DIM))
    train, test = split_indices(shift)
    folder.mkdir(parents=True)
    arrays = {
        "train": embedded[train],
        "val": embedded[test[:1]],
        "test": embedded[test],
        "train_index": train,
        "val_index": test[:1],
        "test_index": test,
        "train_labels": labels[train],
        "train_clean": labels[train],
        "labelled_index": np.arange(len(train)),
        "val_labels": labels[test[:1]],
        "test_labels": labels[test],
    }
    np.savez(folder / rundir.EMBEDDINGS, **arrays)
    (folder / rundir.CONFIG).write_text(json.dumps({"method": method, "seed": seed}))
    (folder / rundir.SPLIT).write_text(json.dumps({"files": files}))
    (folder / rundir.BEST).write_bytes(b"")
    metrics = {"classes": CLASSES, "test": {"map@20": 0.5}, "noise": None, "history": []}
    (folder / rundir.METRICS).write_text(json.dumps(metrics))


@pytest.fixture(scope="module")
def study(tmp_path_factory) -> Path:
    """A study folder of the CELLS, over 24 small solid-colour images."""
    base = tmp_path_factory.mktemp("explore")
    files = []
    for index in range(len(CLASSES) * PER_CLASS):
        path = base / "images" / f"{index:02d}.png"
        path.parent.mkdir(exist_ok=True)
        Image.new("RGB", (8, 8), (10 * index, 80, 200 - 5 * index)).save(path)
        files.append(str(path))
    folder = base / "runs" / "quick"
    for method, setting, seed in CELLS:
        cell = folder / "cells" / method / setting / f"seed{seed}"
        write_run(cell, files, method, seed)
        record = {"parameters": {"method": method, "setting": setting, "seed": seed}}
        (cell / rundir.CELL_RECORD).write_text(json.dumps({**record, "status": "done"}))
    # a lone `rsdml train` folder, whose test images differ from the study's
    write_run(base / "lone_run", files, "nsl", 3, shift=3)
    return folder


def brute_force(run, query: int, k: int) -> tuple[np.ndarray, np.ndarray, float]:
    """Dataset indices and distances of the k nearest training images, and the query's AP."""
    arrays = run.embeddings
    row = int(np.flatnonzero(arrays["test_index"] == query)[0])
    normalise = lambda x: x / np.linalg.norm(x, axis=1, keepdims=True)  # noqa: E731
    queries, database = normalise(arrays["test"]), normalise(arrays["train"])
    distances = np.linalg.norm(database - queries[row], axis=1)
    order = np.argsort(distances, kind="stable")
    relevant = arrays["train_clean"][order] == arrays["test_labels"][row]
    ranks = np.flatnonzero(relevant) + 1
    ap = float(np.mean(np.arange(1, len(ranks) + 1) / ranks))
    return arrays["train_index"][order[:k]], distances[order[:k]], ap


def test_runs_of_a_study_a_cell_and_a_lone_run(study):
    runs = explorable_runs(study)
    # the registry's method order (nsl before arcface), then settings and seeds
    assert [(r.method, r.setting, r.seed) for r in runs] == [CELLS[1], CELLS[2], CELLS[3], CELLS[0]]
    cell = explorable_runs(study / "cells" / "arcface" / "clean" / "seed0")
    assert [(r.method, r.setting, r.seed) for r in cell] == [CELLS[0]]
    lone = explorable_runs(study.parent.parent / "lone_run")
    assert [(r.method, r.setting, r.seed) for r in lone] == [("nsl", "lone_run", 3)]


def test_a_folder_without_finished_runs_is_refused(tmp_path):
    with pytest.raises(EmptyStudyError, match="holds no finished run"):
        explorable_runs(tmp_path)


def test_methods_settings_and_seeds(study):
    runs = explorable_runs(study)
    assert list_methods(runs) == ["nsl", "arcface"]
    assert list_settings(runs, "nsl") == ["clean", "uniform-0.4"]
    assert list_settings(runs, "arcface") == ["clean"]
    assert list_seeds(runs, "nsl", "clean") == [0, 1]
    assert (pick_run(runs, "nsl").setting, pick_run(runs, "nsl").seed) == ("clean", 0)
    assert pick_run(runs, "nsl", "clean", 1).seed == 1
    with pytest.raises(NoSuchRun, match="arcface/clean/seed0"):
        pick_run(runs, "arcface", "uniform-0.4")


@pytest.mark.parametrize("k", [1, 4, 15])
def test_top_k_of_every_query_matches_a_brute_force_search(study, k):
    for run in explorable_runs(study):
        for query in run.embeddings["test_index"]:
            found = retrieve(run, int(query), k)
            indices, distances, ap = brute_force(run, int(query), k)
            np.testing.assert_array_equal(found.indices, indices)
            np.testing.assert_allclose(found.distances, distances, atol=1e-5)
            classes = found.labels
            np.testing.assert_array_equal(classes, np.array(indices) // PER_CLASS)
            np.testing.assert_array_equal(found.correct, classes == query // PER_CLASS)
            assert found.query_label == query // PER_CLASS
            assert found.average_precision == pytest.approx(ap)


def test_queries_of_a_class_and_a_query_outside_the_test_split(study):
    run = explorable_runs(study)[0]
    _, test = split_indices()
    np.testing.assert_array_equal(class_queries(run, 1), test[test // PER_CLASS == 1])
    with pytest.raises(QueryNotInRun, match="not a test image"):
        retrieve(run, int(split_indices()[0][0]), 3)  # a training image
    assert query_classes(run) == CLASSES
    with pytest.raises(QueryNotInRun, match="golf_course"):
        Explorer([run], query_class="desert")


def shown(panel) -> dict:
    """What a panel displays: the gallery figure's query caption, result titles and captions,
    its title line, and the HTML table's text."""
    axes = panel.figure.axes
    return {
        "query": axes[0].get_title(),
        "ranks": [ax.get_title() for ax in axes[1:]],
        "captions": [ax.get_xlabel() for ax in axes[1:]],
        "title": panel.figure._suptitle.get_text(),
        "table": panel.table.value,
        "png": bytes(panel.image.value),
    }


def test_the_default_query_is_the_first_test_image_in_the_first_two_methods(study):
    runs = explorable_runs(study)
    explorer = Explorer(runs, k=4)
    first_test = int(runs[0].embeddings["test_index"][0])
    assert explorer.query == first_test
    a, b = (shown(panel) for panel in explorer.panels)
    assert a["title"].startswith("nsl, clean, seed 0") and b["title"].startswith("arcface, clean")
    indices, distances, _ = brute_force(runs[0], first_test, 4)
    assert a["query"].replace("\n", " ") == f"query: forest (image {first_test})"
    assert a["ranks"] == [
        f"{rank} {'✓' if index // PER_CLASS == 0 else '✗'}"
        for rank, index in enumerate(indices, start=1)
    ]
    for caption, index, distance in zip(a["captions"], indices, distances, strict=True):
        assert caption.split() == [*CLASSES[index // PER_CLASS].split("_"), f"d={distance:.3f}"]
    assert f"{distances[0]:.4f}" in a["table"] and f"{index:02d}.png" in a["table"]
    assert a["png"].startswith(b"\x89PNG")


def test_changing_the_query_redraws_both_panels(study):
    runs = explorable_runs(study)
    explorer = Explorer(runs, k=3)
    _, test = split_indices()
    water = test[test // PER_CLASS == 1]
    explorer.query_class.value = "water"
    assert explorer.query == water[0] and explorer.query_position.max == len(water) - 1
    explorer.query_position.value = 2
    for panel in explorer.panels:
        assert panel.retrieved.query == water[2]
        expected, _, _ = brute_force(panel.run, int(water[2]), 3)
        np.testing.assert_array_equal(panel.retrieved.indices, expected)
        assert shown(panel)["query"].replace("\n", " ") == f"query: water (image {water[2]})"
    explorer.k.value = 7
    assert [len(shown(panel)["ranks"]) for panel in explorer.panels] == [7, 7]
    # a new class starts again at its first test image
    explorer.query_class.value = "golf_course"
    assert explorer.query == test[test // PER_CLASS == 2][0]


def test_changing_a_panels_method_setting_or_seed_shows_that_run(study):
    runs = explorable_runs(study)
    explorer = Explorer(runs, k=3)
    a, b = explorer.panels
    query = explorer.query
    b.method.value = "nsl"
    assert (b.run.method, b.run.setting, b.run.seed) == ("nsl", "clean", 0)
    assert list(b.setting.options) == ["clean", "uniform-0.4"]
    assert list(b.seed.options) == [0, 1]
    b.seed.value = 1
    assert shown(b)["title"].startswith("nsl, clean, seed 1")
    b.setting.value = "uniform-0.4"
    assert (b.run.setting, b.run.seed, list(b.seed.options)) == ("uniform-0.4", 0, [0])
    expected, _, _ = brute_force(pick_run(runs, "nsl", "uniform-0.4", 0), query, 3)
    np.testing.assert_array_equal(b.retrieved.indices, expected)
    # arcface has no uniform-0.4 run: its own setting is taken
    a.method.value = "arcface"
    assert (a.run.method, a.run.setting) == ("arcface", "clean")
    assert shown(a)["title"].startswith("arcface, clean, seed 0")
    assert b.retrieved.query == a.retrieved.query == query


def test_a_run_without_the_query_says_so(study):
    runs = explorable_runs(study) + explorable_runs(study.parent.parent / "lone_run")
    explorer = Explorer(runs, first=("nsl", "clean", 0), second=("nsl", "lone_run", 3), k=3)
    lone = explorer.panels[1]
    assert lone.retrieved is None and bytes(lone.image.value) == b""
    assert "is not a test image" in lone.table.value
    assert len(explorer.figures()) == 1


def test_cli_prints_how_to_open_it_or_opens_jupyterlab(study, capsys, monkeypatch):
    assert main(["explore", str(study)]) == 0
    captured = capsys.readouterr()
    printed = json.loads(captured.out.strip().splitlines()[-1])
    assert printed["runs"] == len(CELLS)
    assert f"{EXPLORE_ENV}={study} jupyter lab notebooks/explore.py" in printed["lab"]
    assert printed["static"].endswith(f"-p study_dir {study}")
    assert "--open" in captured.err

    started = []
    monkeypatch.setattr(
        explore.subprocess,
        "run",
        lambda command, cwd, env: started.append((command, cwd, env)) or _Done(),
    )
    monkeypatch.setattr(explore, "lab_installed", lambda: True)
    assert main(["explore", str(study), "--open"]) == 0
    ((command, cwd, env),) = started
    assert command[1:4] == ["-m", "jupyterlab", "notebooks/explore.py"]
    assert Path(cwd) / command[3] == explore.NOTEBOOK
    assert env[EXPLORE_ENV] == str(study)

    monkeypatch.setattr(explore, "lab_installed", lambda: False)
    assert main(["explore", str(study), "--open"]) == 2
    assert "JupyterLab is not installed" in capsys.readouterr().err
    assert main(["explore", str(study / "cells")]) == 2


class _Done:
    returncode = 0


def test_notebook_runs_headless_with_its_defaults(study, tmp_path, monkeypatch):
    # the defaults find runs/quick under $RSDML_RUNS, as the report notebooks do
    monkeypatch.setenv(RUNS_ENV, str(study.parent))
    monkeypatch.delenv(EXPLORE_ENV, raising=False)
    converted = notebook_path("explore", tmp_path)
    with WarmKernel() as kernel:
        output = tmp_path / "explore.ipynb"
        kernel.execute(converted, output, {"figures_dir": str(tmp_path / "figures")})
        empty = tmp_path / "empty"
        empty.mkdir()
        with pytest.raises(PapermillExecutionError, match="EmptyStudyError"):
            kernel.execute(converted, tmp_path / "empty.ipynb", {"study_dir": str(empty)})
    cells = [cell for cell in nbformat.read(output, as_version=4).cells if cell.cell_type == "code"]
    outputs = [out for cell in cells for out in cell.outputs]
    widgets = [
        out for out in outputs if "application/vnd.jupyter.widget-view+json" in out.get("data", {})
    ]
    images = [out for out in outputs if "image/png" in out.get("data", {})]
    stderr = [out for out in outputs if out.get("name") == "stderr"]
    assert len(widgets) == 1 and len(images) == 2 and not stderr
    assert sorted(path.name for path in (tmp_path / "figures").iterdir()) == [
        "explore_a.png",
        "explore_b.png",
    ]


def test_the_notebook_names_the_rsdml_kernel_and_saves_unchanged():
    notebook = jupytext.read(explore.NOTEBOOK)
    assert notebook.metadata["kernelspec"]["name"] == "rsdml"
    # what JupyterLab adds once the kernel runs, which jupytext's save leaves out
    notebook.metadata["language_info"] = {"name": "python", "version": "3.x"}
    assert jupytext.writes(notebook, "py:percent") == explore.NOTEBOOK.read_text()
