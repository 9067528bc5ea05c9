"""Fetching and unpacking dataset archives: resumable, verified and atomic.

A download goes to ``<file>.part`` (continued with an HTTP ``Range`` request when a previous
attempt was cut off), is checked against its MD5/SHA-256 when one is known, and only then renamed
to its final name. Archives are unpacked into a temporary folder next to the destination and moved
into place entry by entry, so an interrupted run never leaves a half-extracted dataset that looks
complete. Every failure names the URL, the path and the manual alternative.
"""

from __future__ import annotations

import hashlib
import http.client
import math
import os
import shutil
import tarfile
import tempfile
import urllib.error
import urllib.request
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

from rsdml.runtime import progress as progress_bar
from rsdml.storage import DATA_ENV

CHUNK_SIZE = 1 << 20
USER_AGENT = "rsdml-downloader/1.0"


class DatasetNotFoundError(FileNotFoundError):
    """A dataset is not on disk (or could not be fetched); the message says where and how to get it."""


class DownloadError(DatasetNotFoundError):
    """A download failed (offline, HTTP error, interrupted); a partial file is kept for resuming."""


class ChecksumError(DatasetNotFoundError):
    """A downloaded file does not match its published checksum."""


class ArchiveInfo(Protocol):
    """What :func:`download_and_extract` needs to know about a dataset."""

    name: str
    urls: tuple[str, ...]
    filename: str | None
    md5: str | None
    sha256: str | None


def manual_hint(path: Path | str, urls: Sequence[str] = (), homepage: str | None = None) -> str:
    """The standard 'how to get the data by hand' sentence used by every not-found message."""
    alternative = (
        f"point --root (the `root` argument) or ${DATA_ENV} at a folder that already holds a copy"
    )
    if urls:
        how = "download " + " or ".join(urls) + f" and unpack it into {path}"
    elif homepage:
        how = f"download it from {homepage} and unpack it into {path}"
    else:
        return alternative[0].upper() + alternative[1:] + "."
    return f"To get it by hand, {how}; or {alternative}."


def file_digest(path: Path | str, algorithm: str) -> str:
    """Hex digest (``"md5"`` or ``"sha256"``) of a file, read in chunks."""
    digest = hashlib.new(algorithm)
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(CHUNK_SIZE), b""):
            digest.update(block)
    return digest.hexdigest()


def verify_checksum(path: Path | str, *, md5: str | None = None, sha256: str | None = None) -> None:
    """Raise :class:`ChecksumError` when ``path`` does not match the given digests (None: skipped)."""
    for algorithm, expected in (("md5", md5), ("sha256", sha256)):
        if expected is None:
            continue
        actual = file_digest(path, algorithm)
        if actual.lower() != expected.lower():
            raise ChecksumError(
                f"{path} has {algorithm} {actual}, expected {expected}: the file is corrupted or "
                "not the published archive"
            )


def _open(url: str, offset: int, timeout: float) -> http.client.HTTPResponse:
    request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT})
    if offset > 0:
        request.add_header("Range", f"bytes={offset}-")
    return urllib.request.urlopen(request, timeout=timeout)


def _fetch_once(url: str, part: Path, *, timeout: float, progress: bool | None, desc: str) -> None:
    """One HTTP attempt that appends to (or restarts) ``part``; raises on any failure."""
    offset = part.stat().st_size if part.exists() else 0
    try:
        response = _open(url, offset, timeout)
    except urllib.error.HTTPError as error:
        if error.code == 416 and offset > 0:
            # Range not satisfiable: the part file already holds the whole resource -- unless the
            # server's total says it is longer than the resource, then it is junk: start over.
            total = error.headers.get("Content-Range", "").rpartition("/")[2]
            if total.isdigit() and int(total) != offset:
                part.unlink()
                raise OSError(f"{part} is longer than the resource; discarded") from error
            return
        raise
    with response:
        status = response.status
        if offset > 0 and status == 206:
            content_range = response.headers.get("Content-Range", "")
            if not content_range.startswith(f"bytes {offset}-"):
                raise OSError(f"server answered the resume request with {content_range!r}")
            mode = "ab"
        else:
            # A 200 answer to a Range request means the server ignores ranges: start over.
            offset, mode = 0, "wb"
        length = response.headers.get("Content-Length")
        expected = int(length) if length is not None else None
        chunks = iter(lambda: response.read(CHUNK_SIZE), b"")
        total = math.ceil(expected / CHUNK_SIZE) if expected else None
        received = 0
        with open(part, mode) as handle:
            try:
                for block in progress_bar(
                    chunks, desc=desc, total=total, enabled=progress, unit="MiB"
                ):
                    handle.write(block)
                    received += len(block)
            except http.client.IncompleteRead as cut:
                # Keep what arrived before the connection dropped, so the next attempt resumes.
                handle.write(cut.partial)
                raise
            finally:
                handle.flush()
                os.fsync(handle.fileno())
        if expected is not None and received < expected:
            raise http.client.IncompleteRead(b"", expected - received)


def download_url(
    url: str,
    path: Path | str,
    *,
    md5: str | None = None,
    sha256: str | None = None,
    progress: bool | None = None,
    retries: int = 2,
    timeout: float = 60.0,
) -> Path:
    """Download ``url`` to ``path`` with resume, checksum verification and an atomic rename.

    An existing ``path`` that matches the checksums (or any existing ``path`` when none are given)
    is returned without touching the network. A ``<path>.part`` left by an interrupted attempt is
    continued with an HTTP Range request; a server that ignores ranges makes it start over.

    Args:
        url: http(s) or file URL.
        path: final file path; its folder is created.
        md5: expected MD5 hex digest, or None.
        sha256: expected SHA-256 hex digest, or None.
        progress: show a progress bar (None: follow ``RSDML_PROGRESS``).
        retries: extra attempts (each resuming) after a failed or cut-off transfer.
        timeout: socket timeout in seconds.

    Returns:
        The final path.

    Raises:
        DownloadError: the server could not be reached or the transfer kept failing; the
            partial file is kept so that the next call resumes.
        ChecksumError: the completed file does not match; it is deleted.
    """
    path = Path(path)
    part = path.with_name(path.name + ".part")
    if path.exists():
        try:
            verify_checksum(path, md5=md5, sha256=sha256)
            return path
        except ChecksumError:
            path.unlink()  # a stale or damaged copy: fetch it again below
    path.parent.mkdir(parents=True, exist_ok=True)
    last_error: BaseException | None = None
    for _attempt in range(retries + 1):
        try:
            _fetch_once(url, part, timeout=timeout, progress=progress, desc=f"download {path.name}")
            last_error = None
            break
        except urllib.error.HTTPError as error:
            last_error = error
            if 400 <= error.code < 500 and error.code not in (408, 429):
                break  # not found / forbidden: retrying will not help
        except (urllib.error.URLError, OSError, http.client.HTTPException) as error:
            last_error = error
    if last_error is not None:
        kept = part.stat().st_size if part.exists() else 0
        resume = f" {kept} bytes were kept in {part}; run again to resume." if kept else ""
        raise DownloadError(
            f"could not download {url} to {path}: {last_error}.{resume} "
            f"{manual_hint(path.parent, [url])}"
        ) from last_error
    try:
        verify_checksum(part, md5=md5, sha256=sha256)
    except ChecksumError as error:
        part.unlink(missing_ok=True)
        raise ChecksumError(
            f"download of {url}: {error}. The file was removed: run again to download it afresh, "
            "or download it by hand and compare its checksum."
        ) from None
    os.replace(part, path)
    return path


def _safe_members_zip(archive: zipfile.ZipFile, dest: Path) -> None:
    root = dest.resolve()
    for name in archive.namelist():
        target = (dest / name).resolve()
        if target != root and root not in target.parents:
            raise OSError(f"archive member {name!r} would be written outside {dest}")


def extract_archive(path: Path | str, dest: Path | str) -> list[Path]:
    """Unpack a zip or tar archive into ``dest`` atomically, entry by top-level entry.

    The archive is unpacked into a temporary folder inside ``dest``; each top-level entry is then
    renamed into place. Entries that already exist in ``dest`` are left untouched (an earlier
    extraction finished them). Members that would land outside ``dest`` are refused.

    Returns:
        The top-level paths in ``dest`` that the archive provides.

    Raises:
        OSError: unknown archive format (e.g. RAR: unpack it by hand) or unsafe member paths.
    """
    path, dest = Path(path), Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".extract-{path.name}-", dir=dest))
    try:
        if zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as archive:
                _safe_members_zip(archive, staging)
                archive.extractall(staging)
        elif tarfile.is_tarfile(path):
            with tarfile.open(path) as archive:
                archive.extractall(staging, filter="data")
        else:
            raise OSError(
                f"{path} is neither a zip nor a tar archive (RAR archives such as the official "
                f"NWPU-RESISC45 release must be unpacked by hand, e.g. `unrar x`, into {dest})"
            )
        provided = []
        for entry in sorted(staging.iterdir()):
            target = dest / entry.name
            if not target.exists():
                os.replace(entry, target)
            provided.append(target)
        return provided
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def download_and_extract(
    info: ArchiveInfo,
    root: Path | str,
    *,
    checksum: bool = False,
    progress: bool | None = None,
    keep_archive: bool = True,
) -> Path:
    """Fetch a dataset's archive into ``root`` (trying each of ``info.urls``) and unpack it there.

    An archive already present in ``root`` is reused (verified when ``checksum``). Checksums are
    verified only when ``checksum`` is true, as in torchgeo (hashing large archives is slow).

    Returns:
        ``root``.

    Raises:
        DatasetNotFoundError: no URL is known for the dataset (manual download only), or every
            URL failed; the message lists them and the manual alternative.
        ChecksumError: the archive does not match the published checksum.
    """
    root = Path(root)
    homepage = getattr(info, "homepage", None)
    if not info.urls or not info.filename:
        raise DatasetNotFoundError(
            f"{info.name} cannot be downloaded automatically (no direct download link is "
            f"published). {manual_hint(root, (), homepage)}"
        )
    archive = root / info.filename
    md5 = info.md5 if checksum else None
    sha256 = info.sha256 if checksum else None
    errors: list[str] = []
    for url in info.urls:
        try:
            download_url(url, archive, md5=md5, sha256=sha256, progress=progress)
            break
        except ChecksumError:
            raise
        except DownloadError as error:
            errors.append(f"{url}: {error.__cause__ or error}")
    else:
        raise DownloadError(
            f"could not download {info.name} to {archive} (no network, or the hosts are down):\n  "
            + "\n  ".join(errors)
            + f"\n{manual_hint(root, info.urls, homepage)}"
        )
    extract_archive(archive, root)
    if not keep_archive:
        archive.unlink(missing_ok=True)
    return root
