"""The cell lock: one runner at a time, a dead runner's lock taken over, a locked cell left
alone by the runner."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from rsdml.study import CellLock, lock_holder, locks
from rsdml.study import runner as runner_module
from rsdml.study.grid import Cell

# Loads the lock module alone: importing rsdml.study would load torch, seconds per process.
HOLD = (
    "import importlib.util, sys, time\n"
    "spec = importlib.util.spec_from_file_location('locks', sys.argv[2])\n"
    "locks = importlib.util.module_from_spec(spec)\n"
    "spec.loader.exec_module(locks)\n"
    "assert locks.CellLock(sys.argv[1]).acquire()\n"
    "print('held', flush=True)\n"
    "time.sleep(120)\n"
)


def test_a_second_lock_on_a_cell_is_refused_until_the_first_is_released(tmp_path):
    first, second = CellLock(tmp_path), CellLock(tmp_path)
    assert first.acquire()
    assert not second.acquire()
    holder = lock_holder(tmp_path)
    assert holder["pid"] == os.getpid() and holder["host"]
    first.release()
    assert lock_holder(tmp_path) is None
    assert not (tmp_path / "running.lock").exists()
    with second as taken:
        assert taken


def test_a_lock_held_by_another_process_is_refused_and_taken_over_once_it_died(tmp_path):
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(tmp_path), locks.__file__],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        assert lock_holder(tmp_path)["pid"] == holder.pid
        assert not CellLock(tmp_path).acquire()
    finally:
        holder.kill()  # no release: its record stays behind, as after a killed job
        holder.wait()
    assert json.loads((tmp_path / "running.lock").read_text())["pid"] == holder.pid
    assert lock_holder(tmp_path) is None
    lock = CellLock(tmp_path)
    assert lock.acquire()
    assert json.loads((tmp_path / "running.lock").read_text())["pid"] == os.getpid()
    lock.release()


def test_the_job_id_is_recorded_in_the_lock(tmp_path, monkeypatch):
    monkeypatch.setenv("SLURM_ARRAY_JOB_ID", "812")
    monkeypatch.setenv("SLURM_ARRAY_TASK_ID", "3")
    with CellLock(tmp_path):
        assert lock_holder(tmp_path)["job"] == "812_3"


def test_the_runner_leaves_a_cell_that_another_process_runs_alone(tmp_path, monkeypatch):
    ran = []

    def execute(notebook, output, parameters, threads, kernel=None, save_each_cell=True):
        ran.append(parameters["out_dir"])
        (output.parent / "metrics.json").write_text("{}")

    monkeypatch.setattr(runner_module, "execute_notebook", execute)
    cell = Cell("nsl", "clean", 0, {"method": "nsl"}, tmp_path / "cell")
    with CellLock(cell.folder):
        record = runner_module.run_locked_cell(tmp_path / "train.ipynb", cell, threads=1)
    assert record["status"] == "running" and f"pid {os.getpid()}" in record["error"]
    assert ran == [] and not (cell.folder / "cell.json").exists()
    record = runner_module.run_locked_cell(tmp_path / "train.ipynb", cell, threads=1)
    assert record["status"] == "done" and len(ran) == 1
    assert lock_holder(cell.folder) is None
