"""How long a frozen head should train, in steps, measured on EuroSAT's validation split.

A frozen run's default length is a number of optimiser steps (``FROZEN_STEPS`` in
``rsdml/train/config.py``), not of epochs: UC Merced's 100 epochs are 1,200 steps, EuroSAT's
18,900 training images make an epoch of 148. This prints, for several step budgets, the selected
model's validation kNN@10 and MAP@20 (``fit()``'s ``metrics["val"]``: the validation queries
against the whole training split with its clean labels, after selection on validation kNN@10)
of methods on clean labels, uniform noise 0.5 and 5 % labels, every epoch run (patience 0), and
the shipped rule with its patience, with the seconds a run took. The test split is never read.

    python benchmarks/steps.py --root /path/to/data --seeds 0 --workers 2
    python benchmarks/steps.py --root /path/to/data --dataset ucmerced --budgets 600 1200

Needs the dataset's plain-view features in the cache (the first run extracts them: EuroSAT,
27,000 images at 224 px, 5-10 minutes on 2 CPU cores).
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import time
from concurrent.futures import ProcessPoolExecutor
from typing import Any

from machine import describe_machine  # benchmarks/machine.py

# (name, options): the settings the study's grid holds, one of each kind.
RUNS: dict[str, dict[str, Any]] = {
    "nsl clean": {"method": "nsl"},
    "arcface clean": {"method": "arcface"},
    "snca_ce_mb clean": {"method": "snca_ce_mb"},
    "nsl uniform-0.5": {"method": "nsl", "noise": "uniform", "noise_rate": 0.5},
    "trnsl uniform-0.5": {"method": "trnsl", "noise": "uniform", "noise_rate": 0.5},
    "hr_s2dml labelled-0.05": {"method": "hr_s2dml", "label_fraction": 0.05},
}
# "rule": the shipped default (FROZEN_STEPS with FROZEN_PATIENCE_STEPS' early stopping)
BUDGETS = ("600", "1200", "2400", "rule")


def config(dataset: str, root: str | None, run: str, budget: str, seed: int) -> dict[str, Any]:
    """The options of one run: plain view (the archive-size rule's choice for EuroSAT)."""
    options = {"dataset": dataset, "root": root, "seed": seed, "progress": False, **RUNS[run]}
    options["views"] = ("plain",)
    if budget != "rule":
        labelled = {"ucmerced": 1470, "eurosat": 18900}[dataset] * options.get(
            "label_fraction", 1.0
        )
        steps_per_epoch = math.ceil(int(labelled) / 128)
        options.update(epochs=max(1, round(int(budget) / steps_per_epoch)), patience=0)
    return options


def run_one(job: tuple[str, str | None, str, str, int]) -> dict[str, Any]:
    """Train one (run, budget, seed); return its validation metrics, length and time."""
    from rsdml.train import fit

    started = time.perf_counter()
    metrics = fit(config(*job))
    return {
        "key": job[2:4],
        "knn": metrics["val"]["knn@10"],
        "map": metrics["val"]["map@20"],
        "epochs": f"{metrics['epochs_run']}/{metrics['epochs']}",
        "seconds": time.perf_counter() - started,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", default=None, help="data folder (default: $RSDML_DATA)")
    parser.add_argument("--dataset", default="eurosat", choices=("eurosat", "ucmerced"))
    parser.add_argument("--runs", nargs="+", default=list(RUNS), choices=list(RUNS))
    parser.add_argument("--budgets", nargs="+", default=list(BUDGETS), choices=BUDGETS)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args()
    print(describe_machine(("torch",)), flush=True)
    from rsdml.train import TrainConfig, prepare_features

    started = time.perf_counter()
    prepare_features(TrainConfig(dataset=args.dataset, root=args.root, views=("plain",)))
    os.environ.update(OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", RSDML_PROGRESS="0")
    jobs = [
        (args.dataset, args.root, run, budget, seed)
        for seed in args.seeds
        for run in args.runs
        for budget in args.budgets
    ]
    with ProcessPoolExecutor(max_workers=args.workers) as pool:
        results = list(pool.map(run_one, jobs))
    print(
        f"\n{args.dataset}, plain view, batch 128; validation kNN@10 / MAP@20, mean over seeds "
        f"{args.seeds}; epochs run/given; seconds a run (one thread)"
    )
    print(f"{'run':24s}" + "".join(f"{b:>26s}" for b in args.budgets))
    for run in args.runs:
        cells = ""
        for budget in args.budgets:
            rows = [r for r in results if r["key"] == (run, budget)]
            knn = statistics.mean(r["knn"] for r in rows)
            map20 = statistics.mean(r["map"] for r in rows)
            seconds = statistics.mean(r["seconds"] for r in rows)
            length = rows[0]["epochs"]
            cells += f"{f'{knn:.4f} / {map20:.4f} {length} {seconds:.0f}s':>26s}"
        print(f"{run:24s}{cells}")
    print(
        f"\n{len(results)} runs in {time.perf_counter() - started:.0f} s, {args.workers} worker(s)"
    )


if __name__ == "__main__":
    main()
