"""The notebooks as a user meets them: run from another working folder with their defaults, they
find the repository's study (here a tiny one, through $RSDML_RUNS), show each figure once, print
nothing on stderr, name the rsdml kernel, and a report over an empty study stops with an error.

One tiny study (4 cells of 4 epochs on 80 small synthetic scenes) and one warm kernel serve every
execution, so the module costs tens of seconds.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path

import jupytext
import nbformat
import pytest
import yaml
from papermill.exceptions import PapermillExecutionError

from rsdml.execution import (
    NOTEBOOKS_DIR,
    REPOSITORY,
    RUNS_ENV,
    WarmKernel,
    notebook_path,
    runs_dir,
)
from rsdml.runtime import PROGRESS_ENV
from rsdml.study import run_study

NOTEBOOKS = (
    "train", "data_overview", "embeddings", "noisy_embeddings", "rank_analysis", "results"
)  # fmt: skip
REPORTS = ("results", "embeddings", "noisy_embeddings", "rank_analysis", "data_overview")
TINY_DATA = {
    "dataset": "synthetic",
    "dataset_options": {"num_classes": 4, "images_per_class": 20, "image_size": 48},
    "image_size": 64,
    "epochs": 4,
    "batch_size": 32,
}
# Named like the quick study's settings, so that the report notebooks' defaults apply as they are.
TINY_QUICK_STUDY = {
    "name": "quick",
    "notebook": "train",
    "shared": TINY_DATA,
    "methods": ["nsl", "arcface", "hr_s2dml"],
    "seeds": [0],
    "settings": {
        "clean": {},
        "uniform-0.4": {"noise": "uniform", "noise_rate": 0.4},
        "labelled-0.2": {"label_fraction": 0.2},
    },
    "only": {
        "clean": ["nsl"],
        "uniform-0.4": ["nsl"],
        "labelled-0.2": ["arcface", "hr_s2dml"],
    },
    "report": [],
}
# The only departures from the defaults, for time: the tiny data in place of the synthetic
# default, and t-SNE alone (UMAP's first fit costs ~20 s of JIT compilation).
PARAMETERS = {
    "train": {"config": {"method": "nsl", "seed": 0, **TINY_DATA}},
    "embeddings": {"projections": ["tsne"]},
    "noisy_embeddings": {"projections": ["tsne"]},
}


@pytest.fixture(scope="module")
def executed(tmp_path_factory):
    """Every notebook executed from a folder outside the runs, with $RSDML_RUNS set."""
    base = tmp_path_factory.mktemp("notebooks")
    runs = base / "runs"
    patch = pytest.MonkeyPatch()
    # the kernels inherit the environment: a private cache, and the runs where the defaults look
    patch.setenv("RSDML_CACHE", str(base / "cache"))
    patch.setenv(RUNS_ENV, str(runs))
    spec = base / "quick.yaml"
    spec.write_text(yaml.safe_dump(TINY_QUICK_STUDY))
    summary = run_study(spec, out=runs / "quick", workers=1, report=False)
    assert summary["failed"] == [], summary["errors"]
    # the study runner turns progress bars off for its kernels; a user's notebook has them on
    patch.setenv(PROGRESS_ENV, "1")
    # two levels down: the old relative defaults (../runs) would point at base/elsewhere/runs
    elsewhere = base / "elsewhere" / "work"
    elsewhere.mkdir(parents=True)
    (base / "empty_out").mkdir()
    converted = base / "converted"
    outputs = {}
    with WarmKernel() as kernel:
        for name in NOTEBOOKS:
            output = elsewhere / f"{name}.ipynb"
            kernel.execute(notebook_path(name, converted), output, PARAMETERS.get(name, {}))
            outputs[name] = nbformat.read(output, as_version=4)
        empty = base / "empty_study"
        empty.mkdir()
        errors = {}
        for name in REPORTS:
            output = base / "empty_out" / f"{name}.ipynb"
            try:
                # figures of their own: data_overview draws the default dataset's examples
                # without a study, which must not replace the study's shown above
                parameters = {"study_dir": str(empty), "figures_dir": str(base / "empty_figures")}
                kernel.execute(notebook_path(name, converted), output, parameters)
            except PapermillExecutionError as error:
                errors[name] = error
    yield {
        "runs": runs,
        "elsewhere": elsewhere,
        "outputs": outputs,
        "empty": empty,
        "errors": errors,
    }
    patch.undo()


def code_cells(notebook):
    return [cell for cell in notebook.cells if cell.cell_type == "code"]


def test_notebooks_run_from_anywhere_on_the_repositorys_runs(executed):
    runs, figures = executed["runs"], executed["runs"] / "quick" / "figures"
    # train's default out_dir is runs/notebook/train, not a folder beside the working folder
    metrics = json.loads((runs / "notebook" / "train" / "metrics.json").read_text())
    assert metrics["config"]["epochs"] == TINY_DATA["epochs"]
    for name in (
        "results.csv",  # results
        "learning_curves.png",
        "embedding_nsl_clean.png",  # embeddings
        "embedding_nsl_uniform-0.4.png",  # noisy_embeddings
        "rank_analysis.csv",  # rank_analysis
        "class_examples.png",  # data_overview
        "transition_uniform-0.4.png",
    ):
        assert (figures / name).stat().st_size > 0, name
    # nothing where the relative defaults used to point
    assert not (executed["elsewhere"].parent / "runs").exists()
    assert {path.name for path in executed["elsewhere"].iterdir()} == {
        f"{name}.ipynb" for name in NOTEBOOKS
    }


def test_each_figure_is_displayed_once(executed):
    shown = dict.fromkeys(NOTEBOOKS, 0)
    report_pngs = set()
    for name, notebook in executed["outputs"].items():
        for index, cell in enumerate(code_cells(notebook)):
            images = [out for out in cell.outputs if "image/png" in out.get("data", {})]
            shown[name] += len(images)
            if name in REPORTS:
                report_pngs.update(base64.b64decode(out.data["image/png"]) for out in images)
            # the inline backend shows every figure a cell made; the figure as the cell's value
            # would show it a second time
            assert not [out for out in images if out.output_type == "execute_result"], (name, index)
            pngs = [base64.b64decode(out.data["image/png"]) for out in images]
            assert len(set(pngs)) == len(pngs), (name, index)
            # nor does a cell end on the paths that save_figure returns
            values = [out.data.get("text/plain", "") for out in cell.outputs if "data" in out]
            assert not [value for value in values if "Path(" in value], (name, index)
    # every figure is saved under its own name: as many shown as saved, none lost, none doubled
    saved = list((executed["runs"] / "quick" / "figures").glob("*.png"))
    assert sum(shown[name] for name in REPORTS) == len(saved) >= 10
    assert shown["train"] == 1
    # what is shown is the PNG saved (save_and_show), not a second drawing of the figure
    assert report_pngs == {path.read_bytes() for path in saved}


def test_no_warning_or_other_stderr_output(executed):
    for name, notebook in executed["outputs"].items():
        for cell in code_cells(notebook):
            stderr = [
                out.text
                for out in cell.outputs
                if out.output_type == "stream" and out.name == "stderr"
            ]
            assert not stderr, (name, cell.source[:60], stderr)


def test_notebooks_name_the_rsdml_kernel_and_save_unchanged():
    makefile = (REPOSITORY / "Makefile").read_text()
    # the kernelspec that `make venv` installs, which JupyterLab writes back on open if it differs
    assert '--name rsdml --display-name "Python (rsdml)"' in makefile
    for path in sorted(NOTEBOOKS_DIR.glob("*.py")):  # every notebook, not only those run here
        name = path.stem
        notebook = jupytext.read(path)
        assert notebook.metadata["kernelspec"] == {
            "name": "rsdml",
            "display_name": "Python (rsdml)",
            "language": "python",
        }, name
        # JupyterLab adds the kernel's language_info once the kernel starts; jupytext's save
        # leaves it out, so saving an unedited notebook writes the file as committed
        notebook.metadata["language_info"] = {"name": "python", "version": "3.x"}
        assert jupytext.writes(notebook, "py:percent") == path.read_text(), name


def test_train_defaults_match_the_quick_study():
    quick = yaml.safe_load((REPOSITORY / "rsdml" / "studies" / "quick.yaml").read_text())
    notebook = jupytext.read(NOTEBOOKS_DIR / "train.py")
    parameters = next(c for c in notebook.cells if "parameters" in c.metadata.get("tags", []))
    namespace: dict = {}
    exec(parameters.source, namespace)
    assert namespace["config"]["epochs"] == quick["shared"]["epochs"]
    assert namespace["out_dir"] == runs_dir("notebook", "train")


def test_a_report_over_an_empty_study_raises_naming_the_folder_and_the_fix(executed):
    assert set(executed["errors"]) == set(REPORTS) - {"data_overview"}
    for error in executed["errors"].values():
        message = str(error)
        assert "EmptyStudyError" in message and str(executed["empty"]) in message
        assert "make study" in message


def test_jupyterlab_opens_the_notebooks_as_notebooks():
    settings_utils = pytest.importorskip("jupyterlab_server.settings_utils")
    import sys

    overrides = json.loads((REPOSITORY / "jupyter" / "overrides.json").read_text())
    lab = Path(sys.prefix) / "share" / "jupyter" / "lab"
    if not (lab / "schemas").is_dir():
        pytest.skip("JupyterLab is not installed in this environment")
    settings, _ = settings_utils.get_settings(
        str(lab / "settings"),
        str(lab / "schemas"),
        str(lab / "no-user-settings"),
        schema_name="@jupyterlab/docmanager-extension:plugin",
        overrides=overrides,
    )
    # the override reaches the document manager's schema (plugin id and key spelled right)
    viewers = settings["schema"]["properties"]["defaultViewers"]["default"]
    assert viewers["python"] == "Jupytext Notebook"
