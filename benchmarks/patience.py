"""What early stopping costs and saves: frozen-mode patience measured on full-length runs.

A run stopped by patience is the full run cut short (the same epochs, bit for bit, up to the
stop: ``tests/train/test_engine.py``), so one set of full-length runs answers the question for
every patience: the stopped run ends ``patience`` epochs after its best validation score so far,
and selects the best epoch among those it ran. For each patience the script prints the share of
the epochs that still run, how many runs select another epoch than the full run, and how much
lower their selected validation kNN@10 is. Only validation scores are read.

The runs are the `ucmerced` grid's settings of every kind (clean, uniform and label-dependent
noise, a labelled fraction) for every method the grid trains on them, one seed, trained with
``patience=0`` (every epoch):

    python benchmarks/patience.py --root /path/to/data --out /tmp/patience-runs
    python benchmarks/patience.py --runs /tmp/patience-runs   # only the analysis

Training them takes about 8 minutes on 2 CPU cores from cached features (each run is resumable:
the folder keeps finished runs).
"""

from __future__ import annotations

import argparse
import json
import os
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

from machine import describe_machine  # benchmarks/machine.py

from rsdml.study.spec import cell_config, load_study
from rsdml.train.engine import patience_ran_out

SETTINGS = ("clean", "uniform-0.5", "dependent-0.3", "labelled-0.1")
PATIENCES = (10, 20, 25, 30, 35, 40)
SELECTION = "val_knn@10"


def cells(root: str | None, seed: int) -> list[tuple[str, dict[str, Any]]]:
    """(name, configuration) of every cell of the ucmerced preset in SETTINGS, at ``seed``."""
    study = load_study("ucmerced")
    chosen = []
    for setting in SETTINGS:
        for method in study.only.get(setting, study.methods):
            config = cell_config(study, setting, method, seed)
            config.update(patience=0, progress=False, root=root)
            chosen.append((f"{method}/{setting}", config))
    return chosen


def train(item: tuple[str, dict[str, Any], str]) -> str:
    """Train one cell into its folder (a finished one is read back at once)."""
    from rsdml.train import fit

    name, config, out = item
    fit(config, out=Path(out) / name.replace("/", "__"), reuse_data=True)
    return name


def stopped(scores: list[float], patience: int) -> int:
    """How many epochs a run with these validation scores runs under ``patience`` (the
    engine's own rule, :func:`rsdml.train.engine.patience_ran_out`)."""
    best, best_epoch = float("-inf"), 0
    for epoch, score in enumerate(scores, start=1):
        if score > best:
            best, best_epoch = score, epoch
        if patience_ran_out(epoch, best_epoch, patience):
            return epoch
    return len(scores)


def analyse(runs_dir: Path) -> None:
    """Print the table over every full-length run under ``runs_dir``."""
    histories = {}
    for path in sorted(runs_dir.rglob("metrics.json")):
        metrics = json.loads(path.read_text())
        if metrics["config"].get("patience") not in (0, None):
            continue  # a run that stopped early is no full-length reference
        histories[path.parent.name] = [record[SELECTION] for record in metrics["history"]]
    if not histories:
        raise SystemExit(f"no full-length run (patience 0) under {runs_dir}")
    print(f"{len(histories)} full-length runs from {runs_dir}")
    print(
        "| patience | epochs run | runs selecting another epoch | mean loss of selected "
        "val kNN@10 (points) | largest loss (points) |"
    )
    print("|---:|---:|---:|---:|---:|")
    total = sum(len(scores) for scores in histories.values())
    for patience in PATIENCES:
        ran, changed, losses = 0, 0, []
        for scores in histories.values():
            epochs = stopped(scores, patience)
            ran += epochs
            loss = max(scores) - max(scores[:epochs])
            changed += loss > 0
            losses.append(100 * loss)
        print(
            f"| {patience} | {100 * ran / total:.0f} % | {changed} of {len(histories)} | "
            f"{sum(losses) / len(losses):.2f} | {max(losses):.2f} |"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--root", help="data root holding UCMerced_LandUse (default: $RSDML_DATA)")
    parser.add_argument("--out", type=Path, help="train the runs into this folder first")
    parser.add_argument("--runs", type=Path, help="analyse the runs already in this folder")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workers", type=int, default=min(2, os.cpu_count() or 1))
    args = parser.parse_args()
    if (args.out is None) == (args.runs is None):
        parser.error("give --out (train, then analyse) or --runs (analyse only)")
    print(describe_machine())
    if args.out is not None:
        os.environ.setdefault("OMP_NUM_THREADS", "1")
        items = [(name, config, str(args.out)) for name, config in cells(args.root, args.seed)]
        with ProcessPoolExecutor(args.workers) as pool:
            for name in pool.map(train, items):
                print(f"  trained {name}", flush=True)
    analyse(args.out or args.runs)


if __name__ == "__main__":
    main()
