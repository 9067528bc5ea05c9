"""Fixtures for the data tests: an isolated cache, seeded tiny dataset trees, a local HTTP server.

No image file is committed: every tree is generated here from a seed, in the on-disk layout of
the dataset it imitates (a handful of 8 x 8 images per class).
"""

from __future__ import annotations

import io
import re
import threading
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from PIL import Image

from rsdml.data import KnownDataset


@pytest.fixture(autouse=True)
def isolated_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test gets its own cache folder, no data root from the environment, no bars."""
    cache = tmp_path / "cache"
    monkeypatch.setenv("RSDML_CACHE", str(cache))
    monkeypatch.delenv("RSDML_DATA", raising=False)
    monkeypatch.setenv("RSDML_PROGRESS", "0")
    return cache


def write_image(path: Path, rng: np.random.Generator, size: int = 8) -> Path:
    """A small random RGB image; the format follows the suffix (.tif, .jpg, .png...)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    pixels = rng.integers(0, 256, (size, size, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(path)
    return path


def make_tree(
    root: Path,
    classes: list[str] | tuple[str, ...],
    per_class: int = 2,
    seed: int = 0,
    suffix: str = ".jpg",
    subdir: str = "",
) -> Path:
    """Write ``root/subdir/<class>/<class>_<i><suffix>``; returns the folder of class folders."""
    rng = np.random.default_rng(seed)
    base = root / subdir if subdir else root
    for name in classes:
        for index in range(per_class):
            write_image(base / name / f"{name}_{index:02d}{suffix}", rng)
    return base


# The file suffix each known dataset ships with (UC Merced: TIFF; the others: JPEG).
SUFFIXES = {
    "ucmerced": ".tif",
    "aid": ".jpg",
    "nwpu_resisc45": ".jpg",
    "patternnet": ".jpg",
    "eurosat": ".jpg",
}


@pytest.fixture
def known_tree() -> Callable[..., Path]:
    """Build a tiny copy of a known dataset in its official archive layout under a root."""

    def build(dataset: type[KnownDataset], root: Path, per_class: int = 2, seed: int = 0) -> Path:
        return make_tree(
            root,
            dataset.classes,
            per_class=per_class,
            seed=seed,
            suffix=SUFFIXES[dataset.name],
            subdir=dataset.subdirs[0],
        )

    return build


def zip_bytes(members: dict[str, bytes]) -> bytes:
    """A zip archive (in memory) with the given member names and contents."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def tree_zip(dataset: type[KnownDataset], per_class: int = 1, seed: int = 0) -> bytes:
    """A zip of a tiny dataset copy laid out as the official archive."""
    rng = np.random.default_rng(seed)
    members = {}
    for name in dataset.classes:
        for index in range(per_class):
            buffer = io.BytesIO()
            pixels = rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(
                buffer, format="TIFF" if dataset.name == "ucmerced" else "JPEG"
            )
            suffix = SUFFIXES[dataset.name]
            members[f"{dataset.subdirs[0]}/{name}/{name}{index:02d}{suffix}"] = buffer.getvalue()
    return zip_bytes(members)


@pytest.fixture
def fakes() -> SimpleNamespace:
    """Seeded generators of tiny images, dataset trees and zip archives (test modules use this
    fixture rather than importing conftest, whose module name other rooms share)."""
    return SimpleNamespace(
        write_image=write_image, make_tree=make_tree, zip_bytes=zip_bytes, tree_zip=tree_zip
    )


@dataclass
class FileServer:
    """State of the local test server: what it serves and what it was asked."""

    url: str
    files: dict[str, bytes] = field(default_factory=dict)
    # path -> number of bytes after which the next full-body answer drops the connection (once)
    cut_after: dict[str, int] = field(default_factory=dict)
    # path -> number of bytes after which every answer drops the connection (a flaky network)
    cut_every: dict[str, int] = field(default_factory=dict)
    ignore_range: bool = False
    requests: list[tuple[str, str | None]] = field(default_factory=list)


def _handler(state: FileServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:  # noqa: N802 -- http.server's naming
            range_header = self.headers.get("Range")
            state.requests.append((self.path, range_header))
            data = state.files.get(self.path)
            if data is None:
                self.send_error(404, "not found")
                return
            start = 0
            match = re.fullmatch(r"bytes=(\d+)-", range_header or "")
            partial = match is not None and not state.ignore_range
            if partial:
                start = int(match.group(1))
                if start >= len(data):
                    self.send_response(416)
                    self.send_header("Content-Range", f"bytes */{len(data)}")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
            body = data[start:]
            self.send_response(206 if partial else 200)
            if partial:
                self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
            self.send_header("Accept-Ranges", "bytes")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            cut = state.cut_after.pop(self.path, state.cut_every.get(self.path))
            if cut is not None:
                # Simulate a dropped connection: promise the whole body, send only part of it.
                self.wfile.write(body[:cut])
                self.wfile.flush()
                self.close_connection = True
                return
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002
            return

    return Handler


@pytest.fixture
def http_server(monkeypatch: pytest.MonkeyPatch) -> Iterator[FileServer]:
    """A threaded HTTP/1.1 server on 127.0.0.1 with Range support, torn down after the test."""
    for name in (
        "http_proxy",
        "HTTP_PROXY",
        "https_proxy",
        "HTTPS_PROXY",
        "all_proxy",
        "ALL_PROXY",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    state = FileServer(url="")
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    server.daemon_threads = True
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture
def closed_port_url() -> str:
    """A URL on 127.0.0.1 where nothing listens (an offline machine, as far as we can tell)."""
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}/nothing.zip"
