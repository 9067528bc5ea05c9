"""Real-data checks of the foundation, run by .ci/run with RSDML_DATA pointing at UC Merced.

Each check runs the documented command line exactly as a user would and compares the JSON on
the last line of stdout with the expected values (the references in ../shared/data/README.md).
"""

from __future__ import annotations

import atexit
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

RSDML = str(Path(sys.executable).with_name("rsdml"))
ROOT = os.environ["RSDML_DATA"]
# A cache of its own, so that the first embed-eval really starts cold (the real-data tests that
# run before this script have already cached the same features in CI's cache).
os.environ["RSDML_CACHE"] = tempfile.mkdtemp(prefix="rsdml-cold-cache-")
atexit.register(shutil.rmtree, os.environ["RSDML_CACHE"], ignore_errors=True)
REFERENCE = {"knn@10": 0.898, "map@20": 0.851}  # frozen EfficientNet-Lite0, 224 px


def run(*args: str) -> tuple[dict, float]:
    started = time.perf_counter()
    done = subprocess.run([RSDML, *args], check=True, stdout=subprocess.PIPE, text=True)
    seconds = time.perf_counter() - started
    return json.loads(done.stdout.strip().splitlines()[-1]), seconds


def check(condition: bool, message: str) -> None:
    print(("ok   " if condition else "FAIL ") + message, flush=True)
    if not condition:
        sys.exit(1)


split, _ = run("split", "--dataset", "ucmerced", "--root", ROOT)
check(
    (split["classes"], split["train"], split["val"], split["test"]) == (21, 1470, 210, 420),
    f"ucmerced split: {split['classes']} classes, {split['train']}/{split['val']}/{split['test']}",
)

args = [
    "embed-eval",
    "--dataset",
    "ucmerced",
    "--root",
    ROOT,
    "--backbone",
    "efficientnet_lite0",
    "--image-size",
    "224",
]
first, first_seconds = run(*args)
for name, reference in REFERENCE.items():
    check(
        abs(first[name] - reference) <= 0.01,
        f"embed-eval {name} = {first[name]:.4f} (reference {reference}, tolerance 0.01)",
    )
second, second_seconds = run(*args)
check(second == first, "second embed-eval gives identical metrics")
check(
    second_seconds < 0.5 * first_seconds,
    f"second embed-eval reuses the cache: {second_seconds:.1f} s against {first_seconds:.1f} s",
)

# A folder of class sub-folders that rsdml has never seen (upper-case extensions, nested names).
with tempfile.TemporaryDirectory() as tmp:
    source = Path(ROOT) / "UCMerced_LandUse" / "Images"
    for cls in ("beach", "forest", "harbor"):
        target = Path(tmp) / f"My {cls.title()}"
        target.mkdir()
        for image in sorted((source / cls).iterdir())[:20]:
            shutil.copy(image, target / (image.stem + ".JPG"))
    metrics, _ = run(
        "embed-eval",
        "--dataset",
        "folder",
        "--root",
        tmp,
        "--backbone",
        "efficientnet_lite0",
        "--image-size",
        "128",
    )
    check(
        0.0 <= metrics["knn@10"] <= 1.0 and len(metrics) >= 17,
        f"an unseen folder dataset evaluates: knn@10 = {metrics['knn@10']:.3f}",
    )
print("real-data checks passed")
