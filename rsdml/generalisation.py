"""Reading back the studies that go past the papers: unseen classes and transfer across archives.

Both compare a trained embedding with the frozen backbone features on the same images, because
what training adds on classes or archives it never saw is the question:

- :func:`write_unseen_tables`: the ``unseen`` preset's runs (``--protocol unseen-classes``), one
  column per archive (and labelled fraction), mean ± std over class partitions and seeds, with
  the frozen features scored leave-one-out on the same held-out images as a row of their own;
- :func:`write_transfer_tables`: runs with ``--eval-dataset``, one column per direction
  (``ucmerced → eurosat``), the trained embedding on the target archive beside the frozen
  features there and the run's own in-domain score.

Nothing here trains; the frozen features come from the feature cache (computed once if absent).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd
import torch

from rsdml.evaluate import evaluate_leave_one_out
from rsdml.losses import available
from rsdml.report import Run, find_runs, study_settings
from rsdml.tables import summarise, write_tables
from rsdml.train.config import TrainConfig
from rsdml.train.prepare import archive_features_for, features_identity

#: The row of the frozen backbone features in both tables.
FROZEN_FEATURES = "frozen features"
#: The metrics of the short unseen-classes table: the benchmarks' and the study's headline ones.
UNSEEN_TABLE_METRICS: tuple[str, ...] = (
    "map@r", "r_precision", "recall@1", "knn@10", "map@20", "nmi",
)  # fmt: skip
#: The metric of the transfer table.
TRANSFER_METRIC = "knn@10"


def unseen_setting(run: Run) -> str:
    """The table column of an unseen-classes run: its archive, and its labelled fraction when
    it learned from part of the labels (``"ucmerced, 0.2 labelled"``)."""
    config = run.metrics["config"]
    fraction = config.get("label_fraction")
    return config["dataset"] if fraction is None else f"{config['dataset']}, {fraction:g} labelled"


def _run_config(run: Run) -> TrainConfig:
    return TrainConfig.from_dict(run.metrics["config"]).resolved()


def _archive_key(config: TrainConfig) -> tuple[Any, ...]:
    """What the plain features of an archive depend on (the feature cache's own key aside)."""
    return (config.dataset, config.root, repr(config.dataset_options), *features_identity(config))


class FrozenHeldOut:
    """The frozen features' leave-one-out metrics on each partition's held-out images, each
    archive's features read once and each partition evaluated once however many runs share it."""

    def __init__(self, device: str | torch.device = "auto") -> None:
        self.device = device
        self._features: dict[tuple[Any, ...], torch.Tensor] = {}
        self._metrics: dict[tuple[Any, ...], dict[str, float]] = {}

    def features(self, config: TrainConfig) -> torch.Tensor:
        """The archive's plain backbone features, in the run's image order."""
        key = _archive_key(config)
        if key not in self._features:
            self._features[key] = archive_features_for(
                config,
                config.dataset,
                config.root,
                device=str(self.device),
                dataset_options=config.dataset_options,
            ).features
        return self._features[key]

    def metrics(self, run: Run) -> dict[str, float]:
        """Every metric of the frozen features on ``run``'s held-out images (its test split),
        each a query against the others, as the run's own test metrics are computed."""
        config = _run_config(run)
        arrays = run.embeddings
        held_out = tuple(run.metrics["protocol"]["held_out"])
        key = (*_archive_key(config), held_out)
        if key not in self._metrics:
            features = self.features(config)[torch.as_tensor(arrays["test_index"])]
            self._metrics[key] = evaluate_leave_one_out(
                features.float(), arrays["test_labels"], seed=0, device=self.device
            )
        return self._metrics[key]


def unseen_records(
    runs: Sequence[Run], device: str | torch.device = "auto"
) -> list[dict[str, Any]]:
    """One record per unseen-classes run (its test metrics, the (partition, seed) pair as its
    ``seed``), and one :data:`FROZEN_FEATURES` record per column and partition. Runs of the
    standard protocol are left out."""
    frozen = FrozenHeldOut(device)
    records: list[dict[str, Any]] = []
    references: dict[tuple[str, str], dict[str, Any]] = {}
    for run in runs:
        protocol = run.metrics.get("protocol")
        if protocol is None:
            continue
        setting, partition = unseen_setting(run), f"partition {protocol['seed']}"
        records.append(
            {
                "method": run.method,
                "setting": setting,
                "seed": f"{partition}, seed {run.seed}",
                **run.metrics["test"],
            }
        )
        if (setting, partition) not in references:
            references[(setting, partition)] = {
                "method": FROZEN_FEATURES,
                "setting": setting,
                "seed": partition,
                **frozen.metrics(run),
            }
    return records + list(references.values())


def _column_order(study_dir: str | os.PathLike, runs: Sequence[Run]) -> list[str]:
    """The unseen tables' columns in the order of the first study setting that feeds each."""
    settings = study_settings(study_dir)
    first: dict[str, tuple[int, str]] = {}
    for run in runs:
        if run.metrics.get("protocol") is None:
            continue
        column = unseen_setting(run)
        position = settings.index(run.setting) if run.setting in settings else len(settings)
        first[column] = min(first.get(column, (position, column)), (position, column))
    return sorted(first, key=first.__getitem__)


def write_unseen_tables(
    study_dir: str | os.PathLike,
    figures_dir: str | os.PathLike,
    device: str | torch.device = "auto",
) -> pd.DataFrame:
    """The unseen-classes tables of a study folder: ``unseen`` (every metric) and
    ``unseen_benchmark`` (:data:`UNSEEN_TABLE_METRICS`), as CSV, Markdown and LaTeX; returns
    the summary frame (mean ± std over class partitions and seeds)."""
    runs = find_runs(study_dir)
    records = unseen_records(runs, device)
    if not records:
        raise FileNotFoundError(
            f"no unseen-classes run under {study_dir}/cells: run a study whose cells set "
            "protocol: unseen-classes (the unseen preset) first"
        )
    frame = summarise(
        records,
        method_order=[*available(), FROZEN_FEATURES],
        setting_order=_column_order(study_dir, runs),
    )
    figures = Path(figures_dir)
    spread = "mean ± std over class partitions x seeds (frozen features: over partitions)"
    write_tables(frame, figures / "unseen", caption=f"Held-out classes, every metric; {spread}")
    write_tables(
        frame,
        figures / "unseen_benchmark",
        metrics=list(UNSEEN_TABLE_METRICS),
        caption=f"Retrieval among classes never trained on, leave-one-out; {spread}",
    )
    return frame


def method_scores(
    frame: pd.DataFrame, metric: str
) -> tuple[dict[str, dict[str, tuple[float, float]]], dict[str, tuple[float, float]]]:
    """``(panels, references)`` for :func:`rsdml.plots.plot_method_scores`: per column of a
    summary frame, method -> (mean, std) of ``metric``, and the :data:`FROZEN_FEATURES` row as
    the column's reference."""
    panels: dict[str, dict[str, tuple[float, float]]] = {}
    references: dict[str, tuple[float, float]] = {}
    for row in frame.to_dict("records"):
        value = (float(row[f"{metric}_mean"]), float(row[f"{metric}_std"]))
        if row["method"] == FROZEN_FEATURES:
            references[str(row["setting"])] = value
        else:
            panels.setdefault(str(row["setting"]), {})[str(row["method"])] = value
    return panels, references


def transfer_records(runs: Sequence[Run]) -> list[dict[str, Any]]:
    """Per run with a transfer evaluation: the trained embedding on the target archive
    (``<source> → <target>``), the same run on its own archive (``<source> (in domain)``), and
    once per direction the :data:`FROZEN_FEATURES` on the target."""
    records: list[dict[str, Any]] = []
    frozen: dict[str, dict[str, Any]] = {}
    for run in runs:
        transfer = run.metrics.get("transfer")
        if transfer is None:
            continue
        source = run.metrics["config"]["dataset"]
        direction = f"{source} → {transfer['dataset']}"
        records.append(
            {"method": run.method, "setting": direction, "seed": run.seed, **transfer["test"]}
        )
        records.append(
            {
                "method": run.method,
                "setting": f"{source} (in domain)",
                "seed": run.seed,
                **run.metrics["test"],
            }
        )
        frozen.setdefault(
            direction, {"method": FROZEN_FEATURES, "setting": direction, **transfer["frozen"]}
        )
    return records + list(frozen.values())


def write_transfer_tables(
    study_dir: str | os.PathLike, figures_dir: str | os.PathLike
) -> pd.DataFrame:
    """The transfer tables of a study folder: ``transfer`` (every metric, long) and
    ``transfer_knn10`` (:data:`TRANSFER_METRIC`, one column per direction and in-domain
    archive), as CSV, Markdown and LaTeX; returns the summary frame."""
    records = transfer_records(find_runs(study_dir))
    if not records:
        raise FileNotFoundError(
            f"no run with a transfer evaluation under {study_dir}/cells: run a study whose "
            "cells set eval_dataset (the transfer preset) first"
        )
    settings = sorted({str(r["setting"]) for r in records}, key=lambda s: ("→" not in s, s))
    frame = summarise(records, method_order=[*available(), FROZEN_FEATURES], setting_order=settings)
    figures = Path(figures_dir)
    caption = "mean ± std over seeds; frozen features: the backbone alone on the target"
    write_tables(frame, figures / "transfer", caption=f"Transfer across archives; {caption}")
    write_tables(
        frame,
        figures / f"transfer_{TRANSFER_METRIC.replace('@', '')}",
        metrics=[TRANSFER_METRIC],
        layout="wide",
        caption=f"Test {TRANSFER_METRIC} on the target archive and in domain; {caption}",
    )
    return frame
