"""The run-folder contract (rsdml.rundir) and the report reading runs by it."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from rsdml import rundir
from rsdml.errors import UserError
from rsdml.report import find_runs


def make_cell(
    study: Path,
    method: str,
    setting: str = "clean",
    seed: int = 0,
    *,
    status: str = "done",
    skip: tuple[str, ...] = (),
) -> Path:
    """A study cell folder as the runner and the engine leave it, minus the files in ``skip``."""
    folder = study / "cells" / method / setting / f"seed{seed}-0123456789"
    folder.mkdir(parents=True)
    record = {"label": method, "parameters": {"method": method, "setting": setting, "seed": seed}}
    files = {
        rundir.CELL_RECORD: json.dumps({**record, "status": status}),
        rundir.BEST: "weights",
        rundir.EMBEDDINGS: "arrays",
        rundir.METRICS: json.dumps({"test": {"knn@10": 0.5}}),
    }
    for name, content in files.items():
        if name not in skip:
            (folder / name).write_text(content)
    return folder


def test_read_json_names_the_damaged_file(tmp_path):
    path = tmp_path / "metrics.json"
    path.write_text('{"test": ')
    with pytest.raises(rundir.CorruptRunFile, match=str(path)) as raised:
        rundir.read_json(path)
    assert isinstance(raised.value, UserError) and "delete it" in str(raised.value)


def test_a_run_is_complete_only_with_every_final_file(tmp_path):
    folder = make_cell(tmp_path, "nsl")
    assert rundir.is_complete(folder) and rundir.is_cell_done(folder)
    for seed, name in enumerate(rundir.FINAL_WRITE_ORDER[:-1], start=1):
        other = make_cell(tmp_path, "nsl", seed=seed, skip=(name,))
        assert not rundir.is_complete(other), name
    damaged = make_cell(tmp_path, "arcface")
    (damaged / rundir.METRICS).write_text("{")
    assert not rundir.is_complete(damaged)
    assert rundir.FINAL_WRITE_ORDER[-1] == rundir.METRICS


def test_stale_temporaries_are_removed_and_young_ones_spared_on_request(tmp_path):
    old, young = tmp_path / ".last.pt.a1.tmp", tmp_path / ".history.json.b2.tmp"
    for path in (old, young):
        path.write_bytes(b"partial")
    an_hour_ago = time.time() - 3600
    os.utime(old, (an_hour_ago, an_hour_ago))
    assert rundir.remove_stale_temporaries(tmp_path, older_than=60) == [old]
    assert young.exists()
    assert rundir.remove_stale_temporaries(tmp_path) == [young]


def test_the_report_reads_only_done_and_complete_cells(tmp_path):
    make_cell(tmp_path, "nsl")
    make_cell(tmp_path, "nsl", seed=1, skip=(rundir.EMBEDDINGS,))  # killed between final writes
    make_cell(tmp_path, "arcface", status="failed")
    damaged = make_cell(tmp_path, "triplet")
    (damaged / rundir.METRICS).write_text("")
    broken_record = make_cell(tmp_path, "srl")
    (broken_record / rundir.CELL_RECORD).write_text('{"status": "do')
    runs = find_runs(tmp_path)
    assert [(run.method, run.setting, run.seed) for run in runs] == [("nsl", "clean", 0)]
    assert runs[0].metrics["test"]["knn@10"] == 0.5


def test_a_damaged_metrics_file_of_a_run_is_named(tmp_path):
    (run,) = find_runs(make_cell(tmp_path, "nsl").parents[3])
    (run.folder / rundir.METRICS).write_text("{")
    with pytest.raises(rundir.CorruptRunFile, match="metrics.json"):
        _ = run.metrics
