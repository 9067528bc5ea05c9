"""Time rsdml.evaluate at scale on random class-structured embeddings, and report peak memory.

Default: 30,000 queries x 30,000 database items x 128 dimensions, 45 classes (NWPU-sized).
Each part runs once and prints its wall time, its peak resident memory above the baseline
(sampled from /proc/self/statm every few milliseconds, since tracemalloc does not see torch's
allocations) and, on a GPU, torch's peak allocated memory.

    python benchmarks/evaluate_scale.py --queries 5000 --database 5000
    python benchmarks/evaluate_scale.py --parts knn,retrieval,clustering,pr,evaluate
"""

from __future__ import annotations

import argparse
import os
import resource
import threading
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from rsdml.evaluate import (
    DEFAULT_MEMORY_MB,
    clustering_scores,
    evaluate_embeddings,
    knn_accuracy,
    precision_recall_curve,
    retrieval_scores,
)
from rsdml.evaluate.retrieval import RANKING_BYTES_PER_ELEMENT
from rsdml.evaluate.search import chunk_rows
from rsdml.runtime import resolve_device

PAGE_BYTES = os.sysconf("SC_PAGE_SIZE")
MIB = 2**20


def resident_bytes() -> int:
    """Current resident set size of this process (Linux), else the lifetime peak."""
    try:
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[1]) * PAGE_BYTES
    except OSError:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


class PeakResident:
    """Sample the resident memory in a background thread while the block runs."""

    def __init__(self, interval: float = 0.005) -> None:
        self.interval = interval
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, resident_bytes())
            time.sleep(self.interval)

    def __enter__(self) -> PeakResident:
        self.peak = resident_bytes()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, resident_bytes())


def make_data(
    rows: int, dim: int, classes: int, seed: int, noise: float
) -> tuple[np.ndarray, np.ndarray]:
    """Gaussian clusters around random class centres, float32."""
    rng = np.random.default_rng(seed)
    centres = np.random.default_rng(12345).normal(size=(classes, dim)).astype(np.float32)
    labels = rng.integers(0, classes, size=rows)
    noise_part = rng.standard_normal(size=(rows, dim), dtype=np.float32) * np.float32(noise)
    return centres[labels] + noise_part, labels


def run_part(name: str, function: Callable[[], Any], device: torch.device) -> dict[str, Any]:
    """Run one part once and print its time and memory."""
    if device.type == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    baseline = resident_bytes()
    start = time.perf_counter()
    with PeakResident() as peak:
        result = function()
        if device.type == "cuda":
            torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    line = (
        f"{name:<11} {seconds:8.2f} s   peak RSS {peak.peak / MIB:8.1f} MiB "
        f"(+{(peak.peak - baseline) / MIB:.1f} MiB over the baseline)"
    )
    if device.type == "cuda":
        line += f"   GPU peak {torch.cuda.max_memory_allocated() / MIB:.1f} MiB"
    print(line, flush=True)
    return {"seconds": seconds, "result": result}


def main(argv: list[str] | None = None) -> None:
    """Parse the arguments, build the data and time the requested parts."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--queries", type=int, default=30_000)
    parser.add_argument("--database", type=int, default=30_000)
    parser.add_argument("--dim", type=int, default=128)
    parser.add_argument("--classes", type=int, default=45)
    parser.add_argument("--noise", type=float, default=2.5, help="within-class spread")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--memory-mb", type=float, default=DEFAULT_MEMORY_MB)
    parser.add_argument("--n-init", type=int, default=10, help="K-means restarts")
    parser.add_argument(
        "--parts",
        default="knn,retrieval,clustering",
        help="comma-separated: knn, retrieval, clustering, pr, evaluate (the one-call summary)",
    )
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    device = resolve_device(args.device)
    query, query_labels = make_data(args.queries, args.dim, args.classes, args.seed, args.noise)
    database, database_labels = make_data(
        args.database, args.dim, args.classes, args.seed + 1, args.noise
    )
    rows = chunk_rows(args.database, RANKING_BYTES_PER_ELEMENT, memory_mb=args.memory_mb)
    print(
        f"{args.queries} queries x {args.database} database x {args.dim} dims, "
        f"{args.classes} classes, device {device}, torch threads {torch.get_num_threads()}, "
        f"memory budget {args.memory_mb:.0f} MiB (ranking chunk {rows} queries)"
    )
    print(f"baseline RSS {resident_bytes() / MIB:.1f} MiB")
    search = {"device": device, "memory_mb": args.memory_mb}
    parts: dict[str, Callable[[], Any]] = {
        "knn": lambda: knn_accuracy(query, query_labels, database, database_labels, **search),
        "retrieval": lambda: retrieval_scores(
            query, query_labels, database, database_labels, **search
        ),
        "clustering": lambda: clustering_scores(
            query, query_labels, seed=args.seed, n_init=args.n_init
        ),
        "pr": lambda: precision_recall_curve(
            query, query_labels, database, database_labels, **search
        )[1].round(4),
        "evaluate": lambda: evaluate_embeddings(
            query, query_labels, database, database_labels, n_init=args.n_init, **search
        ),
    }
    requested = [part.strip() for part in args.parts.split(",") if part.strip()]
    unknown = sorted(set(requested) - set(parts))
    if unknown:
        parser.error(f"unknown parts {unknown}; choose from {sorted(parts)}")
    total = 0.0
    results = {}
    for part in requested:
        outcome = run_part(part, parts[part], device)
        total += outcome["seconds"]
        results[part] = outcome["result"]
    print(f"{'total':<11} {total:8.2f} s")
    lifetime_peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"process peak RSS (getrusage) {lifetime_peak:.1f} MiB")
    for part, result in results.items():
        if isinstance(result, dict):
            result = {name: round(value, 4) for name, value in result.items()}
        print(f"{part}: {result}")


if __name__ == "__main__":
    main()
