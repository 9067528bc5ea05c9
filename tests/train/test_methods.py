"""Every registered method trains through the real loop, and a method defined outside the package
(one class and one registration, below) trains through ``rsdml train`` without touching the loop."""

from __future__ import annotations

import json
import math

import pytest
import torch
from torch import Tensor

from rsdml.cli import main
from rsdml.losses import METHODS, Batch, Needs, PrototypeLoss, register_method
from rsdml.train import TrainConfig, fit

TINY = {"num_classes": 4, "images_per_class": 12, "image_size": 48}


@pytest.fixture(autouse=True)
def private_cache(tmp_path_factory, monkeypatch):
    """One feature cache for the module, never the user's."""
    monkeypatch.setenv("RSDML_CACHE", str(tmp_path_factory.getbasetemp() / "cache"))


@pytest.mark.parametrize("name", list(METHODS))
def test_every_registered_method_trains_through_the_loop(name):
    needs = METHODS[name].loss_class.needs
    config = TrainConfig(
        method=name,
        dataset="synthetic",
        dataset_options=TINY,
        image_size=64,
        epochs=1,
        batch_size=8,
        progress=False,
        label_fraction=0.5 if needs.unlabelled else None,
    )
    metrics = fit(config)
    (record,) = metrics["history"]
    assert math.isfinite(record["loss"])
    assert metrics["warnings"] == []
    assert all(0.0 <= value <= 1.0 for value in metrics["test"].values())


class CountingCosineLoss(PrototypeLoss):
    """A toy method: softmax over prototype cosines, on balanced batches, with a per-sample
    memory that counts how often each sample was seen (exercising a hook)."""

    needs = Needs(sampler="balanced", memory=True)

    def __init__(self, num_classes: int, dim: int, num_samples: int, temperature: float = 0.1):
        super().__init__(num_classes, dim, temperature)
        self.register_buffer("seen", torch.zeros(num_samples))

    def forward(self, batch: Batch) -> Tensor:
        """Cross-entropy of the scaled cosines."""
        logits = self.cosines(batch.embeddings) / self.temperature
        return torch.nn.functional.cross_entropy(logits, batch.labels)

    def after_step(self, batch: Batch) -> None:
        """Count the samples of the step."""
        self.seen[batch.indices] += 1

    def stats(self) -> dict[str, float]:
        """How many samples the memory has seen so far."""
        return {"seen": float(self.seen.sum())}


@pytest.fixture
def toy_method():
    """Register :class:`CountingCosineLoss` for one test (a plugin would do it at import)."""
    register_method(
        "toy_cosine",
        title="Toy cosine",
        paper="a test",
        family="proxy",
        description="Softmax over prototype cosines.",
        formula="L = CE(W f / tau)",
    )(CountingCosineLoss)
    yield "toy_cosine"
    del METHODS["toy_cosine"]


def test_a_method_registered_outside_the_package_trains_from_the_command_line(
    toy_method, tmp_path, capsys
):
    assert main(["methods"]) == 0
    assert toy_method in capsys.readouterr().err
    out = tmp_path / "run"
    options = [f"--dataset-option={key}={value}" for key, value in TINY.items()]
    argv = ["train", "--method", toy_method, "--epochs", "2", "--batch-size", "8", "--out"]
    assert main([*argv, str(out), "--param", "temperature=0.2", *options]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["config"]["loss_params"] == {"temperature": 0.2}
    seen = [record["seen"] for record in metrics["history"]]
    assert 0 < seen[0] < seen[1]


def test_registering_a_name_twice_is_refused(toy_method):
    with pytest.raises(ValueError, match="already registered"):
        register_method(
            toy_method, title="-", paper="-", family="proxy", description="-", formula="-"
        )(CountingCosineLoss)
