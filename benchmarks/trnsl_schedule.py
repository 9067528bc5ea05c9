"""Choose t-RNSL's frozen-mode pruning schedule on the validation split.

Trains ``trnsl`` on frozen EfficientNet-Lite0 features of UC Merced for each candidate schedule,
label setting and seed, and prints the mean validation kNN@10 (the selection metric: clean
validation queries, a database with the labels the learner was given) and, for information
only, the test kNN@10. The candidate with the highest mean validation score over all settings
is the one to choose; the frozen-mode default in ``rsdml.train.config.FROZEN_LOSS_DEFAULTS``
came from this script.

    RSDML_DATA=/path/to/data python benchmarks/trnsl_schedule.py --workers 2
    python benchmarks/trnsl_schedule.py --seeds 0 --settings clean uniform-0.5

About 5 s per run on one CPU core with a warm feature cache (7 candidates x 8 settings x 3 seeds
= 168 runs: 7 minutes on 2 cores).
"""

from __future__ import annotations

import argparse
import os
import statistics
from concurrent.futures import ProcessPoolExecutor
from typing import Any

PAPER_START, PAPER_EVERY = 40 / 130, 10 / 130


def schedule(start: float, every: float, resume: str) -> dict[str, Any]:
    """Every schedule parameter explicit, so that no default (frozen-mode or paper) applies."""
    return {"prune_start": start, "prune_every": every, "resume": resume}


CANDIDATES: dict[str, dict[str, Any]] = {
    "paper (40/130, every 10/130, current)": schedule(PAPER_START, PAPER_EVERY, "current"),
    "paper, resume selected": schedule(PAPER_START, PAPER_EVERY, "selected"),
    "start 0.10, selected": schedule(0.10, PAPER_EVERY, "selected"),
    "start 0.05, selected": schedule(0.05, PAPER_EVERY, "selected"),
    "start 0.05, current": schedule(0.05, PAPER_EVERY, "current"),
    "start 0.02, selected": schedule(0.02, PAPER_EVERY, "selected"),
    "start 0.05, every 0.15, selected": schedule(0.05, 0.15, "selected"),
}
SETTINGS: dict[str, dict[str, Any]] = {
    "clean": {},
    **{f"uniform-{r}": {"noise": "uniform", "noise_rate": r} for r in (0.1, 0.3, 0.5, 0.7)},
    **{f"dependent-{r}": {"noise": "dependent", "noise_rate": r} for r in (0.3, 0.5, 0.7)},
}


def run_one(job: tuple[str, str, int, str | None]) -> tuple[str, str, int, float, float]:
    """Train one (candidate, setting, seed) and return its best val and its test kNN@10."""
    candidate, setting, seed, root = job
    from rsdml.train import fit

    metrics = fit(
        {
            "method": "trnsl",
            "dataset": "ucmerced",
            "root": root,
            "seed": seed,
            "loss_params": CANDIDATES[candidate],
            "progress": False,
            **SETTINGS[setting],
        }
    )
    val = max(record["val_knn@10"] for record in metrics["history"])
    return candidate, setting, seed, val, metrics["test"]["knn@10"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", default=None, help="UC Merced folder (default: $RSDML_DATA)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--settings", nargs="+", default=list(SETTINGS), choices=list(SETTINGS))
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args()
    # one thread per worker: the runs are small and independent
    os.environ.update(OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", RSDML_PROGRESS="0")
    jobs = [
        (candidate, setting, seed, args.root)
        for seed in args.seeds
        for setting in args.settings
        for candidate in CANDIDATES
    ]
    # Features are computed by the first run; with a cold cache run one job first.
    first = run_one(jobs[0])
    with ProcessPoolExecutor(max_workers=args.workers) as pool:
        results = [first, *pool.map(run_one, jobs[1:])]
    for index, name in ((3, "validation kNN@10 (selection)"), (4, "test kNN@10 (information)")):
        print(f"\n{name}, mean over seeds {args.seeds}")
        print(f"{'candidate':36s}" + "".join(f"{s:>14s}" for s in args.settings) + "      mean")
        for candidate in CANDIDATES:
            means = [
                statistics.mean(r[index] for r in results if r[:2] == (candidate, setting))
                for setting in args.settings
            ]
            row = "".join(f"{m:14.3f}" for m in means)
            print(f"{candidate:36s}{row}{statistics.mean(means):10.4f}")


if __name__ == "__main__":
    main()
