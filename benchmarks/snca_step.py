"""SNCA's loss and backward for one batch against memories of archive sizes, in two forms.

``snca_loss`` sums one exponential of the logits per class (:class:`_ClassSumSNCA`); the masked
form (two log-sum-exps with their own maxima, ``_masked_snca``) is what it falls back to for
logits wider than one exponential holds, and what every SNCA step computed before. Both are
timed in one run, alternating, on one thread (a study worker's setting), batch 128, D 128, with
the memory sizes of UC Merced's and EuroSAT's training splits:

    python benchmarks/snca_step.py
    python benchmarks/snca_step.py --slots 1470 18900 31500 --repeats 5
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
import torch.nn.functional as F
from machine import describe_machine  # benchmarks/machine.py

from rsdml.losses.snca import _masked_snca, snca_loss


def masked_form(embeddings, labels, indices, memory, memory_labels, temperature):
    """The masked log-sum-exp form, called as snca_loss is."""
    logits = (embeddings @ memory.t()).div_(temperature)
    rows = torch.arange(embeddings.shape[0])
    log_p = _masked_snca(logits, rows, labels, indices, memory_labels, 0.0)
    return -log_p.sum() / embeddings.shape[0]


def milliseconds(form, slots: int, steps: int, generator: torch.Generator) -> float:
    """Mean time of forward + backward over ``steps`` batches against ``slots`` slots."""
    memory = F.normalize(torch.randn(slots, 128, generator=generator), dim=1)
    memory_labels = torch.randint(0, 21, (slots,), generator=generator)
    raw = torch.randn(128, 128, generator=generator)
    started = time.perf_counter()
    for _ in range(steps):
        indices = torch.randint(0, slots, (128,), generator=generator)
        leaf = raw.clone().requires_grad_(True)
        value = form(F.normalize(leaf, dim=1), memory_labels[indices], indices, memory,
                     memory_labels, 0.05)  # fmt: skip
        value.backward()
    return (time.perf_counter() - started) / steps * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--slots", type=int, nargs="+", default=[1470, 18900])
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(1)
    print(describe_machine(("torch",)))
    print(f"{'slots':>8s}{'masked (ms)':>14s}{'class sums (ms)':>18s}{'speed-up':>10s}")
    generator = torch.Generator().manual_seed(0)
    for slots in args.slots:
        times: dict[str, list[float]] = {"masked": [], "sums": []}
        for _ in range(args.repeats):  # alternate, so that load changes hit both alike
            times["masked"].append(milliseconds(masked_form, slots, args.steps, generator))
            times["sums"].append(milliseconds(snca_loss, slots, args.steps, generator))
        masked, sums = (statistics.median(times[name]) for name in ("masked", "sums"))
        print(f"{slots:8d}{masked:14.1f}{sums:18.1f}{masked / sums:9.1f}x")


if __name__ == "__main__":
    main()
