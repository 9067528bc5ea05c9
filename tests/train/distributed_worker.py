"""One rank of the two-process runs of ``test_distributed.py``, started by ``torchrun``.

Usage: ``torchrun --nproc-per-node 2 distributed_worker.py PLAN.json``. The plan names an output
folder and, per case, a training configuration and an optional run folder. Every rank trains every
case in one process group and saves, after each epoch, what the test compares across ranks and
with a single process: the history and the model's, the loss's and the EMA encoder's states.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import torch

from rsdml.runtime import resolve_device
from rsdml.train import Trainer, distributed, fit

ORIGINAL_EPOCH = Trainer._epoch


def record_epochs(folder: Path, name: str) -> None:
    """Make every rank's Trainer save its state after each epoch as ``NAME-rankR.pt``."""

    def epoch_then_record(self: Trainer, epoch: int) -> None:
        ORIGINAL_EPOCH(self, epoch)
        torch.save(
            {
                "history": self.history,
                "model": self.model.state_dict(),
                "loss": self.loss.state_dict(),
                "momentum_encoder": None
                if self.momentum_encoder is None
                else self.momentum_encoder.state_dict(),
            },
            folder / f"{name}-rank{distributed.rank()}.pt",
        )

    Trainer._epoch = epoch_then_record


def main(plan_path: str) -> None:
    plan = json.loads(Path(plan_path).read_text())
    folder = Path(plan["out"])
    with distributed.process_group(resolve_device("cpu")):
        for name, case in plan["cases"].items():
            record_epochs(folder, name)
            metrics = fit(case["config"], out=case.get("run_folder"))
            (folder / f"{name}-rank{distributed.rank()}.json").write_text(
                json.dumps({"world_size": distributed.world_size(), "test": metrics["test"]})
            )


if __name__ == "__main__":
    main(sys.argv[1])
