"""`rsdml study --status`: each cell's state from the study folder alone, with the job and log
of every failed cell."""

from __future__ import annotations

import json
import os

import yaml

from rsdml.cli import main
from rsdml.rundir import FINAL_WRITE_ORDER
from rsdml.storage import atomic_write_json
from rsdml.study import CellLock, expand, load_study, study_status

STUDY = {
    "name": "four",
    "notebook": "train",
    "shared": {"dataset": "synthetic", "epochs": 1},
    "methods": ["nsl"],
    "seeds": [0, 1, 2, 3],
    "settings": {"clean": {}},
}


def four_cells(tmp_path):
    """A study folder whose four cells are done, failed, running and pending, in seed order."""
    spec = tmp_path / "four.yaml"
    spec.write_text(yaml.safe_dump(STUDY))
    study, out = load_study(spec), tmp_path / "out"
    atomic_write_json(out / "study.json", study.__dict__)
    done, failed, running, _ = expand(study, out)
    done.folder.mkdir(parents=True)
    for name in FINAL_WRITE_ORDER:
        (done.folder / name).write_text("{}")
    (done.folder / "cell.json").write_text(json.dumps({"status": "done"}))
    failed.folder.mkdir(parents=True)
    log = str(out / "logs" / "77_1_0_log.err")
    record = {"status": "failed", "error": "RuntimeError: boom", "job": "77_1", "log": log}
    (failed.folder / "cell.json").write_text(json.dumps(record))
    return spec, out, CellLock(running.folder)


def test_status_counts_every_state_and_names_the_failed_cells_job_and_log(tmp_path):
    _, out, lock = four_cells(tmp_path)
    with lock:
        status = study_status(out)
    assert [status[state] for state in ("done", "running", "pending", "failed")] == [1, 1, 1, 1]
    rows = {row["label"]: row for row in status["cells"]}
    failed = rows["nsl/clean/seed1"]
    assert (failed["status"], failed["job"], failed["error"]) == (
        "failed",
        "77_1",
        "RuntimeError: boom",
    )
    assert failed["log"] == str(out / "logs" / "77_1_0_log.err")
    assert rows["nsl/clean/seed2"]["status"] == "running"
    assert rows["nsl/clean/seed2"]["pid"] == os.getpid()
    assert rows["nsl/clean/seed3"]["status"] == "pending"
    # the lock released (or its process gone), the cell is no longer running
    assert study_status(out)["pending"] == 2


def test_the_status_command_prints_the_counts_and_each_failure(tmp_path, capsys):
    spec, out, _ = four_cells(tmp_path)
    assert main(["study", str(spec), "--out", str(out), "--status"]) == 0
    err = capsys.readouterr().err
    assert "1 done, 0 running, 2 pending, 1 failed" in err
    assert "FAILED nsl/clean/seed1 (job 77_1): RuntimeError: boom; log: " in err
    assert "77_1_0_log.err" in err


def test_status_of_a_folder_without_a_study_is_explained(tmp_path, capsys):
    spec = tmp_path / "four.yaml"
    spec.write_text(yaml.safe_dump(STUDY))
    assert main(["study", str(spec), "--out", str(tmp_path / "none"), "--status"]) == 2
    assert "is not a study folder (no study.json)" in capsys.readouterr().err
