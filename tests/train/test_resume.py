"""A run killed after an epoch and resumed with the same command ends exactly like an
uninterrupted one, for one method of each family of engine hooks."""

from __future__ import annotations

import json

import pytest

from rsdml import rundir
from rsdml.train import RunFolder, TrainConfig, Trainer, checkpoint, fit

TINY = {"num_classes": 4, "images_per_class": 16, "image_size": 48}
EPOCHS = 4


class Killed(BaseException):
    """Stands for the process being killed (not an Exception, so nothing may swallow it)."""


@pytest.fixture(autouse=True)
def private_cache(tmp_path_factory, monkeypatch):
    """One feature cache for the module, never the user's."""
    monkeypatch.setenv("RSDML_CACHE", str(tmp_path_factory.getbasetemp() / "cache"))


@pytest.fixture(autouse=True)
def checkpoint_every_epoch(monkeypatch):
    """A checkpoint after every epoch (these runs are far shorter than the default interval),
    so that a run can be killed right after the checkpoint of any epoch."""
    monkeypatch.setattr(checkpoint, "CHECKPOINT_SECONDS", 0.0)


def tiny_config(method: str, **overrides) -> TrainConfig:
    """Four short epochs on 4 synthetic classes (batch 16: several steps per epoch)."""
    values = {
        "method": method,
        "dataset": "synthetic",
        "dataset_options": TINY,
        "image_size": 64,
        "epochs": EPOCHS,
        "batch_size": 16,
        "progress": False,
    }
    values.update(overrides)
    return TrainConfig(**values)


def without_timing(history: list[dict]) -> list[dict]:
    """Per-epoch records minus the wall-clock seconds, which legitimately differ."""
    return [{k: v for k, v in record.items() if k != "seconds"} for record in history]


# One method per family of hooks: proxy, pair-based (balanced sampler), memory bank, momentum
# encoder, unlabelled stream, pruning.
CASES = {
    "nsl": {},
    "triplet": {},
    "snca_mb": {},
    "snca_ce_mu": {},
    # a labelled part and an unlabelled pool of different sizes, so that the unlabelled
    # stream runs across epoch boundaries (a pass over it does not end with an epoch)
    "hr_s2dml": {"label_fraction": 0.25},
    "trnsl": {"noise": "uniform", "noise_rate": 0.3},
}


@pytest.mark.parametrize("killed_after", [2])
@pytest.mark.parametrize("method", list(CASES))
def test_a_killed_run_resumes_to_the_uninterrupted_result(
    tmp_path, monkeypatch, method, killed_after
):
    config = tiny_config(method, **CASES[method])
    reference = fit(config, out=tmp_path / "reference")

    original = RunFolder.save_last

    def save_then_die(self, state):
        original(self, state)
        if state["epoch"] + 1 == killed_after:
            raise Killed

    monkeypatch.setattr(RunFolder, "save_last", save_then_die)
    out = tmp_path / "killed"
    with pytest.raises(Killed):
        fit(config, out=out)
    assert not (out / rundir.METRICS).exists()
    monkeypatch.setattr(RunFolder, "save_last", original)

    resumed = fit(config, out=out)
    assert resumed["test"] == reference["test"]
    assert resumed["val"] == reference["val"]
    assert resumed["best_epoch"] == reference["best_epoch"]
    assert without_timing(resumed["history"]) == without_timing(reference["history"])
    stored = json.loads((out / rundir.HISTORY).read_text())
    assert [r["loss"] for r in stored] == [r["loss"] for r in reference["history"]]


def test_a_run_killed_before_its_first_checkpoint_starts_over_to_the_same_result(
    tmp_path, monkeypatch
):
    """With the default interval a short run is checkpointed once, after its last epoch: killed
    before that, it trains again from the start, and ends as an uninterrupted run."""
    monkeypatch.setattr(checkpoint, "CHECKPOINT_SECONDS", 3600.0)
    config = tiny_config("snca_mb")
    reference = fit(config, out=tmp_path / "reference")
    saved_after = []
    original = RunFolder.save_last

    def record(self, state):
        saved_after.append(state["epoch"] + 1)
        original(self, state)

    monkeypatch.setattr(RunFolder, "save_last", record)
    fit(config, out=tmp_path / "once")
    assert saved_after == [EPOCHS]

    train_epoch = Trainer._train_epoch

    def killed_in_third(self, epoch):
        if epoch == 2:
            raise Killed
        return train_epoch(self, epoch)

    monkeypatch.setattr(Trainer, "_train_epoch", killed_in_third)
    out = tmp_path / "killed"
    with pytest.raises(Killed):
        fit(config, out=out)
    assert not (out / rundir.LAST).exists()
    monkeypatch.setattr(Trainer, "_train_epoch", train_epoch)
    resumed = fit(config, out=out)
    assert resumed["test"] == reference["test"]
    assert without_timing(resumed["history"]) == without_timing(reference["history"])
