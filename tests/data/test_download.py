"""Downloading against a local HTTP server: fresh, already there, interrupted, corrupted, missing."""

from __future__ import annotations

import hashlib
import zipfile
from pathlib import Path

import numpy as np
import pytest

import rsdml.data.download as download_module
from rsdml.data import (
    ArchiveError,
    ChecksumError,
    DatasetNotFoundError,
    DownloadError,
    UCMerced,
    download_and_extract,
    download_url,
    extract_archive,
    load_scene_list,
)
from rsdml.errors import UserError


def payload(size: int = 300_000, seed: int = 0) -> bytes:
    return np.random.default_rng(seed).integers(0, 256, size, dtype=np.uint8).tobytes()


def test_fresh_download_is_verified_and_renamed(http_server, tmp_path):
    data = payload()
    http_server.files["/file.bin"] = data
    target = tmp_path / "dl" / "file.bin"
    result = download_url(
        f"{http_server.url}/file.bin", target, md5=hashlib.md5(data).hexdigest(), progress=False
    )
    assert result == target
    assert target.read_bytes() == data
    assert not target.with_name("file.bin.part").exists()
    assert http_server.requests == [("/file.bin", None)]


def test_already_downloaded_file_is_not_fetched_again(http_server, tmp_path):
    data = payload()
    target = tmp_path / "file.bin"
    target.write_bytes(data)
    download_url(f"{http_server.url}/file.bin", target, sha256=hashlib.sha256(data).hexdigest())
    assert http_server.requests == []


def test_interrupted_download_resumes_with_a_range_request(http_server, tmp_path):
    data = payload()
    http_server.files["/big.bin"] = data
    http_server.cut_after["/big.bin"] = 123_457
    target = tmp_path / "big.bin"
    part = tmp_path / "big.bin.part"

    with pytest.raises(DownloadError, match="run again to resume"):
        download_url(f"{http_server.url}/big.bin", target, retries=0, progress=False)
    assert part.read_bytes() == data[:123_457]
    assert not target.exists()

    download_url(
        f"{http_server.url}/big.bin", target, md5=hashlib.md5(data).hexdigest(), progress=False
    )
    assert target.read_bytes() == data
    assert http_server.requests[-1] == ("/big.bin", "bytes=123457-")
    assert not part.exists()


def test_retries_resume_within_one_call(http_server, tmp_path):
    data = payload(seed=1)
    http_server.files["/f.bin"] = data
    http_server.cut_after["/f.bin"] = 1000
    target = download_url(f"{http_server.url}/f.bin", tmp_path / "f.bin", retries=1)
    assert target.read_bytes() == data
    assert [r for _, r in http_server.requests] == [None, "bytes=1000-"]


def test_server_that_ignores_ranges_restarts_cleanly(http_server, tmp_path):
    data = payload(seed=2)
    http_server.files["/f.bin"] = data
    http_server.ignore_range = True
    (tmp_path / "f.bin.part").write_bytes(b"stale partial bytes")
    target = download_url(
        f"{http_server.url}/f.bin", tmp_path / "f.bin", md5=hashlib.md5(data).hexdigest()
    )
    assert target.read_bytes() == data


def test_complete_part_file_answered_416_is_finished(http_server, tmp_path):
    data = payload(seed=3)
    http_server.files["/f.bin"] = data
    (tmp_path / "f.bin.part").write_bytes(data)
    target = download_url(f"{http_server.url}/f.bin", tmp_path / "f.bin")
    assert target.read_bytes() == data
    assert http_server.requests == [("/f.bin", f"bytes={len(data)}-")]


def test_part_file_longer_than_the_resource_is_discarded(http_server, tmp_path):
    data = payload(seed=4)
    http_server.files["/f.bin"] = data
    (tmp_path / "f.bin.part").write_bytes(data + b"junk from another file")
    target = download_url(f"{http_server.url}/f.bin", tmp_path / "f.bin", retries=1)
    assert target.read_bytes() == data
    assert [r for _, r in http_server.requests] == [f"bytes={len(data) + 22}-", None]


def test_corrupted_download_fails_the_checksum_and_leaves_nothing(http_server, tmp_path):
    data = payload()
    http_server.files["/f.bin"] = data
    wrong = hashlib.md5(data + b"x").hexdigest()
    target = tmp_path / "f.bin"
    with pytest.raises(ChecksumError, match="md5") as error:
        download_url(f"{http_server.url}/f.bin", target, md5=wrong)
    assert str(target.with_name("f.bin.part")) in str(error.value)
    assert not target.exists()
    assert not target.with_name("f.bin.part").exists()


def test_stale_complete_file_with_wrong_checksum_is_fetched_again(http_server, tmp_path):
    data = payload()
    http_server.files["/f.bin"] = data
    target = tmp_path / "f.bin"
    target.write_bytes(b"not the archive")
    download_url(f"{http_server.url}/f.bin", target, md5=hashlib.md5(data).hexdigest())
    assert target.read_bytes() == data
    assert len(http_server.requests) == 1


def test_not_found_names_url_path_and_manual_alternative(http_server, tmp_path):
    target = tmp_path / "missing.zip"
    with pytest.raises(DownloadError) as error:
        download_url(f"{http_server.url}/missing.zip", target, retries=3)
    message = str(error.value)
    assert "404" in message and f"{http_server.url}/missing.zip" in message
    assert str(target) in message and "RSDML_DATA" in message
    assert len(http_server.requests) == 1  # a 404 is not retried


def test_offline_is_a_dataset_not_found_error(closed_port_url, tmp_path):
    with pytest.raises(DatasetNotFoundError, match="could not download"):
        download_url(closed_port_url, tmp_path / "x.zip", retries=0, timeout=5)


def test_extract_zip_is_complete_and_idempotent(tmp_path, fakes):
    archive = tmp_path / "a.zip"
    archive.write_bytes(
        fakes.zip_bytes({"top/a.txt": b"a", "top/sub/b.txt": b"b", "other.txt": b"o"})
    )
    dest = tmp_path / "out"
    provided = extract_archive(archive, dest)
    assert sorted(p.name for p in provided) == ["other.txt", "top"]
    assert (dest / "top/sub/b.txt").read_bytes() == b"b"
    assert [p.name for p in dest.iterdir() if p.name.startswith(".")] == []  # staging removed
    (dest / "top/a.txt").write_bytes(b"edited")
    extract_archive(archive, dest)  # existing entries are kept, not overwritten
    assert (dest / "top/a.txt").read_bytes() == b"edited"


def test_extract_tar(tmp_path):
    import tarfile

    source = tmp_path / "src" / "folder"
    source.mkdir(parents=True)
    (source / "x.txt").write_text("x")
    archive = tmp_path / "a.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(source, arcname="folder")
    extract_archive(archive, tmp_path / "out")
    assert (tmp_path / "out/folder/x.txt").read_text() == "x"


def test_extract_refuses_paths_outside_the_destination(tmp_path):
    archive = tmp_path / "evil.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("../escaped.txt", b"x")
    with pytest.raises(OSError, match="outside"):
        extract_archive(archive, tmp_path / "out")
    assert not (tmp_path / "escaped.txt").exists()


def test_extract_rejects_unknown_formats(tmp_path):
    archive = tmp_path / "data.rar"
    archive.write_bytes(b"Rar!\x1a\x07\x00 not really")
    with pytest.raises(OSError, match="unpacked by hand"):
        extract_archive(archive, tmp_path / "out")


def test_download_and_extract_tries_mirrors_in_order(http_server, tmp_path, monkeypatch, fakes):
    data = fakes.tree_zip(UCMerced)
    http_server.files["/mirror/UCMerced_LandUse.zip"] = data
    monkeypatch.setattr(
        UCMerced,
        "urls",
        (
            f"{http_server.url}/dead/UCMerced_LandUse.zip",
            f"{http_server.url}/mirror/UCMerced_LandUse.zip",
        ),
    )
    monkeypatch.setattr(UCMerced, "md5", hashlib.md5(data).hexdigest())
    download_and_extract(UCMerced, tmp_path, checksum=True)
    assert (tmp_path / "UCMerced_LandUse/Images/agricultural/agricultural00.tif").is_file()
    assert [path for path, _ in http_server.requests] == [
        "/dead/UCMerced_LandUse.zip",
        "/mirror/UCMerced_LandUse.zip",
    ]


def test_load_scene_list_downloads_when_asked(http_server, tmp_path, monkeypatch, fakes):
    data = fakes.tree_zip(UCMerced, per_class=1)
    http_server.files["/UCMerced_LandUse.zip"] = data
    monkeypatch.setattr(UCMerced, "urls", (f"{http_server.url}/UCMerced_LandUse.zip",))
    monkeypatch.setattr(UCMerced, "md5", hashlib.md5(data).hexdigest())
    root = tmp_path / "data"
    with pytest.raises(DatasetNotFoundError, match="download=True"):
        load_scene_list("ucmerced", root=root)
    with pytest.warns(UserWarning, match="instead of 2100"):
        scenes = load_scene_list("ucmerced", root=root, download=True, checksum=True)
    assert len(scenes) == 21 and scenes.root == (root / "UCMerced_LandUse/Images").absolute()
    assert (root / "UCMerced_LandUse.zip").is_file()
    # Second call: found on disk, no network.
    requests = len(http_server.requests)
    with pytest.warns(UserWarning):
        load_scene_list("ucmerced", root=root, download=True)
    assert len(http_server.requests) == requests


def test_archive_placed_by_hand_is_unpacked_without_network(
    tmp_path, fakes, monkeypatch, closed_port_url
):
    monkeypatch.setattr(UCMerced, "urls", (closed_port_url,))
    (tmp_path / "UCMerced_LandUse.zip").write_bytes(fakes.tree_zip(UCMerced))
    with pytest.warns(UserWarning):
        scenes = load_scene_list("ucmerced", root=tmp_path)
    assert len(scenes.classes) == 21


def test_hand_placed_archive_with_wrong_checksum_is_reported_not_deleted(
    tmp_path, fakes, monkeypatch
):
    archive = tmp_path / "UCMerced_LandUse.zip"
    archive.write_bytes(fakes.tree_zip(UCMerced))
    monkeypatch.setattr(UCMerced, "md5", "0" * 32)
    with pytest.raises(ChecksumError, match="Delete it") as error:
        load_scene_list("ucmerced", root=tmp_path, checksum=True)
    assert str(archive) in str(error.value) and archive.exists()


def test_offline_download_gives_one_clear_error(tmp_path, monkeypatch, closed_port_url):
    monkeypatch.setattr(UCMerced, "urls", (closed_port_url,))
    with pytest.raises(DatasetNotFoundError) as error:
        load_scene_list("ucmerced", root=tmp_path, download=True)
    message = str(error.value)
    assert closed_port_url in message
    assert str(tmp_path / "UCMerced_LandUse.zip") in message
    assert "RSDML_DATA" in message and "--root" in message


def test_checksum_mismatch_through_the_loader(http_server, tmp_path, monkeypatch, fakes):
    http_server.files["/UCMerced_LandUse.zip"] = fakes.tree_zip(UCMerced)
    monkeypatch.setattr(UCMerced, "urls", (f"{http_server.url}/UCMerced_LandUse.zip",))
    monkeypatch.setattr(UCMerced, "md5", "0" * 32)
    with pytest.raises(ChecksumError):
        load_scene_list("ucmerced", root=tmp_path, download=True, checksum=True)
    assert not (tmp_path / "UCMerced_LandUse").exists()
    assert not Path(tmp_path / "UCMerced_LandUse.zip").exists()


def test_manual_only_dataset_explains_where_to_get_it(tmp_path):
    with pytest.raises(DatasetNotFoundError) as error:
        load_scene_list("aid", root=tmp_path, download=True)
    message = str(error.value)
    assert "captain-whu.github.io/AID" in message and str(tmp_path) in message


def test_download_errors_are_user_errors():
    for error in (DatasetNotFoundError, DownloadError, ChecksumError, ArchiveError):
        assert issubclass(error, UserError) and issubclass(error, FileNotFoundError)


def test_download_verifies_the_checksum_by_default(http_server, tmp_path, monkeypatch, fakes):
    # What `rsdml split --download` does: load_scene_list(name, root, download=True).
    http_server.files["/UCMerced_LandUse.zip"] = fakes.tree_zip(UCMerced)
    monkeypatch.setattr(UCMerced, "urls", (f"{http_server.url}/UCMerced_LandUse.zip",))
    monkeypatch.setattr(UCMerced, "md5", "0" * 32)
    with pytest.raises(ChecksumError, match="The file was removed: run again"):
        load_scene_list("ucmerced", tmp_path, download=True)
    assert sorted(tmp_path.iterdir()) == []
    with pytest.warns(UserWarning):  # checksum=False: the caller opted out
        load_scene_list("ucmerced", tmp_path, download=True, checksum=False)


def test_garbage_part_file_is_removed_not_renamed_into_place(
    http_server, tmp_path, monkeypatch, fakes
):
    data = fakes.tree_zip(UCMerced)
    http_server.files["/UCMerced_LandUse.zip"] = data
    monkeypatch.setattr(UCMerced, "urls", (f"{http_server.url}/UCMerced_LandUse.zip",))
    monkeypatch.setattr(UCMerced, "md5", None)  # nothing to compare with: the archive is read
    part = tmp_path / "UCMerced_LandUse.zip.part"
    part.write_bytes(payload(1000))  # e.g. left by another program, or a disk error
    with pytest.raises(ArchiveError) as error:
        load_scene_list("ucmerced", tmp_path, download=True)
    message = str(error.value)
    assert "truncated or damaged zip" in message and "removed: run again" in message
    assert http_server.requests == [("/UCMerced_LandUse.zip", "bytes=1000-")]
    assert sorted(tmp_path.iterdir()) == []
    with pytest.warns(UserWarning):  # the next run starts afresh and succeeds
        load_scene_list("ucmerced", tmp_path, download=True)
    assert http_server.requests[-1] == ("/UCMerced_LandUse.zip", None)


def test_damaged_archive_in_place_is_replaced_when_downloading(
    http_server, tmp_path, monkeypatch, fakes, capsys
):
    data = fakes.tree_zip(UCMerced)
    http_server.files["/UCMerced_LandUse.zip"] = data
    monkeypatch.setattr(UCMerced, "urls", (f"{http_server.url}/UCMerced_LandUse.zip",))
    monkeypatch.setattr(UCMerced, "md5", None)
    archive = tmp_path / "UCMerced_LandUse.zip"
    archive.write_bytes(data[: len(data) // 2])
    with pytest.warns(UserWarning):
        load_scene_list("ucmerced", tmp_path, download=True)
    assert archive.read_bytes() == data
    assert "truncated or damaged zip archive" in capsys.readouterr().err


def test_hand_placed_truncated_archive_is_reported_and_kept(tmp_path, fakes):
    archive = tmp_path / "UCMerced_LandUse.zip"
    archive.write_bytes(fakes.tree_zip(UCMerced)[:-100])
    with pytest.raises(ArchiveError) as error:
        load_scene_list("ucmerced", root=tmp_path)
    message = str(error.value)
    assert "truncated or damaged zip" in message and "RAR" not in message
    assert "Delete it and run again with download=True" in message
    assert archive.exists() and not (tmp_path / "UCMerced_LandUse").exists()


@pytest.mark.parametrize("cut", [0.5, 0.999])
def test_truncated_zip_is_reported_as_truncated(tmp_path, fakes, cut):
    data = fakes.zip_bytes({"top/a.txt": b"a" * 1000, "top/b.txt": b"b" * 1000})
    archive = tmp_path / "a.zip"
    archive.write_bytes(data[: int(len(data) * cut)])
    with pytest.raises(ArchiveError, match="truncated or damaged zip") as error:
        extract_archive(archive, tmp_path / "out")
    assert "neither" not in str(error.value) and "RAR" not in str(error.value)


@pytest.mark.parametrize("mode", ["w", "w:gz"])
def test_truncated_tar_is_reported_as_truncated(tmp_path, mode):
    import tarfile

    source = tmp_path / "src"
    source.mkdir()
    (source / "x.bin").write_bytes(payload(50_000))
    archive = tmp_path / "a.tar"
    with tarfile.open(archive, mode) as tar:
        tar.add(source, arcname="folder")
    archive.write_bytes(archive.read_bytes()[:20_000])
    with pytest.raises(ArchiveError, match="truncated or damaged tar"):
        extract_archive(archive, tmp_path / "out")
    assert not (tmp_path / "out" / "folder").exists()


def test_a_web_page_is_not_called_an_archive_format_problem(tmp_path):
    page = tmp_path / "f.zip"
    page.write_bytes(b"<!DOCTYPE html><html><body>Sign in</body></html>")
    with pytest.raises(ArchiveError, match="web page"):
        extract_archive(page, tmp_path / "out")


def test_stopped_download_says_how_many_bytes_were_kept(http_server, tmp_path, monkeypatch, fakes):
    data = fakes.tree_zip(UCMerced)
    http_server.files["/UCMerced_LandUse.zip"] = data
    http_server.cut_every["/UCMerced_LandUse.zip"] = 1000  # every attempt breaks off
    monkeypatch.setattr(UCMerced, "urls", (f"{http_server.url}/UCMerced_LandUse.zip",))
    monkeypatch.setattr(UCMerced, "md5", hashlib.md5(data).hexdigest())
    with pytest.raises(DownloadError) as error:
        load_scene_list("ucmerced", tmp_path, download=True)
    part = tmp_path / "UCMerced_LandUse.zip.part"
    assert f"3,000 bytes were kept in {part}: run again to resume" in str(error.value)
    del http_server.cut_every["/UCMerced_LandUse.zip"]
    with pytest.warns(UserWarning):
        load_scene_list("ucmerced", tmp_path, download=True)
    assert http_server.requests[-1] == ("/UCMerced_LandUse.zip", "bytes=3000-")


def test_nothing_kept_is_said_too(closed_port_url, tmp_path):
    with pytest.raises(DownloadError, match="Nothing was kept"):
        download_url(closed_port_url, tmp_path / "x.zip", retries=0, timeout=5)


def test_interrupted_download_says_what_was_kept(http_server, tmp_path, monkeypatch, capsys):
    http_server.files["/f.bin"] = payload(5000)

    def interrupted(chunks, **_):
        yield next(iter(chunks))
        raise KeyboardInterrupt

    monkeypatch.setattr(download_module, "progress_bar", interrupted)
    with pytest.raises(KeyboardInterrupt):
        download_url(f"{http_server.url}/f.bin", tmp_path / "f.bin")
    part = tmp_path / "f.bin.part"
    assert part.stat().st_size == 5000
    err = capsys.readouterr().err
    assert "interrupted" in err and f"5,000 bytes were kept in {part}: run again to resume" in err
