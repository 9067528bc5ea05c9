"""How rsdml runs on this machine: which device, which seeds, which progress bars.

Kept in one small module so that the data, model, training and evaluation rooms agree on
the same rules (CUDA when present, deterministic seeding, progress on stderr that a
papermill kernel can switch off).
"""

from __future__ import annotations

import os
import random
import sys
from collections.abc import Iterable, Iterator
from typing import TypeVar

import numpy as np
import torch

T = TypeVar("T")

PROGRESS_ENV = "RSDML_PROGRESS"


def resolve_device(device: str | torch.device | None = "auto") -> torch.device:
    """``"auto"`` (or None) picks CUDA when available, else the CPU; anything else is passed to torch."""
    if device is None or device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    resolved = torch.device(device)
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(
            f"device {device!r} was requested but CUDA is not available on this machine; "
            "pass device='cpu' or device='auto'"
        )
    return resolved


def seed_everything(seed: int) -> torch.Generator:
    """Seed Python, NumPy and torch; return a torch generator seeded the same way for samplers."""
    random.seed(seed)
    # Third-party code (e.g. scikit-learn defaults) may still draw from the legacy global state.
    np.random.seed(seed % (2**32))  # noqa: NPY002
    torch.manual_seed(seed)
    generator = torch.Generator()
    generator.manual_seed(seed)
    return generator


def progress_enabled(explicit: bool | None = None) -> bool:
    """Progress bars are on unless turned off by argument or by ``RSDML_PROGRESS=0``."""
    if explicit is not None:
        return explicit
    return os.environ.get(PROGRESS_ENV, "1").lower() not in {"0", "false", "no", "off"}


def progress(
    iterable: Iterable[T],
    desc: str,
    total: int | None = None,
    enabled: bool | None = None,
    unit: str = "it",
) -> Iterator[T]:
    """A tqdm bar on stderr (or the bare iterable when progress is disabled)."""
    if not progress_enabled(enabled):
        yield from iterable
        return
    from tqdm.auto import tqdm

    yield from tqdm(
        iterable, desc=desc, total=total, unit=unit, file=sys.stderr, leave=False, mininterval=0.5
    )
