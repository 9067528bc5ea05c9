"""What each set of frozen-feature views buys, measured on the validation split.

Trains each method on frozen EfficientNet-Lite0 features (224 px) of each dataset with each view
set and seed, and prints a machine line, then one table per dataset: a row per view set, a
column per method. A cell is the mean over seeds of the selected model's validation kNN@10
(+- its standard deviation over seeds) and MAP@20: ``fit()``'s ``metrics["val"]``, the
validation queries against the whole training split with its clean labels, after model
selection on validation kNN@10 against the labelled training images. ``fit()`` also evaluates
the test split; those numbers are not used. The "passes" column is what extracting the view
set's features costs: the plain view of every image plus each extra view of the training images.

EuroSAT has about 13 times UC Merced's training images, so its runs are shortened to the same
number of training samples seen as UC Merced's default 100 epochs (see ``EPOCHS``).

    python benchmarks/views.py --root /path/to/data --datasets ucmerced --seeds 0 1 2
    python benchmarks/views.py --root /path/to/data --datasets eurosat --seeds 0 1
    python benchmarks/views.py --root /path/to/data --datasets ucmerced --methods nsl --seeds 0

The first run on a dataset extracts every view's features (EuroSAT: about 140,000 image passes,
10-40 minutes on 2 CPU cores, with a progress bar); later runs read them from the feature cache.
A run then takes about 10 s of CPU on UC Merced and 30 s on EuroSAT.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from concurrent.futures import ProcessPoolExecutor
from typing import Any

from machine import describe_machine  # benchmarks/machine.py

from rsdml.models.features import VIEWS

VIEW_SETS: dict[str, tuple[str, ...]] = {
    "plain": ("plain",),
    "plain+hflip": ("plain", "hflip"),
    "flips+rot180": ("plain", "hflip", "vflip", "rot180"),
    "all 7": VIEWS,
}
# Options of each method beyond its defaults: hr_s2dml learns from 20 % of the labels.
METHODS: dict[str, dict[str, Any]] = {
    "nsl": {},
    "arcface": {},
    "snca_ce_mb": {},
    "hr_s2dml": {"label_fraction": 0.2},
}
# None: the frozen default (100 epochs; UC Merced, 1470 training images at batch 128: 1200
# steps). EuroSAT (18,900 training images, 148 batches per epoch): 100 x 1470 / 18,900 ~ 8 epochs,
# the same number of training samples seen (1184 steps; hr_s2dml, with 20 % labels: 240 steps
# against UC Merced's 300, 30 batches per epoch against 3).
EPOCHS: dict[str, int | None] = {"ucmerced": None, "eurosat": 8}


def config(dataset: str, views: str, method: str, seed: int, root: str | None) -> dict[str, Any]:
    """The training options of one run (frozen mode, every other option at its default)."""
    return {
        "method": method,
        "dataset": dataset,
        "root": root,
        "views": VIEW_SETS[views],
        "epochs": EPOCHS[dataset],
        "seed": seed,
        "progress": False,
        **METHODS[method],
    }


def run_one(job: tuple[str, str, str, int, str | None]) -> dict[str, Any]:
    """Train one (dataset, view set, method, seed); return its validation metrics and sizes."""
    from rsdml.train import fit

    started = time.perf_counter()
    metrics = fit(config(*job))
    split = metrics["split"]
    return {
        "key": job[:3],
        "knn": metrics["val"]["knn@10"],
        "map": metrics["val"]["map@20"],
        "seconds": time.perf_counter() - started,
        "images": split["train"] + split["val"] + split["test"],
        "train": split["train"],
        "classes": split["classes"],
    }


def table(dataset: str, results: list[dict[str, Any]], methods: list[str], seeds: list[int]) -> str:
    """The dataset's table: view sets down, methods across."""
    sizes = next(r for r in results if r["key"][0] == dataset)
    epochs = EPOCHS[dataset] or "100 (default)"
    lines = [
        f"\n{dataset}: {sizes['images']} images, {sizes['train']} for training "
        f"(about {sizes['train'] // sizes['classes']} per class; hr_s2dml: 20 % of them labelled), "
        f"{epochs} epochs at batch 128; "
        f"validation kNN@10 +- std / MAP@20, mean over seeds {seeds}",
        f"{'views':14s}{'passes':>8s}" + "".join(f"{m:>24s}" for m in methods) + f"{'mean':>8s}",
    ]
    for views, names in VIEW_SETS.items():
        passes = sizes["images"] + (len(names) - 1) * sizes["train"]
        cells, means = "", []
        for method in methods:
            runs = [r for r in results if r["key"] == (dataset, views, method)]
            knn = [r["knn"] for r in runs]
            spread = statistics.stdev(knn) if len(knn) > 1 else 0.0
            mean_map = statistics.mean(r["map"] for r in runs)
            means.append(statistics.mean(knn))
            cells += f"{f'{means[-1]:.3f} +-{spread:.3f} / {mean_map:.3f}':>24s}"
        lines.append(f"{views:14s}{passes:8d}{cells}{statistics.mean(means):8.3f}")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", default=None, help="data folder (default: $RSDML_DATA)")
    parser.add_argument("--datasets", nargs="+", default=list(EPOCHS), choices=list(EPOCHS))
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=list(METHODS))
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args()
    print(describe_machine(("torch", "onnxruntime")), flush=True)
    started = time.perf_counter()
    from rsdml.train import TrainConfig, prepare_features

    for dataset in args.datasets:  # every view's features, once, before the workers start
        prepare_features(TrainConfig(dataset=dataset, root=args.root, views=VIEWS))
    print(f"features ready after {time.perf_counter() - started:.0f} s", flush=True)
    # one thread per worker: the runs are small and independent
    os.environ.update(OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", RSDML_PROGRESS="0")
    jobs = [
        (dataset, views, method, seed, args.root)
        for dataset in args.datasets
        for seed in args.seeds
        for views in VIEW_SETS
        for method in args.methods
    ]
    with ProcessPoolExecutor(max_workers=args.workers) as pool:
        results = list(pool.map(run_one, jobs))
    for dataset in args.datasets:
        print(table(dataset, results, args.methods, args.seeds))
    seconds = statistics.mean(r["seconds"] for r in results)
    print(
        f"\n{len(results)} runs, {seconds:.0f} s per run on average; "
        f"{time.perf_counter() - started:.0f} s in all, with {args.workers} worker(s)"
    )


if __name__ == "__main__":
    main()
