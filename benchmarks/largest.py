"""Time the few largest similarities of a search chunk: ``torch.topk`` against rsdml's blocked
search (:func:`rsdml.evaluate.search._largest`), and the whole :func:`top_k_rows` either way.

Default: one chunk of a EuroSAT validation search (676 queries against 18,900 items, the rows a
128 MiB chunk holds), 128-dimensional class-structured embeddings, the 19 values a kNN@10
search fetches; one thread. The two alternate within each repeat, so that both see the same
machine, and each prints its minimum and median in milliseconds.

    python benchmarks/largest.py
    python benchmarks/largest.py --items 30000 --count 101 --repeats 20
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

# rsdml first, so that torch loads the kernels the study's runs use (rsdml/cpu_kernels.py)
import rsdml  # noqa: F401

# isort: split
import torch
from machine import describe_machine  # benchmarks/machine.py

from rsdml.evaluate import search


def class_structured(rows: int, classes: int, dim: int, generator: torch.Generator):
    """L2-normalised embeddings around ``classes`` random centres."""
    centres = torch.nn.functional.normalize(torch.randn(classes, dim, generator=generator), dim=1)
    labels = torch.randint(0, classes, (rows,), generator=generator)
    noise = torch.randn(rows, dim, generator=generator)
    return torch.nn.functional.normalize(centres[labels] + 0.5 * noise, dim=1)


def plain_topk(similarities: torch.Tensor, count: int):
    return torch.topk(similarities, count, dim=1, largest=True, sorted=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--queries", type=int, default=676)
    parser.add_argument("--items", type=int, default=18_900)
    parser.add_argument("--dim", type=int, default=128)
    parser.add_argument("--classes", type=int, default=10)
    parser.add_argument("--count", type=int, default=19, help="values per row (k + 1)")
    parser.add_argument("--repeats", type=int, default=15)
    args = parser.parse_args()
    torch.set_num_threads(1)
    generator = torch.Generator().manual_seed(0)
    queries = class_structured(args.queries, args.classes, args.dim, generator)
    items = class_structured(args.items, args.classes, args.dim, generator)
    similarities = queries @ items.T
    blocked = search._largest

    def rows_with(largest: Callable) -> Callable:
        def run(values: torch.Tensor, count: int):
            search._largest = largest
            try:
                return search.top_k_rows(values, count - 1)
            finally:
                search._largest = blocked

        return run

    candidates = {
        "torch.topk": plain_topk,
        "blocked (_largest)": blocked,
        "top_k_rows, torch.topk": rows_with(plain_topk),
        "top_k_rows, blocked": rows_with(blocked),
    }
    reference = plain_topk(similarities, args.count).values
    assert torch.equal(blocked(similarities, args.count)[0], reference), "values differ"
    seconds: dict[str, list[float]] = {name: [] for name in candidates}
    for _ in range(args.repeats):
        for name, function in candidates.items():
            started = time.perf_counter()
            function(similarities, args.count)
            seconds[name].append(time.perf_counter() - started)
    print(describe_machine(("torch",)))
    print(
        f"{args.queries} queries x {args.items} items, {args.count} largest a row, one thread, "
        f"{args.repeats} repeats"
    )
    for name, times in seconds.items():
        print(
            f"  {name:24s} min {1000 * min(times):6.1f} ms   "
            f"median {1000 * statistics.median(times):6.1f} ms"
        )


if __name__ == "__main__":
    main()
