"""The run folder keeps the contract of rsdml.rundir: validate first, write after; the final
files in order; damaged files named, with the fix."""

from __future__ import annotations

import json

import pytest

from rsdml import rundir
from rsdml.errors import UserError
from rsdml.train import RunFolder, RunFolderConflict, TrainConfig, TrainingDiverged, fit

TINY = {"num_classes": 4, "images_per_class": 12, "image_size": 48}


@pytest.fixture(autouse=True)
def private_cache(tmp_path_factory, monkeypatch):
    """One feature cache for the module, never the user's."""
    monkeypatch.setenv("RSDML_CACHE", str(tmp_path_factory.getbasetemp() / "cache"))


def tiny_config(method: str = "nsl", **overrides) -> TrainConfig:
    """Two short epochs on 4 synthetic classes."""
    values = {
        "method": method,
        "dataset": "synthetic",
        "dataset_options": TINY,
        "image_size": 64,
        "epochs": 2,
        "batch_size": 16,
        "progress": False,
    }
    values.update(overrides)
    return TrainConfig(**values)


def test_conflict_and_divergence_are_user_errors():
    assert issubclass(RunFolderConflict, UserError) and issubclass(RunFolderConflict, RuntimeError)
    assert issubclass(TrainingDiverged, UserError) and issubclass(TrainingDiverged, RuntimeError)


@pytest.mark.parametrize(
    "mistake",
    [
        {"method": "nslx"},
        {"loss_params": {"temprature": 0.1}},
        {"loss_params": {"temperature": -1.0}},
        {"dataset": "ucmerced", "dataset_options": {}, "root": "/nonexistent"},
        {"method": "triplet", "batch_size": 1},
    ],
)
def test_a_failed_setup_leaves_no_configuration_behind(tmp_path, mistake):
    out = tmp_path / "run"
    with pytest.raises(UserError):
        fit(tiny_config(**mistake), out=out)
    assert not (out / rundir.CONFIG).exists()
    # the corrected command is not refused as "a different configuration"
    metrics = fit(tiny_config(), out=out)
    assert rundir.is_complete(out)
    assert json.loads((out / rundir.CONFIG).read_text())["method"] == "nsl"
    assert metrics["config"]["method"] == "nsl"


def test_embeddings_are_written_before_the_completion_mark(tmp_path, monkeypatch):
    out = tmp_path / "run"
    import rsdml.train.checkpoint as checkpoint

    def killed(*args, **kwargs):
        raise KeyboardInterrupt

    with monkeypatch.context() as patch:
        patch.setattr(checkpoint, "atomic_save_npz", killed)
        with pytest.raises(KeyboardInterrupt):
            fit(tiny_config(), out=out)
    assert (out / rundir.BEST).exists()
    assert not (out / rundir.METRICS).exists()  # so the run is not taken as finished
    metrics = fit(tiny_config(), out=out)
    assert rundir.is_complete(out)
    assert metrics["test"] == json.loads((out / rundir.METRICS).read_text())["test"]


def test_a_run_finished_without_its_embeddings_is_finished_again(tmp_path):
    """What a kill between the final writes of an older version left: metrics, no embeddings."""
    out = tmp_path / "run"
    first = fit(tiny_config(), out=out)
    (out / rundir.EMBEDDINGS).unlink()
    again = fit(tiny_config(), out=out)
    assert (out / rundir.EMBEDDINGS).exists()
    assert again["test"] == first["test"]


@pytest.mark.parametrize("name", [rundir.METRICS, rundir.CONFIG])
def test_a_damaged_json_file_is_named(tmp_path, name):
    out = tmp_path / "run"
    fit(tiny_config(), out=out)
    (out / name).write_text('{"test": {"knn')
    with pytest.raises(rundir.CorruptRunFile, match=name) as raised:
        fit(tiny_config(), out=out)
    assert "delete" in str(raised.value)


@pytest.mark.parametrize("content", [b"", b"not a checkpoint at all", "truncated"])
def test_a_damaged_last_checkpoint_is_named_with_the_fix(tmp_path, monkeypatch, content):
    out = tmp_path / "run"
    fit(tiny_config(epochs=1), out=out)
    (out / rundir.METRICS).unlink()
    last = out / rundir.LAST
    if content == "truncated":
        content = last.read_bytes()[:200]
    last.write_bytes(content)
    with pytest.raises(rundir.CorruptRunFile, match="last.pt") as raised:
        fit(tiny_config(epochs=1), out=out)
    message = str(raised.value)
    assert "delete it" in message and str(out) in message
    assert isinstance(raised.value, UserError)
    # the advice works: without last.pt the same command trains from the start
    last.unlink()
    fit(tiny_config(epochs=1), out=out)
    assert rundir.is_complete(out)


def test_a_checkpoint_that_is_not_a_training_state_is_refused(tmp_path):
    import torch

    out = tmp_path / "run"
    out.mkdir()
    torch.save([1, 2, 3], out / rundir.LAST)
    with pytest.raises(rundir.CorruptRunFile, match="not an rsdml training checkpoint"):
        RunFolder(out, tiny_config().resolved()).load_last()


def test_opening_a_folder_removes_stale_temporaries(tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    stale = [out / ".last.pt.k1llq.tmp", out / ".metrics.json.x9.tmp"]
    for path in stale:
        path.write_bytes(b"half a write")
    keep = out / "notes.txt"
    keep.write_text("mine")
    RunFolder(out, tiny_config().resolved())
    assert not any(path.exists() for path in stale)
    assert keep.exists()
