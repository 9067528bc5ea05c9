"""Reading, checking and identifying backbone weights: state-dict files, digests, loading with one
readable error, and the mapping of a differently named file onto an architecture by position."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping

import torch
from torch import Tensor, nn

from rsdml.errors import UserError, brief

# Parameters and buffers that carry no information about the trained weights; BatchNorm's step
# counter is missing from some exported files and is not used in eval mode anyway.
_IGNORED_SUFFIX = "num_batches_tracked"


class WeightsUnavailableError(UserError, RuntimeError):
    """Pretrained weights could not be obtained (offline, missing package or unreadable file)."""


class WeightsFileNotFoundError(UserError, FileNotFoundError):
    """The weights file given to a backbone does not exist."""


def file_digest(path: str | os.PathLike, length: int = 16) -> str:
    """Short sha256 hex digest of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()[:length]


def state_digest(module: nn.Module, length: int = 16) -> str:
    """Short sha256 hex digest of a module's state dict (names, shapes and values)."""
    digest = hashlib.sha256()
    for key, value in module.state_dict().items():
        tensor = value.detach().to("cpu", torch.float32).contiguous()
        digest.update(f"{key}:{tuple(tensor.shape)}".encode())
        digest.update(tensor.numpy().tobytes())
    return digest.hexdigest()[:length]


def read_state_file(path: str | os.PathLike) -> dict[str, Tensor]:
    """Load a state dict saved with ``torch.save`` (plain, or wrapped as ``{"state_dict": ...}``).

    Raises:
        WeightsUnavailableError: the file is not a readable tensor dictionary.
    """
    try:
        loaded = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises several types for truncated or foreign files
        raise WeightsUnavailableError(
            f"cannot read weights file {str(path)!r} ({brief(err)}); it must be a "
            "state dict saved with torch.save(model.state_dict(), path)"
        ) from err
    for wrapper in ("state_dict", "model"):
        if isinstance(loaded, Mapping) and isinstance(loaded.get(wrapper), Mapping):
            loaded = loaded[wrapper]
    if not isinstance(loaded, Mapping) or not all(isinstance(v, Tensor) for v in loaded.values()):
        raise WeightsUnavailableError(
            f"weights file {str(path)!r} does not hold a state dict (a mapping of names to "
            "tensors); save one with torch.save(model.state_dict(), path)"
        )
    state = dict(loaded)
    # Files saved from nn.DataParallel / DDP prefix every key with "module.".
    if state and all(key.startswith("module.") for key in state):
        state = {key[len("module.") :]: value for key, value in state.items()}
    return state


def without_counters(state: Mapping[str, Tensor]) -> dict[str, Tensor]:
    """``state`` without BatchNorm's step counters."""
    return {k: v for k, v in state.items() if not k.endswith(_IGNORED_SUFFIX)}


def load_state_by_name(
    model: nn.Module, state: Mapping[str, Tensor], source: str, optional: tuple[str, ...] = ()
) -> None:
    """Load ``state`` into ``model`` by key, with one readable error listing every problem."""
    target = without_counters(model.state_dict())
    state = without_counters(state)
    missing = [k for k in target if k not in state and not k.startswith(tuple(optional))]
    unexpected = [k for k in state if k not in target]
    mismatched = [
        f"{k}: file {tuple(state[k].shape)} vs model {tuple(target[k].shape)}"
        for k in target
        if k in state and state[k].shape != target[k].shape
    ]
    if missing or unexpected or mismatched:
        problems = []
        for label, items in (
            ("missing", missing),
            ("unexpected", unexpected),
            ("shape mismatch", mismatched),
        ):
            if items:
                shown = "; ".join(items[:5]) + (
                    f"; ... ({len(items)} in all)" if len(items) > 5 else ""
                )
                problems.append(f"{label}: {shown}")
        raise WeightsUnavailableError(
            f"weights from {source} do not fit this architecture ({' | '.join(problems)}); "
            "pass a state dict saved from the same architecture"
        )
    model.load_state_dict(state, strict=False)


def map_state_by_position(
    source: Mapping[str, Tensor], target: Mapping[str, Tensor], source_name: str
) -> dict[str, Tensor]:
    """Rename ``source`` tensors to ``target``'s keys by position (BatchNorm counters ignored).

    Each pair must agree in shape and in its leaf name (``weight``, ``bias``, ``running_mean``,
    ``running_var``), which catches a shifted or reordered file that happens to share shapes.

    Raises:
        WeightsUnavailableError: different tensor counts, or a pair that does not match.
    """
    source_items = list(without_counters(source).items())
    target_items = list(without_counters(target).items())
    if len(source_items) != len(target_items):
        raise WeightsUnavailableError(
            f"weights from {source_name} hold {len(source_items)} tensors but the architecture "
            f"expects {len(target_items)} (BatchNorm counters not counted); they cannot be mapped "
            "by position -- pass a state dict of the same architecture"
        )
    mapped = {}
    for position, ((src_key, src), (dst_key, dst)) in enumerate(
        zip(source_items, target_items, strict=True)
    ):
        if src.shape != dst.shape or src_key.rsplit(".", 1)[-1] != dst_key.rsplit(".", 1)[-1]:
            raise WeightsUnavailableError(
                f"weights from {source_name} do not match the architecture at tensor {position}: "
                f"file {src_key!r} {tuple(src.shape)} vs model {dst_key!r} {tuple(dst.shape)}; "
                "pass a state dict of the same architecture"
            )
        mapped[dst_key] = src
    return mapped


def random_weights_id(model: nn.Module) -> str:
    """The weights id of a randomly initialised model: a digest of its state."""
    return f"random-{state_digest(model)}"
