"""How rsdml meets the machine: devices, debug switch, and OSErrors that are not bugs."""

from __future__ import annotations

import errno

import pytest
import torch

from rsdml.errors import UserError, debug_enabled
from rsdml.runtime import (
    DeviceUnavailableError,
    describe_os_error,
    environment_os_error,
    resolve_device,
)


def test_cpu_and_auto_resolve(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device("auto") == torch.device("cpu")
    assert resolve_device(None) == torch.device("cpu")


def test_cuda_without_cuda_is_a_user_error(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(DeviceUnavailableError, match="no CUDA device is visible") as caught:
        resolve_device("cuda")
    assert isinstance(caught.value, UserError) and isinstance(caught.value, RuntimeError)
    assert "--device cpu" in str(caught.value) and "--device auto" in str(caught.value)


def test_cuda_index_beyond_the_visible_devices(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    with pytest.raises(DeviceUnavailableError, match="only 1 CUDA device"):
        resolve_device("cuda:3")


def test_unknown_device_name_is_a_user_error():
    with pytest.raises(DeviceUnavailableError, match="unknown device 'gpu'"):
        resolve_device("gpu")


@pytest.mark.parametrize(("value", "expected"), [(None, False), ("0", False), ("1", True)])
def test_debug_from_the_environment(monkeypatch, value, expected):
    if value is None:
        monkeypatch.delenv("RSDML_DEBUG", raising=False)
    else:
        monkeypatch.setenv("RSDML_DEBUG", value)
    assert debug_enabled() is expected
    assert debug_enabled(True) is True


@pytest.mark.parametrize(
    "code", [errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOSPC, errno.EDQUOT]
)
def test_environment_errors_are_recognised(code):
    error = OSError(code, "simulated", "/somewhere")
    assert environment_os_error(error) is error


def test_other_os_errors_are_not_the_environment():
    assert environment_os_error(OSError(errno.EIO, "simulated", "/dev/sda")) is None
    assert environment_os_error(ValueError("bug")) is None


def test_an_explicit_cause_counts_but_an_implicit_context_does_not():
    full = OSError(errno.ENOSPC, "No space left on device", "/out/last.pt")
    try:
        try:
            raise full
        except OSError as error:
            raise RuntimeError("file write failed") from error
    except RuntimeError as wrapped:
        assert environment_os_error(wrapped) is full
    try:
        try:
            raise full
        except OSError:
            raise KeyError("a bug while handling it")  # noqa: B904 (an implicit context on purpose)
    except KeyError as unrelated:
        assert environment_os_error(unrelated) is None


def test_read_only_out_folder_points_at_out(tmp_path):
    out = tmp_path / "run"
    message = describe_os_error(OSError(errno.EROFS, "Read-only", str(out / "x.json")), out=out)
    assert str(out / "x.json") in message and "read-only" in message and "--out" in message
    assert "RSDML_CACHE" not in message


def test_cache_folder_points_at_rsdml_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("RSDML_CACHE", str(tmp_path / "cache"))
    target = tmp_path / "cache" / "features" / "f.npy"
    message = describe_os_error(OSError(errno.EACCES, "Permission denied", str(target)))
    assert "permission denied" in message and str(target) in message
    assert "set RSDML_CACHE" in message and "--out" not in message


def test_disk_full_without_a_file_name_names_both_fixes():
    message = describe_os_error(OSError(errno.ENOSPC, "No space left on device"))
    assert "no space left" in message and "free space" in message
    assert "--out" in message and "RSDML_CACHE" in message


def test_autocast_is_full_precision_on_the_cpu():
    from rsdml.runtime import autocast

    with autocast(torch.device("cpu")):
        assert (torch.ones(2, 2) @ torch.ones(2, 2)).dtype == torch.float32
