"""Whether training did anything at all, and the warning that names the likely cause."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch

from rsdml.train.config import TrainConfig


@dataclass
class Activity:
    """Counters kept across resumes (they are part of the checkpoint).

    Attributes:
        parameters_moved: some trainable parameter changed during an epoch.
        gradient_seen: some gradient entry was non-zero (weight decay moves parameters even
            without a gradient, so both are tracked).
        steps: optimiser steps taken.
        zero_loss_steps: steps whose loss was exactly 0.
    """

    parameters_moved: bool = False
    gradient_seen: bool = False
    steps: int = 0
    zero_loss_steps: int = 0
    _before: list[torch.Tensor] | None = field(default=None, repr=False)
    _largest: torch.Tensor | None = field(default=None, repr=False)

    def start_epoch(self, trainable: list[torch.Tensor], device: torch.device) -> None:
        """Remember the parameters (until something moved) and reset the epoch's gradient."""
        self._before = None if self.parameters_moved else [p.detach().clone() for p in trainable]
        # The largest |gradient| entry, kept on the device (no sync per step).
        self._largest = torch.zeros((), device=device)

    def observe_gradients(self, trainable: list[torch.Tensor]) -> None:
        """After ``backward``: track the largest gradient entry until one was non-zero."""
        if self.gradient_seen:
            return
        self._largest = torch.stack(
            [self._largest]
            + [p.grad.detach().abs().amax().float() for p in trainable if p.grad is not None]
        ).amax()

    def end_epoch(self, losses: list[float], trainable: list[torch.Tensor]) -> None:
        """Count the epoch's steps and compare the parameters with the epoch's start."""
        self.steps += len(losses)
        self.zero_loss_steps += sum(1 for value in losses if value == 0.0)
        self.gradient_seen = self.gradient_seen or bool(self._largest > 0)
        if self._before is not None:
            self.parameters_moved = any(
                not torch.equal(old, new.detach())
                for old, new in zip(self._before, trainable, strict=True)
            )
        self._before = self._largest = None

    def state_dict(self) -> dict[str, Any]:
        """The counters, for the checkpoint."""
        return {
            "parameters_moved": self.parameters_moved,
            "gradient_seen": self.gradient_seen,
            "steps": self.steps,
            "zero_loss_steps": self.zero_loss_steps,
        }

    def load_state_dict(self, state: dict[str, Any] | None) -> None:
        """Restore the counters (a checkpoint from before they existed: assume training worked)."""
        state = state or {"parameters_moved": True, "steps": 1}
        self.parameters_moved = state["parameters_moved"]
        self.gradient_seen = state.get("gradient_seen", True)
        self.steps = state["steps"]
        self.zero_loss_steps = state.get("zero_loss_steps", 0)

    def warnings(self, config: TrainConfig) -> list[str]:
        """One message per sign that training did nothing, naming the likely cause."""
        prefix = f"{config.method}: training changed nothing"
        if self.steps == 0:
            return [
                f"{prefix}: no training step was taken (every batch was skipped); raise "
                f"--batch-size (now {config.batch_size}) or label more images"
            ]
        if self.zero_loss_steps == self.steps:
            return [
                f"{prefix}: the loss was exactly 0 at all {self.steps} steps; likely cause: "
                f"batches too small to form pairs (--batch-size {config.batch_size}) or a loss "
                f"parameter that makes every term vanish (loss_params {config.loss_params})"
            ]
        if not self.gradient_seen:
            return [
                f"{prefix}: every gradient was exactly 0 in {self.steps} steps; likely cause: a "
                f"loss parameter that makes the gradients vanish or overflow (loss_params "
                f"{config.loss_params}; an overflowing gradient is clipped to 0)"
            ]
        if not self.parameters_moved:
            cause = "the learning rate is 0 (--lr 0)" if config.lr == 0 else f"--lr {config.lr:g}"
            return [
                f"{prefix}: no trainable parameter moved in {self.steps} steps; likely cause: "
                f"{cause}"
            ]
        return []
