"""Frozen-feature extraction speed: the backbone's bare forward per inference engine against
rsdml's whole extraction path, in images per second, at each input size.

Four figures per size, all on the same images in one process, each the best of ``--repeats``
timed passes after one warm-up pass:

(a) torch: the backbone's forward (normalisation included) on pre-decoded float tensors in
    [0, 1], channels-last, under ``torch.inference_mode``, with ``--threads`` threads;
(b) each installed engine (ONNX Runtime, OpenVINO): its forward of the exported graph
    (:mod:`rsdml.models.engines`, uint8 in, features out) on the same images, with the threads
    rsdml gives it (every core); its largest difference from (a) is printed beside it;
(c) rsdml: ``rsdml.models.extract_features`` with ``engine="auto"`` from a cold feature cache,
    as a frozen-mode run calls it: the image cache's ``DecodedImages`` stored at ``--native`` px
    (EuroSAT's 64) and resized per batch to the input size, view, conversion, normalisation,
    forward, copy out, checksum and cache write;
(t) the torch path rsdml took before the engines: ``extract_features(engine="torch")`` on images
    cached at the input size, with the runs' reproducible thread count (``RSDML_THREADS``).

It ends with (c)/(best b), (c)/(a) and (c)/(t). Benchmark on a quiet machine and repeat: under
load the ratios shrink.

    python benchmarks/features.py                       # 256 images at 224, 2048 at 64 px
    python benchmarks/features.py --images 512 --sizes 224 --repeats 5
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from collections.abc import Callable

import numpy as np
import torch
from machine import describe_machine

from rsdml.data import DecodedImages
from rsdml.models import create_backbone, extract_features
from rsdml.models.engines import (
    CPU_ENGINES,
    choose_engine,
    engine_installed,
    engine_threads,
    open_engine,
)
from rsdml.runtime import fixed_threads


def best_rate(run: Callable[[], None], images: int, repeats: int) -> float:
    """Images per second of the fastest of ``repeats`` timed calls, after one warm-up call."""
    run()
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - started)
    return images / best


def batches(array: np.ndarray, batch: int) -> list[np.ndarray]:
    """``array`` cut into consecutive batches (the last may be smaller)."""
    return [array[start : start + batch] for start in range(0, len(array), batch)]


def torch_forward(backbone: torch.nn.Module, inputs: list[np.ndarray]) -> np.ndarray:
    """(a): the bare forward, channels-last, on float batches."""
    outputs = []
    with torch.inference_mode():
        for batch in inputs:
            tensor = torch.from_numpy(batch).contiguous(memory_format=torch.channels_last)
            outputs.append(backbone(tensor).numpy())
    return np.concatenate(outputs)


def extraction(backbone: torch.nn.Module, images, engine: str, batch: int, tag: str):
    """A call of rsdml's extraction path from a cold feature cache: every call has its own
    cache key, so every pass computes and writes its entry. The exported graph is cached once
    per machine, like the features, so the warm-up call exports it and later calls reuse it."""
    calls = iter(range(1000))

    def run() -> None:
        extract_features(
            backbone,
            images,
            batch_size=batch,
            device="cpu",
            cache_parts=("benchmark", tag, next(calls)),
            progress=False,
            engine=engine,
        )

    return run


def measure(size: int, count: int, batch: int, repeats: int, native: int) -> None:
    """Print (a), (b), (c) and today's path at one input size."""
    backbone = create_backbone("efficientnet_lite0").eval()
    generator = np.random.default_rng(size)
    # The images as the image cache holds them: decoded at their native side (EuroSAT: 64 px)
    # when that is not above the input size, read at the input size batch by batch.
    stored = generator.integers(0, 256, (count, 3, min(native, size), min(native, size)), np.uint8)
    cached = DecodedImages(stored, size)
    images = np.asarray(cached)  # at the input size: what earlier versions cached
    uint8_batches = batches(images, batch)
    floats = batches(images.astype(np.float32) / 255.0, batch)

    reference = torch_forward(backbone, floats)
    rates = {"torch": best_rate(lambda: torch_forward(backbone, floats), count, repeats)}
    differences = {}
    for name in CPU_ENGINES:
        if not engine_installed(name):
            continue
        with open_engine(backbone, name, torch.device("cpu"), size) as engine:

            def forward(run=engine.run) -> np.ndarray:
                return np.concatenate([run(chunk) for chunk in uint8_batches])

            differences[name] = float(np.abs(forward() - reference).max())
            rates[name] = best_rate(forward, count, repeats)

    with fixed_threads() as run_threads:  # as a run extracts: the reproducible thread count
        chosen = choose_engine("auto", torch.device("cpu"))
        whole = best_rate(extraction(backbone, cached, "auto", batch, f"{size}"), count, repeats)
        today = best_rate(
            extraction(backbone, images, "torch", batch, f"{size}-torch"), count, repeats
        )
    best_engine = max(rates, key=rates.get)
    resized = f", stored at {cached.side} px" if cached.side != size else ""
    print(f"\n{size} px, {count} images{resized}, batch {batch}:")
    for name, rate in rates.items():
        difference = (
            f"  (max |diff| to torch {differences[name]:.1e})" if name in differences else ""
        )
        label = "(a) torch forward" if name == "torch" else f"(b) {name} forward"
        threads = torch.get_num_threads() if name == "torch" else engine_threads()
        print(f"  {label:<30} {rate:8.1f} img/s  {threads} thread(s){difference}")
    print(
        f"  {'(c) rsdml extraction, ' + chosen:<30} {whole:8.1f} img/s  "
        f"{engine_threads() if chosen != 'torch' else run_threads} thread(s), as runs extract"
    )
    print(
        f"  {'(t) torch path before engines':<30} {today:8.1f} img/s  {run_threads} thread(s), "
        "images cached at the input size"
    )
    print(
        f"  (c)/(best b: {best_engine}) = {whole / rates[best_engine]:.2f}   "
        f"(c)/(a) = {whole / rates['torch']:.2f}   (c)/(t) = {whole / today:.2f}"
    )


def main() -> None:
    """Parse the arguments and print the table for each size."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--images",
        type=int,
        help="images per pass (default: 256 at 128 px and above, 2048 below, so that a pass "
        "lasts long enough for the per-call costs to weigh as little as in a real extraction)",
    )
    parser.add_argument("--sizes", type=int, nargs="+", default=[224, 64], help="input sizes")
    parser.add_argument("--batch", type=int, default=64, help="images per forward (default 64)")
    parser.add_argument("--repeats", type=int, default=3, help="timed passes (default 3)")
    parser.add_argument(
        "--native",
        type=int,
        default=64,
        help="side the image cache stores the images at, resized per batch when smaller than "
        "the input size (default 64: EuroSAT)",
    )
    parser.add_argument(
        "--threads", type=int, default=os.cpu_count() or 1, help="torch threads of (a)"
    )
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(describe_machine(("torch", "onnxruntime", "openvino")))
    with tempfile.TemporaryDirectory(prefix="rsdml-bench-") as work:
        os.environ["RSDML_CACHE"] = work
        for size in args.sizes:
            count = args.images or (256 if size >= 128 else 2048)
            measure(size, count, args.batch, args.repeats, args.native)


if __name__ == "__main__":
    main()
