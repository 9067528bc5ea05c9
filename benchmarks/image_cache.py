"""Decoded-image cache at the images' native size: what it costs to build and to read at the
model's input size.

On one dataset (default EuroSAT) and an empty temporary cache (``RSDML_CACHE``), it decodes every
image cold through ``rsdml.data.images.load_cached_images`` at ``--size`` and prints:

- the decode time (decoding, checksum and writing the cache entry);
- the stored shape, the cache entry's size on disk, and beside it the size of the layout before
  images-v3, every image stored at size x size (N * 3 * size * size bytes: computed, not written);
- the process's peak resident memory (``ru_maxrss``) after the imports, after the decode, and
  after reading every row at ``--size`` in batches of ``--batch`` (plain rows, no views), as a
  frozen feature extraction reads them;
- the per-image cost of that per-batch resize, with the default threads (the full pass) and with
  one thread (on ``--sample`` batches);
- a check that ``--verify`` random rows are byte-identical to ``read_image(path, size)``.

    python benchmarks/image_cache.py --root /work/shared/data           # EuroSAT at 224 px
    python benchmarks/image_cache.py --root /data --dataset ucmerced --size 224
"""

from __future__ import annotations

import argparse
import os
import resource
import tempfile
import time
from pathlib import Path

import numpy as np
from machine import describe_machine

from rsdml.data import load_scene_list, read_image
from rsdml.data.images import RESIZE_WORKERS, load_cached_images, resize_rows
from rsdml.storage import data_root


def peak_mb() -> float:
    """The process's peak resident memory so far, in MB (Linux reports ru_maxrss in KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 1e6


def folder_bytes(folder: Path) -> int:
    """Total size of the files under ``folder``."""
    return sum(path.stat().st_size for path in folder.rglob("*") if path.is_file())


def main() -> None:
    """Parse the arguments, build the cache cold, read it back and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", default=None, help="data root (default: $RSDML_DATA)")
    parser.add_argument("--dataset", default="eurosat", help="dataset name (default eurosat)")
    parser.add_argument("--size", type=int, default=224, help="model input side (default 224)")
    parser.add_argument("--batch", type=int, default=64, help="rows per read (default 64)")
    parser.add_argument(
        "--sample", type=int, default=40, help="batches timed with one thread (default 40)"
    )
    parser.add_argument("--verify", type=int, default=200, help="rows checked against read_image")
    parser.add_argument("--progress", action="store_true", help="show the decoding bar")
    args = parser.parse_args()
    print(describe_machine(("numpy", "Pillow")))
    root = data_root(args.root)  # before RSDML_CACHE moves, as the default root lives in it
    files = list(load_scene_list(args.dataset, root).files)
    count, size, batch = len(files), args.size, args.batch
    print(f"{args.dataset}: {count} images under {root}, read at {size} px")
    print(f"  peak resident memory after the imports      {peak_mb():8.0f} MB")

    with tempfile.TemporaryDirectory(prefix="rsdml-image-cache-") as cache:
        os.environ["RSDML_CACHE"] = cache
        started = time.perf_counter()
        loaded = load_cached_images(files, size, progress=args.progress)
        decode_s = time.perf_counter() - started
        images = loaded.array
        on_disk = folder_bytes(Path(cache) / "images")
        old_layout = len(images) * 3 * size * size
        print(f"  decode, cold cache                          {decode_s:8.1f} s")
        print(f"  stored shape {images.stored.shape}, read as {images.shape}")
        print(f"  cache on disk                               {on_disk / 1e6:8.0f} MB")
        print(f"  old layout at {size} px (N*3*{size}*{size}, computed) {old_layout / 1e6:8.0f} MB")
        print(f"  peak resident memory after the decode       {peak_mb():8.0f} MB")

        started = time.perf_counter()
        for start in range(0, len(images), batch):
            rows = images[start : start + batch]
            assert rows.shape[1:] == (3, size, size)
        read_s = time.perf_counter() - started
        print(f"  peak resident memory after reading every row at {size} px in batches of {batch}")
        print(f"                                              {peak_mb():8.0f} MB")
        what = "resize" if images.side != size else "copy (stored at the input size)"
        print(
            f"  per-batch {what}, {RESIZE_WORKERS} thread(s): {read_s:.1f} s for the pass, "
            f"{read_s / len(images) * 1e3:.3f} ms per image"
        )
        if images.side != size:
            sample = images.stored[: args.sample * batch]
            started = time.perf_counter()
            for start in range(0, len(sample), batch):
                resize_rows(sample[start : start + batch], size, workers=1)
            one_s = time.perf_counter() - started
            print(
                f"  per-batch resize, 1 thread ({len(sample)} images): "
                f"{one_s / len(sample) * 1e3:.3f} ms per image"
            )

        rows = np.random.default_rng(0).choice(len(images), min(args.verify, len(images)), False)
        same = all(
            np.array_equal(images[int(row)], read_image(files[row], size).transpose(2, 0, 1))
            for row in rows
        )
        print(f"  {len(rows)} random rows byte-identical to read_image(path, {size}): {same}")


if __name__ == "__main__":
    main()
