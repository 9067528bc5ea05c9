"""Frozen-feature extraction speed: the backbone's bare forward per inference engine against the
path rsdml takes today, in images per second, at each input size.

Three figures per size, all on the same images in one process, each the best of ``--repeats``
timed passes after one warm-up pass:

(a) torch: the backbone's forward (normalisation included) on pre-decoded float tensors in
    [0, 1], channels-last, under ``torch.inference_mode``;
(b) each installed engine (ONNX Runtime, OpenVINO): the same network exported to ONNX, on the
    same float tensors; its largest difference from (a) is printed beside it;
(c) rsdml: ``rsdml.models.extract_features`` from a cold feature cache on the uint8 images
    (view, conversion, normalisation, forward, copy out), as a frozen-mode run calls it: with
    the runs' reproducible thread count (``RSDML_THREADS``, default 1).

It ends with (c)/(best b) and (c)/(a). Benchmark on a quiet machine and repeat: under load the
ratios shrink. (a) and (b) use the machine's cores unless ``--threads`` says otherwise.

    python benchmarks/features.py                       # 256 images at 224 and 64 px
    python benchmarks/features.py --images 512 --sizes 224 --repeats 5
"""

from __future__ import annotations

import argparse
import importlib.metadata
import os
import platform
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from rsdml.models import create_backbone, extract_features
from rsdml.runtime import fixed_threads


def machine() -> str:
    """A line naming the processor, the core count and the library versions."""
    model = platform.processor() or "unknown processor"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    versions = [f"torch {torch.__version__}"]
    for package in ("onnxruntime", "openvino"):
        try:
            versions.append(f"{package} {importlib.metadata.version(package)}")
        except importlib.metadata.PackageNotFoundError:
            versions.append(f"{package} not installed")
    return f"{model}, {os.cpu_count()} cores, Python {platform.python_version()}; " + ", ".join(
        versions
    )


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


def export_onnx(backbone: torch.nn.Module, size: int, folder: Path) -> Path:
    """The backbone as an ONNX graph with a dynamic batch dimension."""
    path = folder / f"backbone-{size}.onnx"
    example = torch.rand(2, 3, size, size)
    with warnings.catch_warnings():  # the exporter's tracing warnings say nothing about speed
        warnings.simplefilter("ignore")
        _export(backbone, example, path)
    return path


def _export(backbone: torch.nn.Module, example: torch.Tensor, path: Path) -> None:
    torch.onnx.export(
        backbone,
        (example,),
        str(path),
        input_names=["images"],
        output_names=["features"],
        dynamic_axes={"images": {0: "batch"}, "features": {0: "batch"}},
        opset_version=17,
        dynamo=False,
    )


def engine_runners(
    graph: Path, threads: int
) -> dict[str, Callable[[list[np.ndarray]], np.ndarray]]:
    """A forward function per installed engine, each over the exported graph."""
    runners: dict[str, Callable[[list[np.ndarray]], np.ndarray]] = {}
    try:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        session = ort.InferenceSession(str(graph), options, providers=["CPUExecutionProvider"])

        def run_ort(inputs: list[np.ndarray]) -> np.ndarray:
            return np.concatenate([session.run(None, {"images": batch})[0] for batch in inputs])

        runners["onnxruntime"] = run_ort
    except ImportError:
        pass
    try:
        import openvino as ov

        core = ov.Core()
        compiled = core.compile_model(
            core.read_model(str(graph)),
            "CPU",
            {"INFERENCE_NUM_THREADS": threads, "INFERENCE_PRECISION_HINT": "f32"},
        )
        request = compiled.create_infer_request()

        def run_openvino(inputs: list[np.ndarray]) -> np.ndarray:
            return np.concatenate(
                [np.array(request.infer({0: batch})[compiled.output(0)]) for batch in inputs]
            )

        runners["openvino"] = run_openvino
    except ImportError:
        pass
    return runners


def measure(size: int, count: int, batch: int, repeats: int, threads: int, work: Path) -> None:
    """Print (a), (b) and (c) at one input size."""
    backbone = create_backbone("efficientnet_lite0").eval()
    generator = np.random.default_rng(size)
    images = generator.integers(0, 256, (count, 3, size, size), dtype=np.uint8)
    floats = batches(images.astype(np.float32) / 255.0, batch)

    reference = torch_forward(backbone, floats)
    rates = {"torch": best_rate(lambda: torch_forward(backbone, floats), count, repeats)}
    differences = {}
    graph = export_onnx(backbone, size, work)
    for name, run in engine_runners(graph, threads).items():
        differences[name] = float(np.abs(run(floats) - reference).max())
        rates[name] = best_rate(lambda run=run: run(floats), count, repeats)

    caches = iter(range(repeats + 1))

    def rsdml_path() -> None:
        # a fresh cache folder every call: each pass starts cold and writes its entry
        os.environ["RSDML_CACHE"] = str(work / f"cache-{size}-{next(caches)}")
        extract_features(
            backbone,
            images,
            batch_size=batch,
            device="cpu",
            cache_parts=("benchmark", size),
            progress=False,
        )

    with fixed_threads() as run_threads:  # as a run extracts: the reproducible thread count
        whole = best_rate(rsdml_path, count, repeats)
    best_engine = max(rates, key=rates.get)
    print(f"\n{size} px, {count} images, batch {batch}, {threads} thread(s):")
    for name, rate in rates.items():
        difference = (
            f"  (max |diff| to torch {differences[name]:.1e})" if name in differences else ""
        )
        label = "(a) torch forward" if name == "torch" else f"(b) {name} forward"
        print(f"  {label:<26} {rate:8.1f} img/s{difference}")
    print(
        f"  {'(c) rsdml extraction':<26} {whole:8.1f} img/s  ({run_threads} thread(s), as runs use)"
    )
    print(
        f"  (c)/(best b: {best_engine}) = {whole / rates[best_engine]:.2f}   "
        f"(c)/(a) = {whole / rates['torch']:.2f}"
    )


def main() -> None:
    """Parse the arguments and print the table for each size."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=256, help="images per pass (default 256)")
    parser.add_argument("--sizes", type=int, nargs="+", default=[224, 64], help="input sizes")
    parser.add_argument("--batch", type=int, default=64, help="images per forward (default 64)")
    parser.add_argument("--repeats", type=int, default=3, help="timed passes (default 3)")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(machine())
    with tempfile.TemporaryDirectory(prefix="rsdml-bench-") as work:
        for size in args.sizes:
            measure(size, args.images, args.batch, args.repeats, args.threads, Path(work))


if __name__ == "__main__":
    main()
