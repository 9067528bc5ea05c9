"""A run's folder on disk: configuration, split, history, checkpoints and final metrics.

Layout of ``RUN_DIR``::

    config.json      the resolved TrainConfig (written first; a different one refuses the folder)
    split.json       train/val/test indices, labelled subset, noisy labels
    untrained.json   test metrics of the untrained embedding (the baseline every method must beat)
    history.json     per-epoch records, rewritten after every epoch
    last.pt          everything needed to resume (weights, optimiser, RNG states, history)
    best.pt          the validation-selected weights
    metrics.json     written last: its presence means the run is complete
    embeddings.npz   train/val/test embeddings of the selected model, with labels

Every file is written atomically, so an interrupted run resumes from its last finished epoch.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from rsdml.storage import atomic_save_torch, atomic_write_json
from rsdml.train.config import TrainConfig

if TYPE_CHECKING:
    from rsdml.train.prepare import RunData


class RunFolderConflict(RuntimeError):
    """The run folder already holds a run with another configuration."""


class RunFolder:
    """Reads and writes one run's files."""

    def __init__(self, path: str | Path, config: TrainConfig):
        self.path = Path(path)
        self.config = config
        self.key = config.key()
        self.path.mkdir(parents=True, exist_ok=True)
        stored = self.path / "config.json"
        if stored.exists():
            previous = json.loads(stored.read_text())
            if TrainConfig.from_dict(previous).key() != self.key:
                raise RunFolderConflict(
                    f"{self.path} already holds a run with a different configuration "
                    f"(see {stored}); choose another output folder or delete this one"
                )
        else:
            atomic_write_json(stored, config.to_dict())

    def finished_metrics(self) -> dict[str, Any] | None:
        """The final metrics if this exact configuration already completed here."""
        path = self.path / "metrics.json"
        if not path.exists():
            return None
        metrics = json.loads(path.read_text())
        return metrics if metrics.get("config_key") == self.key else None

    def write_split(self, data: RunData) -> None:
        """Record exactly which images trained, validated and tested, and with which labels."""
        atomic_write_json(
            self.path / "split.json",
            {
                **data.split.to_dict(),
                "dataset": data.scenes.name,
                "files": [str(p) for p in data.scenes.files],
                "classes": list(data.scenes.classes),
                "labelled": np.asarray(data.train).tolist(),
                "labelled_given_labels": np.asarray(data.train_labels).tolist(),
                "unlabelled": np.asarray(data.unlabelled).tolist(),
            },
        )

    def load_last(self) -> dict[str, Any] | None:
        """The resumable state of the last finished epoch, if any."""
        path = self.path / "last.pt"
        if not path.exists():
            return None
        return torch.load(path, map_location="cpu", weights_only=False)

    def save_last(self, state: dict[str, Any]) -> None:
        """Atomically replace the resumable state."""
        atomic_save_torch(state, self.path / "last.pt")

    def write_history(self, history: list[dict[str, Any]]) -> None:
        """Per-epoch records so far."""
        atomic_write_json(self.path / "history.json", history)

    def write_untrained(self, metrics: dict[str, float]) -> None:
        """Test metrics of the untrained embedding."""
        atomic_write_json(self.path / "untrained.json", metrics)

    def read_untrained(self) -> dict[str, float] | None:
        """The untrained metrics written at the start of the run, if present."""
        path = self.path / "untrained.json"
        return json.loads(path.read_text()) if path.exists() else None

    def write_final(self, metrics: dict[str, Any], state: dict[str, Any]) -> None:
        """The selected weights, then the metrics (last, as the completion mark)."""
        atomic_save_torch(state.get("best_state"), self.path / "best.pt")
        atomic_write_json(self.path / "metrics.json", metrics)
