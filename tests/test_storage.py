"""Cache helpers: content checksums, unwritable cache folders, stale temporaries, notes."""

from __future__ import annotations

import errno
import os
import time

import numpy as np
import pytest

from rsdml.errors import UserError
from rsdml.storage import (
    CacheNotWritable,
    ContentMemo,
    array_checksum,
    atomic_save_numpy,
    atomic_write_json,
    atomic_write_text,
    cache_subdir,
    current_umask,
    note,
    writing_cache,
)


def test_checksum_follows_the_content_not_the_container(tmp_path):
    array = np.random.default_rng(0).integers(0, 256, (3, 3, 4, 4), dtype=np.uint8)
    np.save(tmp_path / "a.npy", array)
    mapped = np.load(tmp_path / "a.npy", mmap_mode="r")
    assert array_checksum(mapped) == array_checksum(array) == array_checksum(array.copy())
    assert array_checksum(array).startswith("sha256:")
    changed = array.copy()
    changed[1, 0, 0, 0] ^= 1
    assert array_checksum(changed) != array_checksum(array)
    # a strided view is hashed as its C-order copy
    assert array_checksum(array[:, :, ::2]) == array_checksum(
        np.ascontiguousarray(array[:, :, ::2])
    )


@pytest.mark.parametrize("code", [errno.EACCES, errno.EPERM, errno.EROFS])
def test_permission_and_read_only_errors_become_a_user_error(tmp_path, code):
    with pytest.raises(CacheNotWritable) as error, writing_cache(tmp_path / "features"):
        raise OSError(code, os.strerror(code))
    message = str(error.value)
    assert str(tmp_path / "features") in message and "RSDML_CACHE" in message
    assert isinstance(error.value, UserError)


def test_other_errors_pass_through(tmp_path):
    with pytest.raises(OSError) as error, writing_cache(tmp_path):
        raise OSError(errno.ENOSPC, "No space left on device")
    assert not isinstance(error.value, CacheNotWritable)


def test_cache_subdir_removes_only_old_temporaries(tmp_path, monkeypatch):
    monkeypatch.setenv("RSDML_CACHE", str(tmp_path / "cache"))
    folder = tmp_path / "cache" / "things"
    folder.mkdir(parents=True)
    old, young, entry = folder / ".x.pt.a.tmp", folder / ".x.pt.b.tmp", folder / "x.pt"
    for path in (old, young, entry):
        path.write_bytes(b"1")
    long_ago = time.time() - 25 * 3600
    os.utime(old, (long_ago, long_ago))
    os.utime(entry, (long_ago, long_ago))
    assert cache_subdir("things") == folder
    assert not old.exists() and young.exists() and entry.exists()


def test_note_is_one_line_on_stderr(capsys):
    note("cache file /x/y.npy\nis damaged;   decoding again")
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == "rsdml: cache file /x/y.npy is damaged; decoding again\n"


def test_a_file_in_the_way_of_a_folder_is_a_user_error(tmp_path):
    from rsdml.storage import PathBlocked, atomic_write_json, make_folder

    blocker = tmp_path / "run.pt"
    blocker.write_text("not a folder")
    for folder in (blocker, blocker / "inside"):
        with pytest.raises(PathBlocked) as error:
            make_folder(folder)
        assert isinstance(error.value, UserError)
        assert str(blocker) in str(error.value) and "--out" in str(error.value)
    with pytest.raises(PathBlocked):
        atomic_write_json(blocker / "metrics.json", {})


def test_a_failed_write_names_the_file_even_when_the_writer_hides_the_os_error(tmp_path):
    # torch.save reports a full disk as a RuntimeError raised while handling the OSError
    from rsdml.storage import _atomic_write

    target = tmp_path / "last.pt"

    def full_disk_writer(handle):
        try:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        except OSError:
            raise RuntimeError("unexpected pos 2560 vs 2454") from None

    with pytest.raises(OSError) as error:
        _atomic_write(target, full_disk_writer)
    assert error.value.errno == errno.ENOSPC
    assert error.value.filename == str(target)
    assert not target.exists() and not list(tmp_path.glob(".*.tmp"))


def test_a_write_error_that_is_not_about_the_disk_is_left_alone(tmp_path):
    from rsdml.storage import _atomic_write

    def failing_writer(handle):
        raise TypeError("cannot pickle this")

    with pytest.raises(TypeError):
        _atomic_write(tmp_path / "x.json", failing_writer)


@pytest.fixture
def umask():
    """Set the process umask for one test, restoring the previous one afterwards."""
    previous = os.umask(0o022)
    yield lambda mask: os.umask(mask)
    os.umask(previous)


@pytest.mark.parametrize(("mask", "mode"), [(0o022, 0o644), (0o002, 0o664), (0o077, 0o600)])
def test_atomic_writes_get_the_mode_open_would_give(tmp_path, umask, mask, mode):
    umask(mask)
    written = [
        atomic_write_text(tmp_path / "a.txt", "x"),
        atomic_write_json(tmp_path / "a.json", {"a": 1}),
        atomic_save_numpy(tmp_path / "a.npy", np.zeros(2)),
    ]
    with open(tmp_path / "plain.txt", "w") as handle:  # what the atomic writes must match
        handle.write("x")
    assert (tmp_path / "plain.txt").stat().st_mode & 0o777 == mode
    for path in written:
        assert path.stat().st_mode & 0o777 == mode, path


def test_the_umask_is_read_without_being_changed(umask):
    umask(0o027)
    assert current_umask() == 0o027
    assert os.umask(0o027) == 0o027


def test_staging_folders_follow_the_umask(tmp_path):
    from rsdml.storage import temporary_folder

    previous = os.umask(0o027)
    try:
        folder = temporary_folder(tmp_path, prefix=".stage-")
    finally:
        os.umask(previous)
    assert folder.parent == tmp_path and folder.name.startswith(".stage-")
    assert folder.stat().st_mode & 0o777 == 0o750


def test_a_memo_answers_equal_content_once_and_forgets_the_oldest():
    memo, computed = ContentMemo(2), []

    def answer(value):
        def compute():
            computed.append(value)
            return value

        return compute

    first = np.arange(6.0).reshape(2, 3)
    assert memo.recall([first], "p", answer("a")) == "a"
    # a new array of the same content: remembered; another shape, dtype, value or part: not
    assert memo.recall([first.copy()], "p", answer("b")) == "a"
    assert memo.recall([first.reshape(3, 2)], "p", answer("c")) == "c"
    assert memo.recall([first.astype(np.float32)], "p", answer("d")) == "d"
    assert memo.recall([first], "q", answer("e")) == "e"
    assert len(memo) == 2 and computed == ["a", "c", "d", "e"]
    assert memo.recall([first], "p", answer("f")) == "f"  # "a" was the oldest: forgotten
    with pytest.raises(ValueError, match="at least one"):
        ContentMemo(0)


def test_a_memo_with_a_folder_finds_answers_another_process_kept(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("RSDML_CACHE", str(tmp_path / "cache"))
    inputs = [np.arange(12.0).reshape(3, 4), np.array([0, 1, 1])]
    computed = []

    def compute():
        computed.append(1)
        return np.eye(3) * len(computed)

    first = ContentMemo(2, folder="answers").recall(inputs, ("k", 10), compute)
    # a new memo (another process): the answer is read back, not computed
    again = ContentMemo(2, folder="answers").recall([a.copy() for a in inputs], ("k", 10), compute)
    assert np.array_equal(again, first) and computed == [1]
    # other content or parts: computed
    ContentMemo(2, folder="answers").recall(inputs, ("k", 5), compute)
    assert len(computed) == 2
    # a damaged entry is named and computed again (and kept anew)
    entries = sorted((tmp_path / "cache" / "answers").glob("*.npz"))
    assert len(entries) == 2
    for entry in entries:
        entry.write_bytes(entry.read_bytes()[:-40])
    recomputed = ContentMemo(2, folder="answers").recall(inputs, ("k", 10), compute)
    assert np.array_equal(recomputed, np.eye(3) * 3)
    assert "ignoring damaged cache entry" in capsys.readouterr().err
    assert np.array_equal(
        ContentMemo(1, folder="answers").recall(inputs, ("k", 10), compute), recomputed
    )
    assert len(computed) == 3


def test_a_memo_whose_folder_cannot_be_written_still_answers(tmp_path, monkeypatch, capsys):
    blocked = tmp_path / "cache"
    blocked.write_text("a file where the cache folder should be")
    monkeypatch.setenv("RSDML_CACHE", str(blocked))
    answer = ContentMemo(1, folder="answers").recall([np.zeros(2)], None, lambda: np.ones(2))
    assert np.array_equal(answer, np.ones(2))
    assert "could not keep" in capsys.readouterr().err
