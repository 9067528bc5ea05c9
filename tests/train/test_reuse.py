"""Runs that reuse the previous run's data: the same numbers, and fresh data whenever it differs."""

from __future__ import annotations

import os

import pytest

from rsdml.train import TrainConfig, fit
from rsdml.train.config import field_names
from rsdml.train.reuse import LOADED, TRAINING_ONLY_FIELDS

TINY = {"num_classes": 4, "images_per_class": 16, "image_size": 48}


@pytest.fixture(autouse=True)
def private_cache(tmp_path_factory, monkeypatch):
    """One cache for the module, never the user's, and no data kept from another test."""
    monkeypatch.setenv("RSDML_CACHE", str(tmp_path_factory.getbasetemp() / "cache"))
    LOADED.clear()
    yield
    LOADED.clear()


def tiny_config(method: str = "nsl", **overrides) -> TrainConfig:
    """Three short epochs on 4 synthetic classes."""
    values = {
        "method": method,
        "dataset": "synthetic",
        "dataset_options": TINY,
        "image_size": 64,
        "epochs": 3,
        "batch_size": 16,
        "progress": False,
    }
    values.update(overrides)
    return TrainConfig(**values)


def built(config: TrainConfig):
    """The data object a run of ``config`` would get through the kept data."""
    return LOADED.build(config.resolved())[0]


def test_a_run_on_reused_data_gives_the_numbers_of_a_run_that_loads_its_own():
    fit(tiny_config("nsl"), reuse_data=True)
    reused = fit(tiny_config("snca_ce_mb", seed=1), reuse_data=True)
    loaded = fit(tiny_config("snca_ce_mb", seed=1))
    assert reused["test"] == loaded["test"]
    assert reused["untrained"] == loaded["untrained"]
    assert [r["loss"] for r in reused["history"]] == [r["loss"] for r in loaded["history"]]


def test_data_is_shared_by_runs_that_differ_in_training_only():
    first = built(tiny_config("nsl"))
    assert built(tiny_config("arcface", seed=2, epochs=7, lr=0.05)) is first
    assert built(tiny_config("nsl", noise="uniform", noise_rate=0.3)) is not first


def test_without_pretrained_weights_the_seed_decides_the_data():
    first = built(tiny_config(pretrained=False))
    assert built(tiny_config(pretrained=False, method="ce")) is first
    assert built(tiny_config(pretrained=False, seed=1)) is not first


def test_an_image_file_changed_on_disk_loads_the_data_again():
    first = built(tiny_config())
    path = first.scenes.files[0]
    status = os.stat(path)
    os.utime(path, ns=(status.st_atime_ns, status.st_mtime_ns + 10**9))
    assert built(tiny_config()) is not first


def test_another_cache_folder_loads_the_data_again(tmp_path, monkeypatch):
    first = built(tiny_config())
    monkeypatch.setenv("RSDML_CACHE", str(tmp_path / "other-cache"))
    assert built(tiny_config()) is not first


def test_the_training_only_fields_are_configuration_fields():
    assert set(TRAINING_ONLY_FIELDS) <= set(field_names())
