"""A run's folder on disk: configuration, split, history, checkpoints and final metrics.

The file names, the order of the final writes and what "complete" means are the run-folder
contract of :mod:`rsdml.rundir`; this module writes by it. Every file is written atomically, so
an interrupted run resumes from its last checkpoint (:meth:`RunFolder.checkpoint_due` says when
one is written).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from rsdml import rundir
from rsdml.errors import UserError, brief
from rsdml.storage import atomic_save_npz, atomic_save_torch, atomic_write_json
from rsdml.train.config import TrainConfig

if TYPE_CHECKING:
    from rsdml.train.prepare import RunData


#: Seconds of training between two checkpoints (``last.pt`` with ``history.json``); the last
#: epoch is always checkpointed. A frozen-mode epoch on UC Merced takes a few hundredths of a
#: second on a CPU: a checkpoint after each one (2-4 MB, written and synced) took a fifth of a
#: study cell's time. A killed run now repeats at most this much training, and still ends with
#: the same metrics; a fine-tune epoch takes minutes, so each one is still checkpointed.
CHECKPOINT_SECONDS = 30.0


class RunFolderConflict(UserError, RuntimeError):
    """The run folder already holds a run with another configuration."""


class RunFolder:
    """Reads and writes one run's files (layout and write order: :mod:`rsdml.rundir`).

    Opening a folder checks that a stored configuration matches and clears the temporaries of a
    killed write, but writes nothing: ``config.json`` is written by :meth:`write_config` once
    the run's set-up (dataset, method, loss parameters) has been checked, so that a mistyped
    command leaves no configuration behind to refuse the corrected one.
    """

    def __init__(self, path: str | Path, config: TrainConfig):
        self.path = Path(path)
        self.config = config
        self.key = config.key()
        stored = self.path / rundir.CONFIG
        if stored.exists():
            previous = rundir.read_json(stored, what="the run's configuration")
            if TrainConfig.from_dict(previous).key() != self.key:
                raise RunFolderConflict(
                    f"{self.path} already holds a run with a different configuration "
                    f"(see {stored}); choose another output folder or delete this one"
                )
        if self.path.is_dir():
            # One process writes a run folder, so any temporary found on opening it is debris
            # of a killed write, never a write in progress.
            rundir.remove_stale_temporaries(self.path)
        self._checkpointed_at = time.monotonic()

    def write_config(self) -> None:
        """Record the configuration (once the set-up was checked); creates the folder."""
        stored = self.path / rundir.CONFIG
        if not stored.exists():
            atomic_write_json(stored, self.config.to_dict())

    def finished_metrics(self) -> dict[str, Any] | None:
        """The final metrics if this exact configuration already completed here.

        Raises:
            rundir.CorruptRunFile: ``metrics.json`` exists but is damaged.
        """
        path = self.path / rundir.METRICS
        if not path.exists():
            return None
        metrics = rundir.read_json(path, what="the run's final metrics")
        # A run killed between its final writes by an older version may lack a file that
        # metrics.json promises: finishing again (from last.pt) rewrites all of them.
        if not rundir.final_files_present(self.path):
            return None
        return metrics if metrics.get("config_key") == self.key else None

    def write_split(self, data: RunData) -> None:
        """Record exactly which images trained, validated and tested, and with which labels."""
        atomic_write_json(
            self.path / rundir.SPLIT,
            {
                **data.split.to_dict(),
                "dataset": data.scenes.name,
                "files": [str(p) for p in data.scenes.files],
                "classes": list(data.scenes.classes),
                "labelled": np.asarray(data.train).tolist(),
                "labelled_given_labels": np.asarray(data.train_labels).tolist(),
                "unlabelled": np.asarray(data.unlabelled).tolist(),
                # Files left out under on_error="skip": not in "files", so indices stay aligned.
                "skipped": list(data.skipped),
                # the training and held-out classes of an unseen-classes run
                **({"class_partition": data.partition.to_dict()} if data.partition else {}),
            },
        )

    def load_last(self) -> dict[str, Any] | None:
        """The resumable state of the last finished epoch, if any.

        Raises:
            rundir.CorruptRunFile: ``last.pt`` is truncated or not a checkpoint of rsdml.
        """
        path = self.path / rundir.LAST
        if not path.exists():
            return None
        try:
            state = torch.load(path, map_location="cpu", weights_only=False)
        except Exception as error:  # truncated zip, garbage pickle, foreign format...
            raise self._corrupt_checkpoint(path, brief(error)) from error
        if not isinstance(state, dict) or "epoch" not in state:
            raise self._corrupt_checkpoint(path, "it is not an rsdml training checkpoint")
        return state

    def _corrupt_checkpoint(self, path: Path, reason: str) -> rundir.CorruptRunFile:
        return rundir.CorruptRunFile(
            f"{path} is damaged and cannot be resumed from ({reason.splitlines()[0]}); delete "
            f"it to start training again from epoch 1, or delete the run folder {self.path} to "
            "start over entirely"
        )

    def checkpoint_due(self, last_epoch: bool) -> bool:
        """Whether the epoch just finished is to be checkpointed: the run's last epoch, or
        :data:`CHECKPOINT_SECONDS` or more since the folder was opened or last checkpointed."""
        return last_epoch or time.monotonic() - self._checkpointed_at >= CHECKPOINT_SECONDS

    def save_last(self, state: dict[str, Any]) -> None:
        """Atomically replace the resumable state."""
        atomic_save_torch(self.path / rundir.LAST, state)
        self._checkpointed_at = time.monotonic()

    def write_history(self, history: list[dict[str, Any]]) -> None:
        """Per-epoch records so far."""
        atomic_write_json(self.path / rundir.HISTORY, history)

    def write_untrained(self, metrics: dict[str, float]) -> None:
        """Test metrics of the untrained embedding."""
        atomic_write_json(self.path / rundir.UNTRAINED, metrics)

    def read_untrained(self) -> dict[str, float] | None:
        """The untrained metrics written at the start of the run, if present."""
        path = self.path / rundir.UNTRAINED
        if not path.exists():
            return None
        return rundir.read_json(path, what="the untrained embedding's metrics")

    def write_final(
        self,
        metrics: dict[str, Any],
        state: dict[str, Any],
        embeddings: dict[str, np.ndarray],
    ) -> None:
        """The selected weights, the embeddings, then the metrics (last: the completion mark)."""
        writers = {
            rundir.BEST: lambda path: atomic_save_torch(path, state.get("best_state")),
            rundir.EMBEDDINGS: lambda path: atomic_save_npz(path, **embeddings),
            rundir.METRICS: lambda path: atomic_write_json(path, metrics),
        }
        for name in rundir.FINAL_WRITE_ORDER:
            writers[name](self.path / name)
