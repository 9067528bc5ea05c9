"""Time what MKL computes for a frozen-feature run under each pinned kernel choice: ``avx2``
(MKL's reproducible AVX2 branch) against ``portable`` (its COMPATIBLE branch, the one it runs
alike on Intel and AMD processors; rsdml/cpu_kernels.py).

MKL reads its branch once, when torch loads, so each choice runs in a child interpreter with
``RSDML_CPU_KERNELS`` set; the children alternate (avx2, portable, avx2, portable, ...) so that
both see the same machine. Each prints the median milliseconds of:

- the head's product (64 features of 1,280 to 128 dimensions), and its classifier's (to 10);
- a batch against a memory bank of 18,900 embeddings (SNCA's step on EuroSAT);
- a search chunk: 676 queries against 18,900 items;
- ``torch.exp`` of a batch of 64 x 18,900 similarities (MKL's vector functions);
- with ``--fit``, one whole ``nsl`` run of the quick study on the embedded synthetic scenes
  (its features cached first, outside the timing).

One thread, as every training run uses.

    python benchmarks/mkl_branch.py
    python benchmarks/mkl_branch.py --rounds 3 --fit
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

CHOICES = ("avx2", "portable")


def median_ms(run, repeats: int) -> float:
    run()  # warm-up: allocations, MKL's own set-up
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        run()
        times.append(time.perf_counter() - started)
    return 1e3 * statistics.median(times)


def measure(repeats: int, fit: bool) -> dict[str, float]:
    """The timings of this interpreter's kernels (run in a child)."""
    import rsdml  # noqa: F401  (first: the pins of RSDML_CPU_KERNELS)

    # isort: split
    import torch

    torch.set_num_threads(1)
    generator = torch.Generator().manual_seed(0)

    def rand(*shape: int) -> torch.Tensor:
        return torch.randn(*shape, generator=generator)

    features, weights, classifier = rand(64, 1280), rand(1280, 128), rand(128, 10)
    batch, bank, queries = rand(64, 128), rand(128, 18_900), rand(676, 128)
    similarities = rand(64, 18_900)
    timings = {
        "head 64x1280 @ 1280x128": median_ms(lambda: features @ weights, repeats * 20),
        "classifier 64x128 @ 128x10": median_ms(lambda: batch @ classifier, repeats * 100),
        "memory bank 64x128 @ 128x18900": median_ms(lambda: batch @ bank, repeats * 5),
        "search chunk 676x128 @ 128x18900": median_ms(lambda: queries @ bank, repeats),
        "exp 64x18900": median_ms(similarities.exp, repeats * 5),
    }
    if fit:
        from rsdml.train import fit as train
        from rsdml.train import prepare_features

        config = {"method": "nsl", "dataset": "synthetic", "mode": "frozen", "epochs": 30}
        config.update(engine="torch", progress=False)
        prepare_features(config)
        with tempfile.TemporaryDirectory() as folder:
            started = time.perf_counter()
            train(config, out=os.path.join(folder, "run"))
            timings["quick nsl run"] = 1e3 * (time.perf_counter() - started)
    return timings


def child(choice: str, repeats: int, fit: bool) -> dict[str, float]:
    from rsdml.cpu_kernels import kernel_record  # light: it imports neither NumPy nor torch

    # none of this process's kernel settings: the child pins those of its choice
    environment = {k: v for k, v in os.environ.items() if k not in kernel_record()}
    environment["RSDML_CPU_KERNELS"] = choice
    command = [sys.executable, __file__, "--child", "--repeats", str(repeats)]
    result = subprocess.run(
        command + (["--fit"] if fit else []),
        env=environment,
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(result.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2, help="children per choice, alternating")
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--fit", action="store_true", help="also time a whole quick-study run")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measure(args.repeats, args.fit)))
        return
    from machine import describe_machine  # benchmarks/machine.py

    print(describe_machine())
    results: dict[str, list[dict[str, float]]] = {choice: [] for choice in CHOICES}
    for _ in range(args.rounds):
        for choice in CHOICES:
            results[choice].append(child(choice, args.repeats, args.fit))
    names = list(results[CHOICES[0]][0])
    print(f"{'median ms (min over rounds)':36} {'avx2':>10} {'portable':>10} {'ratio':>7}")
    for name in names:
        fast, portable = (min(r[name] for r in results[choice]) for choice in CHOICES)
        print(f"{name:36} {fast:10.3f} {portable:10.3f} {portable / fast:7.2f}")


if __name__ == "__main__":
    main()
