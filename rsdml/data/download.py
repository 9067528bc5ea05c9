"""Fetching and unpacking dataset archives: resumable, verified and atomic.

A download goes to ``<file>.part`` (continued with an HTTP ``Range`` request when a previous
attempt was cut off), is checked against its MD5/SHA-256 when one is known and, for archives, read
back as a zip or tar, and only then renamed to its final name; a part file that fails either check
is deleted, so that the next run starts afresh instead of resuming garbage. Archives are unpacked into a temporary folder next to the destination and moved
into place entry by entry, so an interrupted run never leaves a half-extracted dataset that looks
complete. Every failure names the URL, the path and the manual alternative.
"""

from __future__ import annotations

import hashlib
import http.client
import lzma
import math
import os
import shutil
import sys
import tarfile
import urllib.error
import urllib.request
import zipfile
import zlib
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Protocol

from rsdml.errors import UserError
from rsdml.runtime import progress as progress_bar
from rsdml.storage import DATA_ENV, temporary_folder

CHUNK_SIZE = 1 << 20
USER_AGENT = "rsdml-downloader/1.0"


class DatasetNotFoundError(FileNotFoundError, UserError):
    """A dataset is not on disk (or could not be fetched); the message says where and how to get it."""


class DownloadError(DatasetNotFoundError):
    """A download failed (offline, HTTP error, interrupted); a partial file is kept for resuming."""


class ChecksumError(DatasetNotFoundError):
    """A downloaded file does not match its published checksum."""


class ArchiveError(DatasetNotFoundError):
    """An archive is truncated, damaged, unsafe, or in a format rsdml cannot unpack (e.g. RAR)."""


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


def _note(message: str) -> None:
    """One line on stderr for something the user should know but that is not an error."""
    print(f"rsdml: {message}", file=sys.stderr, flush=True)


def _kept(part: Path) -> str:
    """What an interrupted download left behind, and what the next run does with it."""
    kept = part.stat().st_size if part.exists() else 0
    if kept:
        return f"{kept:,} bytes were kept in {part}: run again to resume from there."
    return "Nothing was kept: the next run starts from the beginning."


def download_url(
    url: str,
    path: Path | str,
    *,
    md5: str | None = None,
    sha256: str | None = None,
    progress: bool | None = None,
    retries: int = 2,
    timeout: float = 60.0,
    check: Callable[[Path], object] | None = None,
) -> Path:
    """Download ``url`` to ``path`` with resume, verification and an atomic rename.

    An existing ``path`` that passes the checks (or any existing ``path`` when none are given) is
    returned without touching the network; one that fails them is deleted (with a note on stderr)
    and fetched again. A ``<path>.part`` left by an interrupted attempt is continued with an HTTP
    Range request; a server that ignores ranges makes it start over.

    Args:
        url: http(s) or file URL.
        path: final file path; its folder is created.
        md5: expected MD5 hex digest, or None.
        sha256: expected SHA-256 hex digest, or None.
        progress: show a progress bar (None: follow ``RSDML_PROGRESS``).
        retries: extra attempts (each resuming) after a failed or cut-off transfer.
        timeout: socket timeout in seconds.
        check: called on the completed file before it is renamed into place (e.g.
            :func:`check_archive`); it raises :class:`ArchiveError` to reject the file.

    Returns:
        The final path.

    Raises:
        DownloadError: the server could not be reached or the transfer kept failing; the
            partial file is kept so that the next call resumes (the message says how much).
        ChecksumError: the completed file does not match; it is deleted.
        ArchiveError: ``check`` rejected the completed file; it is deleted.
    """
    path = Path(path)
    part = path.with_name(path.name + ".part")
    if path.exists():
        try:
            _verify(path, md5=md5, sha256=sha256, check=check)
            return path
        except (ChecksumError, ArchiveError) as error:
            _note(f"{error}; deleted it, downloading {url} again")
            path.unlink()
    path.parent.mkdir(parents=True, exist_ok=True)
    _fetch_with_retries(url, path, part, retries=retries, timeout=timeout, progress=progress)
    try:
        _verify(part, md5=md5, sha256=sha256, check=check)
    except (ChecksumError, ArchiveError) as error:
        # Never rename a bad file into place, and never keep it as a part file either: the next
        # run would resume it and fail the same way.
        part.unlink(missing_ok=True)
        raise type(error)(
            f"download of {url}: {error}. The file was removed: run again to download it afresh, "
            "or download it by hand and compare its checksum."
        ) from None
    os.replace(part, path)
    return path


def _fetch_with_retries(
    url: str, path: Path, part: Path, *, retries: int, timeout: float, progress: bool | None
) -> None:
    """Fetch ``url`` into ``part``, resuming, with up to ``retries`` extra attempts.

    Raises:
        DownloadError: every attempt failed (or a client error made retrying pointless); the
            partial file is kept so that the next call resumes.
    """
    last_error: BaseException | None = None
    try:
        for _attempt in range(retries + 1):
            try:
                _fetch_once(
                    url, part, timeout=timeout, progress=progress, desc=f"download {path.name}"
                )
                return
            except urllib.error.HTTPError as error:
                last_error = error
                if 400 <= error.code < 500 and error.code not in (408, 429):
                    break  # not found / forbidden: retrying will not help
            except (urllib.error.URLError, OSError, http.client.HTTPException) as error:
                last_error = error
    except KeyboardInterrupt:
        # The interrupt itself is not an error to report, but the user should know the bytes
        # already fetched are not lost.
        _note(f"download of {url} interrupted. {_kept(part)}")
        raise
    raise DownloadError(
        f"could not download {url} to {path}: {last_error}. {_kept(part)} "
        f"{manual_hint(path.parent, [url])}"
    ) from last_error


def _verify(
    path: Path,
    *,
    md5: str | None,
    sha256: str | None,
    check: Callable[[Path], object] | None,
) -> None:
    verify_checksum(path, md5=md5, sha256=sha256)
    if check is not None:
        check(path)


# First bytes of the formats we recognise; a zip may also start with an empty-archive or a
# spanned-archive marker.
_ZIP_MAGICS = (b"PK\x03\x04", b"PK\x05\x06", b"PK\x07\x08")
_COMPRESSED_MAGICS = (b"\x1f\x8b", b"BZh", b"\xfd7zXZ\x00")
UNSUPPORTED_FORMATS = frozenset({"rar", "7z"})


def archive_format(path: Path | str) -> str:
    """What a file is, from its content: ``zip``, ``tar``, ``rar``, ``7z``, ``html``, ``empty`` or
    ``unknown`` (the name is not trusted: ``.part`` files and mislabelled downloads exist)."""
    with open(path, "rb") as handle:
        head = handle.read(512)
    if not head:
        return "empty"
    if head.startswith(_ZIP_MAGICS):
        return "zip"
    if head.startswith(_COMPRESSED_MAGICS) or head[257:262] == b"ustar":
        return "tar"
    if head.startswith(b"Rar!\x1a\x07"):
        return "rar"
    if head.startswith(b"7z\xbc\xaf\x27\x1c"):
        return "7z"
    if head.lstrip()[:1] == b"<":
        return "html"
    # Self-extracting zips and old tars carry no magic at the start.
    if zipfile.is_zipfile(path):
        return "zip"
    if tarfile.is_tarfile(path):
        return "tar"
    return "unknown"


def _unreadable(path: Path, kind: str, dest: Path | None) -> str:
    where = f" into {dest}" if dest is not None else ""
    if kind == "rar":
        return (
            f"{path} is a RAR archive, which rsdml cannot unpack: RAR archives such as the "
            f"official NWPU-RESISC45 release must be unpacked by hand (e.g. `unrar x {path}`){where}"
        )
    if kind == "7z":
        return (
            f"{path} is a 7-Zip archive, which rsdml cannot unpack: it must be unpacked by hand "
            f"(e.g. `7z x {path}`){where}"
        )
    if kind == "html":
        return (
            f"{path} is a web page, not an archive: the server sent an error or sign-in page "
            "instead of the file"
        )
    if kind == "empty":
        return f"{path} is empty (0 bytes), not an archive"
    return f"{path} is neither a zip nor a tar archive"


def check_archive(path: Path | str, dest: Path | str | None = None) -> str:
    """Read a zip's table of contents (or every tar header) and return the format.

    Cheap for zips (the table of contents sits at the end, so a truncated download fails here)
    and thorough enough to catch a resumed part file whose first bytes came from elsewhere.

    Raises:
        ArchiveError: the file is truncated or damaged, or not a zip or tar archive.
    """
    path = Path(path)
    kind = archive_format(path)
    if kind == "zip":
        try:
            with zipfile.ZipFile(path) as archive, open(path, "rb") as raw:
                for info in archive.infolist():
                    raw.seek(info.header_offset)
                    if raw.read(4) != b"PK\x03\x04":
                        raise zipfile.BadZipFile(
                            f"member {info.filename!r} is not where the table of contents says"
                        )
        except (zipfile.BadZipFile, EOFError, ValueError) as error:
            raise ArchiveError(f"{path} is a truncated or damaged zip archive ({error})") from None
    elif kind == "tar":
        with open(path, "rb") as handle:
            # Offsets inside a compressed tar are not file offsets: only a plain tar is measured.
            plain = not handle.read(8).startswith(_COMPRESSED_MAGICS)
        size = path.stat().st_size
        try:
            with tarfile.open(path) as archive:
                for member in archive:
                    # A plain tar cut short still lists its headers, but its data is missing.
                    if plain and member.offset_data + member.size > size:
                        raise tarfile.ReadError(f"member {member.name!r} is cut short")
        except (tarfile.TarError, EOFError, zlib.error, lzma.LZMAError, OSError) as error:
            raise ArchiveError(f"{path} is a truncated or damaged tar archive ({error})") from None
    else:
        raise ArchiveError(_unreadable(path, kind, Path(dest) if dest is not None else None))
    return kind


def _safe_members_zip(archive: zipfile.ZipFile, dest: Path) -> None:
    root = dest.resolve()
    for name in archive.namelist():
        target = (dest / name).resolve()
        if target != root and root not in target.parents:
            raise ArchiveError(f"archive member {name!r} would be written outside {dest}")


def extract_archive(path: Path | str, dest: Path | str) -> list[Path]:
    """Unpack a zip or tar archive into ``dest`` atomically, entry by top-level entry.

    The archive is checked (:func:`check_archive`), unpacked into a temporary folder inside
    ``dest``, and each top-level entry is then renamed into place. Entries that already exist in
    ``dest`` are left untouched (an earlier extraction finished them). Members that would land
    outside ``dest`` are refused.

    Returns:
        The top-level paths in ``dest`` that the archive provides.

    Raises:
        ArchiveError: truncated or damaged archive, unknown format (e.g. RAR: unpack it by hand)
            or unsafe member paths. It is an ``OSError``.
    """
    path, dest = Path(path), Path(dest)
    kind = check_archive(path, dest)
    dest.mkdir(parents=True, exist_ok=True)
    staging = temporary_folder(dest, prefix=f".extract-{path.name}-")
    try:
        try:
            if kind == "zip":
                with zipfile.ZipFile(path) as archive:
                    _safe_members_zip(archive, staging)
                    archive.extractall(staging)
            else:
                with tarfile.open(path) as archive:
                    archive.extractall(staging, filter="data")
        except tarfile.FilterError as error:
            raise ArchiveError(f"{path}: unsafe archive member ({error}); not unpacked") from None
        except (
            zipfile.BadZipFile,
            tarfile.TarError,
            EOFError,
            zlib.error,
            lzma.LZMAError,
        ) as error:
            # The table of contents was fine but a member's data is not (e.g. a CRC mismatch).
            raise ArchiveError(f"{path} is a damaged {kind} archive ({error})") from None
        provided = []
        for entry in sorted(staging.iterdir()):
            target = dest / entry.name
            if not target.exists():
                os.replace(entry, target)
            provided.append(target)
        return provided
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _check_download(path: Path) -> None:
    # A RAR or 7-Zip file is complete and genuine, only not unpackable here: keep it so that the
    # user can unpack it by hand (extract_archive says how).
    if archive_format(path) not in UNSUPPORTED_FORMATS:
        check_archive(path)


def download_and_extract(
    info: ArchiveInfo,
    root: Path | str,
    *,
    checksum: bool = True,
    progress: bool | None = None,
    keep_archive: bool = True,
) -> Path:
    """Fetch a dataset's archive into ``root`` (trying each of ``info.urls``) and unpack it there.

    An archive already present in ``root`` is reused when it passes the checks, else deleted and
    fetched again. The published checksum is verified whenever one is known, unless ``checksum``
    is false; the archive is also read back as a zip or tar before it is renamed into place.

    Returns:
        ``root``.

    Raises:
        DatasetNotFoundError: no URL is known for the dataset (manual download only).
        DownloadError: every URL failed; the message lists them, how many bytes were kept for
            resuming, and the manual alternative.
        ChecksumError: the archive does not match the published checksum (it is deleted).
        ArchiveError: the archive is truncated or damaged (it is deleted).
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
            download_url(
                url, archive, md5=md5, sha256=sha256, progress=progress, check=_check_download
            )
            break
        except (ChecksumError, ArchiveError):
            raise
        except DownloadError as error:
            errors.append(f"{url}: {error.__cause__ or error}")
    else:
        part = archive.with_name(archive.name + ".part")
        raise DownloadError(
            f"could not download {info.name} to {archive} (no network, or the hosts are down):\n  "
            + "\n  ".join(errors)
            + f"\n{_kept(part)} {manual_hint(root, info.urls, homepage)}"
        )
    try:
        extract_archive(archive, root)
    except ArchiveError as error:
        if archive_format(archive) in UNSUPPORTED_FORMATS:
            raise
        # Keeping it would make every later run fail on the same file.
        archive.unlink(missing_ok=True)
        raise ArchiveError(
            f"{error}. The archive was removed: run again to download it afresh. "
            f"{manual_hint(root, info.urls, homepage)}"
        ) from None
    if not keep_archive:
        archive.unlink(missing_ok=True)
    return root
