"""Notebook execution in a warm kernel: each notebook starts from an empty namespace in its own
folder, an error in a notebook keeps the kernel, a dead kernel is replaced."""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
import pytest
from papermill.exceptions import PapermillExecutionError

from rsdml.errors import UserError
from rsdml.execution import (
    NOTEBOOKS_DIR,
    REPOSITORY,
    RUNS_ENV,
    EmptyStudyError,
    UnknownNotebookParameter,
    WarmKernel,
    execute_notebook,
    parameter_names,
    require_finished_runs,
    runs_dir,
)


def write_notebook(path, *sources):
    cells = [nbformat.v4.new_code_cell("value = None")]
    cells[0].metadata["tags"] = ["parameters"]
    cells += [nbformat.v4.new_code_cell(source) for source in sources]
    notebook = nbformat.v4.new_notebook(cells=cells)
    notebook.metadata["kernelspec"] = {"name": "python3", "language": "python"}
    nbformat.write(notebook, path)
    return path


RECORD = """
import json, os, sys
json.dump(
    {"pid": os.getpid(), "cwd": os.getcwd(), "leftover": "left_behind" in globals(),
     "value": value, "torch_loaded": "torch" in sys.modules},
    open("record.json", "w"),
)
left_behind = 1
import torch
"""


def records(folder):
    return json.loads((folder / "record.json").read_text())


@pytest.fixture
def record_notebook(tmp_path):
    return write_notebook(tmp_path / "record.ipynb", RECORD)


def test_warm_kernel_resets_the_namespace_and_moves_to_each_folder(tmp_path, record_notebook):
    first, second = tmp_path / "first", tmp_path / "second"
    with WarmKernel() as kernel:
        execute_notebook(record_notebook, first / "out.ipynb", {"value": 1}, 1, kernel=kernel)
        execute_notebook(record_notebook, second / "out.ipynb", {"value": 2}, 1, kernel=kernel)
        assert kernel.starts == 1 and kernel.executions == 2
    one, two = records(first), records(second)
    assert one["pid"] == two["pid"]  # the same kernel process ...
    assert not two["leftover"]  # ... with an empty namespace
    assert two["torch_loaded"] and not one["torch_loaded"]  # imports are what it keeps
    assert (one["cwd"], two["cwd"]) == (str(first), str(second))
    assert (one["value"], two["value"]) == (1, 2)
    executed = nbformat.read(second / "out.ipynb", as_version=4)
    counts = [cell.execution_count for cell in executed.cells if cell.cell_type == "code"]
    assert counts == list(range(1, len(counts) + 1))


def test_an_error_in_a_notebook_keeps_the_kernel(tmp_path, record_notebook):
    failing = write_notebook(tmp_path / "fail.ipynb", "raise ValueError('bad parameter')")
    with WarmKernel() as kernel:
        with pytest.raises(PapermillExecutionError, match="bad parameter"):
            execute_notebook(failing, tmp_path / "a" / "out.ipynb", {}, 1, kernel=kernel)
        execute_notebook(record_notebook, tmp_path / "b" / "out.ipynb", {}, 1, kernel=kernel)
        assert kernel.starts == 1
    assert not records(tmp_path / "b")["leftover"]


def test_a_dead_kernel_is_replaced_for_the_next_notebook(tmp_path, record_notebook):
    dying = write_notebook(tmp_path / "die.ipynb", "import os\nos._exit(1)")
    with WarmKernel() as kernel:
        execute_notebook(record_notebook, tmp_path / "a" / "out.ipynb", {}, 1, kernel=kernel)
        with pytest.raises(Exception):  # noqa: B017 (nbclient's DeadKernelError or a timeout)
            execute_notebook(dying, tmp_path / "b" / "out.ipynb", {}, 1, kernel=kernel)
        execute_notebook(record_notebook, tmp_path / "c" / "out.ipynb", {}, 1, kernel=kernel)
        assert kernel.starts == 2
    assert records(tmp_path / "a")["pid"] != records(tmp_path / "c")["pid"]


@pytest.mark.parametrize("save_each_cell", [True, False])
def test_the_output_is_written_at_the_end_or_around_every_cell(
    tmp_path, record_notebook, monkeypatch, save_each_cell
):
    import papermill.engines
    import papermill.execute

    written = []
    for module in (papermill.engines, papermill.execute):
        write = module.write_ipynb
        monkeypatch.setattr(
            module,
            "write_ipynb",
            lambda nb, path, write=write: written.append(path) or write(nb, path),
        )
    output = tmp_path / "a" / "out.ipynb"
    with WarmKernel() as kernel:
        execute_notebook(
            record_notebook, output, {"value": 3}, 1, kernel=kernel, save_each_cell=save_each_cell
        )
    assert records(tmp_path / "a")["value"] == 3
    executed = nbformat.read(output, as_version=4)
    assert all(cell.execution_count for cell in executed.cells if cell.cell_type == "code")
    assert set(written) == {str(output)}
    assert (len(written) > 1) is save_each_cell


def test_fresh_kernel_per_notebook_without_a_warm_one(tmp_path, record_notebook):
    execute_notebook(record_notebook, tmp_path / "a" / "out.ipynb", {}, 1)
    execute_notebook(record_notebook, tmp_path / "b" / "out.ipynb", {}, 1)
    assert records(tmp_path / "a")["pid"] != records(tmp_path / "b")["pid"]
    assert records(tmp_path / "b")["cwd"] == str(tmp_path / "b")


def test_relative_output_folders_are_taken_from_the_callers_directory(
    tmp_path, record_notebook, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    with WarmKernel() as kernel:
        for name in ("a", "b"):
            execute_notebook(record_notebook, Path(name) / "out.ipynb", {}, 1, kernel=kernel)
    assert records(tmp_path / "b")["cwd"] == str(tmp_path / "b")


def test_an_unknown_parameter_is_refused_before_any_kernel_starts(tmp_path, record_notebook):
    # papermill would only log "Passed unknown parameter" and run with the notebook's default
    output = tmp_path / "a" / "out.ipynb"
    with pytest.raises(UnknownNotebookParameter, match=r"'valeu' \(did you mean 'value'\?\)"):
        execute_notebook(record_notebook, output, {"valeu": 1}, 1)
    assert not output.exists()
    assert issubclass(UnknownNotebookParameter, UserError)


def test_parameters_are_read_from_ipynb_and_percent_scripts(record_notebook):
    assert parameter_names(record_notebook) == ["value"]
    assert parameter_names(NOTEBOOKS_DIR / "train.py") == ["config", "setting", "out_dir"]
    assert "pr_settings" in parameter_names(NOTEBOOKS_DIR / "results.py")


def test_runs_dir_is_the_repositorys_whatever_the_working_folder(tmp_path, monkeypatch):
    monkeypatch.delenv(RUNS_ENV, raising=False)
    monkeypatch.chdir(tmp_path)
    assert runs_dir("quick", "figures") == str(REPOSITORY / "runs" / "quick" / "figures")
    assert (REPOSITORY / "notebooks" / "train.py").exists()  # the repository, not site-packages


def test_runs_dir_follows_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv(RUNS_ENV, str(tmp_path / "elsewhere"))
    assert runs_dir("quick") == str(tmp_path / "elsewhere" / "quick")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv(RUNS_ENV, "relative")  # taken from the working folder at the call
    assert runs_dir() == str(tmp_path / "relative")


def test_a_study_without_finished_runs_is_refused_with_the_fix(tmp_path):
    for folder in (tmp_path / "missing", tmp_path):
        with pytest.raises(EmptyStudyError, match="make study") as caught:
            require_finished_runs(folder)
        assert str(folder) in str(caught.value)
    assert issubclass(EmptyStudyError, UserError)
