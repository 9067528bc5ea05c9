"""One training run over several processes (``torchrun`` or ``srun``), detected from the
environment: the same :class:`rsdml.train.Trainer` runs on one device or under
DistributedDataParallel.

The rules a distributed run follows, so that it trains what a single process with the same
global batch would:

- every rank draws the same global batch from the same seeded generator and keeps its share
  (:func:`rsdml.train.samplers.shard`); the model's outputs are gathered back in rank order
  (:func:`gather_rows`), so the loss, its memory updates and the per-sample state keyed by
  ``Batch.indices`` see exactly the single-process batch on every rank;
- rank 0 alone reads and writes the run folder and evaluates; what it decides (the validation
  record, the resume state, pruning weights) reaches the other ranks by broadcast
  (:func:`from_main`, :func:`broadcast_state`).

In a single process every helper here is the identity, so a plain run is unchanged bit for bit.
"""

from __future__ import annotations

import contextlib
import datetime
import os
from collections.abc import Callable, Iterator, Sequence
from typing import Any, TypeVar

import torch
import torch.distributed as dist
from torch import Tensor, nn

from rsdml.errors import UserError

T = TypeVar("T")

#: How long a rank waits at a collective before giving up: rank 0 evaluates alone (a fine-tune
#: run's final evaluation embeds three splits) while the others wait at a broadcast.
COLLECTIVE_TIMEOUT = datetime.timedelta(hours=2)

#: torchrun's variables, and the Slurm ones ``srun`` sets that stand for them when they are absent.
SLURM_EQUIVALENTS = {
    "RANK": "SLURM_PROCID",
    "WORLD_SIZE": "SLURM_NTASKS",
    "LOCAL_RANK": "SLURM_LOCALID",
}


class DistributedSetupError(UserError, RuntimeError):
    """The environment announces several processes but does not say how they meet."""


def launch_environment(environ: dict[str, str] | None = None) -> dict[str, str]:
    """RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR and MASTER_PORT of this process.

    torchrun sets all five. Under ``srun`` without torchrun the Slurm task variables stand for
    the first three (:data:`SLURM_EQUIVALENTS`); on one node the address defaults to this host,
    across nodes it must be exported (the first host of the allocation). A process that is one of
    one (no variables, or a single Slurm task) gets an empty dictionary.

    Raises:
        DistributedSetupError: several Slurm tasks across nodes without MASTER_ADDR.
    """
    env = os.environ if environ is None else environ
    if "WORLD_SIZE" in env:
        values = {name: env[name] for name in SLURM_EQUIVALENTS if name in env}
    elif int(env.get("SLURM_NTASKS", "1")) > 1 and "SLURM_PROCID" in env:
        values = {name: env[slurm] for name, slurm in SLURM_EQUIVALENTS.items() if slurm in env}
    else:
        return {}
    if int(values.get("WORLD_SIZE", "1")) <= 1:
        return {}
    values.setdefault("RANK", "0")
    values.setdefault("LOCAL_RANK", values["RANK"])
    if "MASTER_ADDR" in env:
        values["MASTER_ADDR"] = env["MASTER_ADDR"]
    elif int(env.get("SLURM_NNODES", "1")) > 1:
        raise DistributedSetupError(
            "this run spans several nodes but MASTER_ADDR is not set; export it before srun, "
            "e.g. MASTER_ADDR=$(scontrol show hostnames $SLURM_JOB_NODELIST | head -n 1)"
        )
    else:
        values["MASTER_ADDR"] = "127.0.0.1"
    values["MASTER_PORT"] = env.get("MASTER_PORT", "29500")
    return values


def launch_rank() -> int:
    """This process's rank as its launcher announced it (0 when launched alone); unlike
    :func:`rank` it holds before the process group starts and after it ends."""
    return int(launch_environment().get("RANK", "0"))


def is_distributed() -> bool:
    """Whether a process group of more than one rank is running."""
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def world_size() -> int:
    """The number of ranks (1 in a single process)."""
    return dist.get_world_size() if is_distributed() else 1


def rank() -> int:
    """This process's rank (0 in a single process)."""
    return dist.get_rank() if is_distributed() else 0


def is_main() -> bool:
    """Whether this process is rank 0, the one that writes and evaluates."""
    return rank() == 0


@contextlib.contextmanager
def process_group(device: torch.device) -> Iterator[None]:
    """Join the run's process group for the body when the environment asks for one.

    The backend follows the device: NCCL on CUDA, gloo on the CPU. A group that is already
    running (a caller's own) is used as it is and left running.
    """
    launch = launch_environment()
    if not launch or dist.is_initialized():
        yield
        return
    os.environ.update(launch)  # env:// reads the address and port from here
    if device.type == "cuda":
        torch.cuda.set_device(int(launch["LOCAL_RANK"]))
    dist.init_process_group(
        backend="nccl" if device.type == "cuda" else "gloo",
        init_method="env://",
        rank=int(launch["RANK"]),
        world_size=int(launch["WORLD_SIZE"]),
        timeout=COLLECTIVE_TIMEOUT,
    )
    try:
        yield
    finally:
        dist.destroy_process_group()


def local_device(device: torch.device) -> torch.device:
    """This rank's own GPU (``cuda:LOCAL_RANK``) for a CUDA run; the device unchanged otherwise."""
    if device.type != "cuda" or not is_distributed():
        return device
    return torch.device("cuda", torch.cuda.current_device())


def barrier() -> None:
    """Wait until every rank gets here."""
    if is_distributed():
        dist.barrier()


@contextlib.contextmanager
def main_first() -> Iterator[None]:
    """Rank 0 runs the body first (e.g. fills a cache), then the others do (and read it)."""
    if not is_main():
        barrier()
    yield
    if is_main():
        barrier()


def from_main(compute: Callable[[], T]) -> T:
    """``compute()`` on rank 0 only; every rank returns its (pickled, broadcast) result."""
    if not is_distributed():
        return compute()
    holder = [compute() if is_main() else None]
    dist.broadcast_object_list(holder, src=0, device=_collective_device())
    return holder[0]


@torch.no_grad()
def broadcast_state(module: nn.Module) -> None:
    """Overwrite every parameter and buffer of ``module`` with rank 0's, in place."""
    if not is_distributed():
        return
    device = _collective_device()
    for tensor in module.state_dict().values():
        carrier = tensor.to(device)
        dist.broadcast(carrier, src=0)
        tensor.copy_(carrier)


def gather_rows(local: Tensor | None, sizes: Sequence[int]) -> Tensor | None:
    """The rows of every rank, concatenated in rank order; rank r holds ``sizes[r]`` rows.

    Gradients flow back to this rank's rows. Every rank computes the same loss on the gathered
    rows, so each one's gradient is summed over the ranks in the backward pass: with
    DistributedDataParallel's average of the model's gradients, the step equals the
    single-process step on the whole batch.
    """
    if local is None or not is_distributed():
        return local
    return _GatherRows.apply(local, tuple(int(s) for s in sizes))


class _GatherRows(torch.autograd.Function):
    """All-gather of uneven row blocks (padded to the largest), summing gradients back."""

    @staticmethod
    def forward(ctx: Any, local: Tensor, sizes: tuple[int, ...]) -> Tensor:
        ctx.sizes = sizes
        padded = local.new_zeros((max(sizes), *local.shape[1:]))
        padded[: len(local)] = local
        blocks = [torch.empty_like(padded) for _ in sizes]
        dist.all_gather(blocks, padded.contiguous())
        return torch.cat([block[:size] for block, size in zip(blocks, sizes, strict=True)])

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor, None]:
        grad = grad.contiguous().clone()
        dist.all_reduce(grad)
        start = sum(ctx.sizes[: dist.get_rank()])
        return grad[start : start + ctx.sizes[dist.get_rank()]], None


def wrap_model(model: nn.Module, device: torch.device) -> nn.Module:
    """The model that training steps call: DistributedDataParallel over ``model`` in a
    distributed run (gradients averaged over ranks), ``model`` itself otherwise. Evaluation
    and checkpoints use ``model``."""
    if not is_distributed():
        return model
    ids = [device.index] if device.type == "cuda" else None
    return nn.parallel.DistributedDataParallel(model, device_ids=ids)


def rank_generator(seed: int) -> torch.Generator | None:
    """A generator of this rank's own draws (none in a single process, where the run's shared
    generator serves): draws whose count depends on the rank's share of a batch must not touch
    the generator that every rank keeps in step."""
    if not is_distributed():
        return None
    generator = torch.Generator()
    generator.manual_seed(_rank_seed(seed))
    return generator


def seed_rank_augmentations(seed: int, epoch: int) -> None:
    """Give each rank after the first its own draws from torch's global generator for the
    epoch (fine-tune augmentations draw there); rank 0 keeps the single-process stream.

    Every rank starts from the same seed, so without this each would crop and flip its share
    of a batch exactly as the others do theirs. Seeded from (seed, rank, epoch), a resumed run
    draws what an uninterrupted one would have drawn.
    """
    if rank() > 0:
        torch.manual_seed(_rank_seed(seed) * 100_003 + epoch)


def _rank_seed(seed: int) -> int:
    """A seed of this rank's own, distinct for every (run seed, rank) pair in use."""
    return seed * 1009 + rank()


def _collective_device() -> torch.device:
    """Where tensors must be for a collective: the current GPU under NCCL, else the CPU."""
    if dist.get_backend() == "nccl":
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")


__all__ = [
    "COLLECTIVE_TIMEOUT",
    "DistributedSetupError",
    "barrier",
    "broadcast_state",
    "from_main",
    "gather_rows",
    "is_distributed",
    "is_main",
    "launch_environment",
    "launch_rank",
    "local_device",
    "main_first",
    "process_group",
    "rank",
    "rank_generator",
    "seed_rank_augmentations",
    "wrap_model",
    "world_size",
]
