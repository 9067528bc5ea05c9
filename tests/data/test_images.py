"""Decoding odd image files, the decoded-image cache, and the PyTorch dataset over arrays."""

from __future__ import annotations

import errno
import json
import os
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import rsdml.data.images as images_module
from rsdml.data import (
    CorruptImageError,
    DecodedImages,
    ImageArrayDataset,
    cached_images,
    decode_images,
    read_image,
    train_transform,
)
from rsdml.data.images import (
    ImageOptionError,
    ImageTooLargeError,
    image_cache_key,
    load_cached_images,
    max_image_pixels,
    resize_rows,
    select_rows,
)
from rsdml.errors import UserError
from rsdml.storage import CacheNotWritable


def save(image: Image.Image, path: Path, **options) -> Path:
    image.save(path, **options)
    return path


def constant(mode: str, value, size: int = 8) -> Image.Image:
    return Image.new(mode, (size, size), value)


def test_grayscale_palette_rgba_bilevel_become_rgb(tmp_path):
    palette = Image.new("P", (8, 8), 1)
    palette.putpalette([0, 0, 0, 200, 100, 50] + [0] * 762)
    transparent = palette.copy()
    transparent.info["transparency"] = 0
    files = {
        "gray.png": (save(constant("L", 77), tmp_path / "gray.png"), (77, 77, 77)),
        "la.png": (save(constant("LA", (90, 10)), tmp_path / "la.png"), (90, 90, 90)),
        "palette.png": (save(palette, tmp_path / "palette.png"), (200, 100, 50)),
        "ptrans.png": (save(transparent, tmp_path / "ptrans.png"), (200, 100, 50)),
        "rgba.png": (save(constant("RGBA", (10, 20, 30, 0)), tmp_path / "rgba.png"), (10, 20, 30)),
        "bilevel.png": (save(constant("1", 1), tmp_path / "bilevel.png"), (255, 255, 255)),
        "cmyk.tif": (save(constant("CMYK", (255, 0, 0, 0)), tmp_path / "cmyk.tif"), (0, 255, 255)),
        "white.tif": (
            save(constant("CMYK", (0, 0, 0, 0)), tmp_path / "white.tif"),
            (255, 255, 255),
        ),
    }
    for name, (path, rgb) in files.items():
        array = read_image(path, 8)
        assert array.shape == (8, 8, 3) and array.dtype == np.uint8, name
        assert (array == np.array(rgb, np.uint8)).all(), name


def test_cmyk_jpeg_decodes(tmp_path):
    path = save(constant("CMYK", (0, 128, 255, 0), 16), tmp_path / "cmyk.jpg", quality=95)
    array = read_image(path, 8)
    assert array.shape == (8, 8, 3)
    red, green, blue = array.reshape(-1, 3).mean(axis=0)
    assert red > 200 and blue < 40 and 90 < green < 170  # no cyan, half magenta, full yellow


@pytest.mark.parametrize("suffix", [".png", ".tif"])
def test_sixteen_bit_is_scaled_by_the_dtype_range(tmp_path, suffix):
    values = np.array([[0, 257, 32768, 65535]] * 4, dtype=np.uint16)
    path = tmp_path / f"deep{suffix}"
    deep = Image.fromarray(values)
    assert deep.mode == "I;16"
    deep.save(path)
    array = read_image(path, None)
    expected = np.rint(values.astype(np.float64) * 255 / 65535).astype(np.uint8)  # 0, 1, 128, 255
    np.testing.assert_array_equal(array[..., 0], expected)
    np.testing.assert_array_equal(array[..., 0], array[..., 2])


def test_float_and_32_bit_images(tmp_path):
    unit = np.full((4, 4), 0.5, np.float32)
    Image.fromarray(unit, mode="F").save(tmp_path / "unit.tif")
    assert (read_image(tmp_path / "unit.tif")[..., 1] == 128).all()
    wide = np.array([[-5, 0, 2**31 - 1, 2**31 - 1]] * 4, np.int32)
    Image.fromarray(wide).save(tmp_path / "wide.tif")
    np.testing.assert_array_equal(read_image(tmp_path / "wide.tif")[0, :, 0], [0, 0, 255, 255])


def test_resize_is_plain_bilinear_of_the_whole_image(tmp_path):
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, (30, 50, 3), dtype=np.uint8)
    path = save(Image.fromarray(pixels), tmp_path / "wide.png")
    expected = np.asarray(Image.fromarray(pixels).resize((16, 16), Image.Resampling.BILINEAR))
    np.testing.assert_array_equal(read_image(path, 16), expected)
    batch, skipped = decode_images([path, path], 16, workers=2)
    assert batch.shape == (2, 3, 16, 16) and skipped == []
    np.testing.assert_array_equal(batch[1], expected.transpose(2, 0, 1))


@pytest.fixture
def mixed_files(tmp_path, fakes):
    rng = np.random.default_rng(1)
    good = [fakes.write_image(tmp_path / f"good{i}.jpg", rng) for i in range(3)]
    garbage = tmp_path / "garbage.jpg"
    garbage.write_bytes(rng.integers(0, 256, 500, dtype=np.uint8).tobytes())
    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")
    full = fakes.write_image(tmp_path / "full.jpg", rng, size=64).read_bytes()
    truncated = tmp_path / "truncated.jpg"
    truncated.write_bytes(full[: len(full) // 2])
    missing = tmp_path / "missing.tif"
    return [good[0], garbage, good[1], empty, truncated, missing, good[2]], good


def test_unreadable_files_raise_with_the_path(mixed_files):
    files, _ = mixed_files
    for broken in files[1:2] + files[3:6]:
        with pytest.raises(CorruptImageError) as error:
            decode_images([files[0], broken], 8)
        assert str(broken) in str(error.value) and error.value.path == broken
        assert isinstance(error.value, OSError) and isinstance(error.value, UserError)
        # the way round it that works from the command line
        assert "--dataset-option on_error=skip" in str(error.value)


def test_unreadable_files_can_be_skipped_and_reported(mixed_files):
    files, good = mixed_files
    array, skipped = decode_images(files, 8, on_error="skip")
    assert skipped == [files[1], files[3], files[4], files[5]]
    expected = np.stack([read_image(path, 8).transpose(2, 0, 1) for path in good])
    np.testing.assert_array_equal(array, expected)


def test_cache_is_reused_and_invalidated(tmp_path, fakes, monkeypatch, isolated_cache):
    rng = np.random.default_rng(2)
    files = [fakes.write_image(tmp_path / f"img{i}.png", rng, size=12) for i in range(4)]
    first, skipped = cached_images(files, 8)
    assert skipped == [] and first.shape == (4, 3, 8, 8)
    assert len(list((isolated_cache / "images").glob("*.npy"))) == 1

    def no_decoding(*args, **kwargs):
        raise AssertionError("decoded again although cached")

    monkeypatch.setattr(images_module, "decode_images", no_decoding)
    again, _ = cached_images(files, 8)
    np.testing.assert_array_equal(again, first)
    mapped, _ = cached_images(files, 8, mmap=True)
    assert isinstance(mapped, DecodedImages) and isinstance(mapped.stored, np.memmap)
    np.testing.assert_array_equal(mapped, first)
    monkeypatch.undo()
    monkeypatch.setenv("RSDML_CACHE", str(isolated_cache))
    monkeypatch.setenv("RSDML_PROGRESS", "0")

    other_size, _ = cached_images(files, 4)
    assert other_size.shape == (4, 3, 4, 4)
    fakes.write_image(files[0], np.random.default_rng(99), size=12)  # edit a file
    changed, _ = cached_images(files, 8)
    assert not np.array_equal(changed[0], first[0])
    np.testing.assert_array_equal(changed[1:], first[1:])


def test_cache_remembers_skipped_files(mixed_files, monkeypatch):
    files, good = mixed_files
    array, skipped = cached_images(files, 8, on_error="skip")
    monkeypatch.setattr(images_module, "decode_images", None)  # any decoding would fail
    again, skipped_again = cached_images(files, 8, on_error="skip")
    assert skipped_again == skipped and len(again) == len(good)
    np.testing.assert_array_equal(again, array)


def _flip_rows(array_path: Path) -> None:
    """Overwrite rows in place: the file stays a valid .npy of the right shape."""
    mapped = np.load(array_path, mmap_mode="r+")
    mapped[1:3] = 255 - mapped[1:3]
    mapped.flush()
    del mapped


def _random_bytes(array_path: Path) -> None:
    array_path.write_bytes(np.random.default_rng(0).integers(0, 256, 900, np.uint8).tobytes())


def _truncate(array_path: Path) -> None:
    array_path.write_bytes(array_path.read_bytes()[:-50])


def _garble_sidecar(array_path: Path) -> None:
    array_path.with_suffix(".json").write_text('{"skipped": [')


def _drop_checksum(array_path: Path) -> None:
    sidecar = array_path.with_suffix(".json")
    meta = json.loads(sidecar.read_text())
    del meta["checksum"]
    sidecar.write_text(json.dumps(meta))


def _other_side(array_path: Path) -> None:
    """The sidecar disagrees with the array about the stored side."""
    sidecar = array_path.with_suffix(".json")
    meta = json.loads(sidecar.read_text())
    meta["side"] = meta["side"] // 2
    sidecar.write_text(json.dumps(meta))


def _drop_side(array_path: Path) -> None:
    """A sidecar without the stored side, as the layout before images-v3 wrote them."""
    sidecar = array_path.with_suffix(".json")
    meta = json.loads(sidecar.read_text())
    del meta["side"]
    sidecar.write_text(json.dumps(meta))


@pytest.mark.parametrize("mmap", [False, True])
@pytest.mark.parametrize(
    "damage",
    [
        _flip_rows,
        _random_bytes,
        _truncate,
        _garble_sidecar,
        _drop_checksum,
        _other_side,
        _drop_side,
    ],
)
def test_damaged_cache_entry_is_noted_and_decoded_again(
    tmp_path, fakes, monkeypatch, capsys, isolated_cache, damage, mmap
):
    rng = np.random.default_rng(3)
    files = [fakes.write_image(tmp_path / f"img{i}.png", rng, size=12) for i in range(4)]
    first, _ = cached_images(files, 8)
    (array_path,) = (isolated_cache / "images").glob("*.npy")
    damage(array_path)
    calls = []
    original = images_module.decode_images
    monkeypatch.setattr(
        images_module, "decode_images", lambda *a, **k: calls.append(1) or original(*a, **k)
    )
    capsys.readouterr()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        again, skipped = cached_images(files, 8, mmap=mmap)
    assert calls == [1] and skipped == []
    np.testing.assert_array_equal(again, first)
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and str(array_path) in err and "decoding again" in err
    # the entry was rewritten whole: the next call reads it without decoding or a note
    np.testing.assert_array_equal(cached_images(files, 8, mmap=mmap)[0], first)
    assert calls == [1] and capsys.readouterr().err == ""


def _write_pixels(path: Path, rng: np.random.Generator, height: int, width: int) -> Path:
    pixels = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(path)
    return path


def _read_at(files: list[Path], size: int) -> np.ndarray:
    """The images as the cache stored them before images-v3: each decoded at size x size."""
    return np.stack([read_image(path, size).transpose(2, 0, 1) for path in files])


def test_small_squares_are_stored_at_their_native_side(tmp_path, isolated_cache):
    rng = np.random.default_rng(10)
    files = [
        _write_pixels(tmp_path / f"img{i}{'.jpg' if i % 2 else '.png'}", rng, 12, 12)
        for i in range(6)
    ]
    images, skipped = cached_images(files, 32)
    assert isinstance(images, DecodedImages) and skipped == []
    assert images.stored.shape == (6, 3, 12, 12) and images.side == 12 and images.size == 32
    assert images.shape == (6, 3, 32, 32) and len(images) == 6
    assert images.ndim == 4 and images.dtype == np.uint8
    (array_path,) = (isolated_cache / "images").glob("*.npy")
    assert array_path.stat().st_size < 6 * 3 * 12 * 12 + 1024  # not 6 * 3 * 32 * 32
    assert json.loads(array_path.with_suffix(".json").read_text())["side"] == 12
    # every read is byte-identical to decoding at the input size
    old = _read_at(files, 32)
    np.testing.assert_array_equal(np.asarray(images), old)
    np.testing.assert_array_equal(images[4], read_image(files[4], 32).transpose(2, 0, 1))
    # and so is the cache entry read back, loaded or memory-mapped
    for mmap in (False, True):
        again, _ = cached_images(files, 32, mmap=mmap)
        assert again.stored.shape == (6, 3, 12, 12)
        np.testing.assert_array_equal(again[1:5], old[1:5])


@pytest.mark.parametrize(("height", "width"), [(10, 10), (12, 9), (40, 40), (32, 32)], ids=str)
@pytest.mark.parametrize("workers", [1, 3])
def test_a_later_image_of_another_shape_switches_to_the_input_size(
    tmp_path, height, width, workers
):
    rng = np.random.default_rng(11)
    files = [_write_pixels(tmp_path / f"img{i}.png", rng, 12, 12) for i in range(5)]
    files.insert(3, _write_pixels(tmp_path / "other.png", rng, height, width))
    files.append(_write_pixels(tmp_path / "last.png", rng, 12, 12))
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"not an image")
    files.insert(1, broken)
    images, skipped = decode_images(files, 32, on_error="skip", workers=workers)
    assert skipped == [broken]
    good = [path for path in files if path != broken]
    assert images.stored.shape == (len(good), 3, 32, 32) and images.side == 32
    np.testing.assert_array_equal(images.stored, _read_at(good, 32))


def test_larger_images_are_stored_at_the_input_size(tmp_path, isolated_cache):
    rng = np.random.default_rng(12)
    files = [_write_pixels(tmp_path / f"img{i}.tif", rng, 40, 40) for i in range(3)]
    images, _ = cached_images(files, 32)
    assert images.stored.shape == (3, 3, 32, 32)
    np.testing.assert_array_equal(images.stored, _read_at(files, 32))
    np.testing.assert_array_equal(images[:], images.stored)
    wide = [_write_pixels(tmp_path / f"wide{i}.png", rng, 8, 12) for i in range(3)]
    images, _ = cached_images(wide, 32)  # small but not square
    assert images.stored.shape == (3, 3, 32, 32)
    np.testing.assert_array_equal(images.stored, _read_at(wide, 32))


def _decoded(count: int = 40, side: int = 7, size: int = 13) -> DecodedImages:
    stored = np.random.default_rng(13).integers(0, 256, (count, 3, side, side), dtype=np.uint8)
    return DecodedImages(stored, size)


def test_rows_are_read_at_the_input_size_like_an_array():
    images = _decoded()
    full = np.asarray(images)
    assert full.shape == images.shape == (40, 3, 13, 13) and full.dtype == np.uint8
    expected = np.stack(
        [
            np.asarray(
                Image.fromarray(row.transpose(1, 2, 0)).resize((13, 13), Image.Resampling.BILINEAR)
            ).transpose(2, 0, 1)
            for row in images.stored
        ]
    )
    np.testing.assert_array_equal(full, expected)
    mask = np.zeros(40, dtype=bool)
    mask[[0, 5, 39]] = True
    for item in (
        3,
        -1,
        np.int64(7),
        np.array(2),
        slice(5, 30, 4),
        slice(None, None, -9),
        [4, 4, 0],
        np.array([39, -40]),
        mask,
        [],
        np.array([], dtype=np.int64),
    ):
        read = images[item]
        np.testing.assert_array_equal(read, full[item])
        assert type(read) is np.ndarray and read.dtype == np.uint8 and read.flags.writeable
    for bad in (40, -41, [0, 40]):
        with pytest.raises(IndexError):
            images[bad]
    with pytest.raises(IndexError):
        images[np.array([0.0, 1.0])]
    with pytest.raises(IndexError):
        images[np.zeros((2, 2), dtype=np.int64)]
    with pytest.raises(TypeError, match="rows only"):
        images[0, 1]
    # the threads of a read change nothing
    np.testing.assert_array_equal(resize_rows(images.stored, 13, workers=1), full)
    np.testing.assert_array_equal(resize_rows(images.stored, 13, workers=4), full)


def test_reads_at_the_stored_side_are_copies(tmp_path):
    stored = np.random.default_rng(14).integers(0, 256, (5, 3, 6, 6), dtype=np.uint8)
    path = tmp_path / "stored.npy"
    np.save(path, stored)
    images = DecodedImages(np.load(path, mmap_mode="r"), 6)
    for item in (slice(1, 4), 2, [0, 3]):
        read = images[item]
        assert type(read) is np.ndarray and read.flags.writeable
        assert not np.shares_memory(read, images.stored)
        np.testing.assert_array_equal(read, stored[item])
    np.testing.assert_array_equal(np.asarray(images), stored)
    assert np.asarray(images, dtype=np.float32).dtype == np.float32
    with pytest.raises(ValueError, match="uint8"):
        DecodedImages(stored.astype(np.int16), 6)
    with pytest.raises(ValueError, match="s, s"):
        DecodedImages(stored[..., :5], 6)


def test_take_selects_stored_rows_without_resizing():
    images = _decoded()
    full = np.asarray(images)
    mask = np.arange(40) % 3 == 0
    for rows in (np.array([9, 2, 2, -1]), mask, slice(10, 20), [5]):
        taken = images.take(rows)
        assert isinstance(taken, DecodedImages) and taken.size == 13
        assert taken.stored.shape[1:] == (3, 7, 7)  # still at the stored side
        np.testing.assert_array_equal(taken[:], full[rows])
        np.testing.assert_array_equal(taken[[0, -1]], full[rows][[0, -1]])
    with pytest.raises(IndexError):
        images.take(3)  # a row, not a selection of rows
    np.testing.assert_array_equal(select_rows(images, [1, 2])[:], full[[1, 2]])
    np.testing.assert_array_equal(select_rows(full, [1, 2]), full[[1, 2]])
    assert isinstance(select_rows(full, [1, 2]), np.ndarray)


def test_native_sidecar_that_disagrees_is_decoded_again(tmp_path, capsys, isolated_cache):
    rng = np.random.default_rng(15)
    files = [_write_pixels(tmp_path / f"img{i}.png", rng, 12, 12) for i in range(3)]
    first, _ = cached_images(files, 32)
    (array_path,) = (isolated_cache / "images").glob("*.npy")
    sidecar = array_path.with_suffix(".json")
    for side in (32, 64, "12"):
        meta = json.loads(sidecar.read_text())
        meta["side"] = side
        sidecar.write_text(json.dumps(meta))
        capsys.readouterr()
        again, _ = cached_images(files, 32)
        err = capsys.readouterr().err
        assert "decoding again" in err and str(array_path) in err
        np.testing.assert_array_equal(again.stored, first.stored)
        assert json.loads(sidecar.read_text())["side"] == 12  # rewritten


def test_cache_key_is_the_identity_of_the_images(tmp_path, fakes):
    rng = np.random.default_rng(4)
    files = [fakes.write_image(tmp_path / f"img{i}.png", rng, size=12) for i in range(3)]
    loaded = load_cached_images(files, 8)
    assert loaded.key == image_cache_key(files, 8)
    assert loaded.key != image_cache_key(files, 8, "skip") != image_cache_key(files, 4)
    # same name, other content: the key (and every cache keyed by it) changes
    fakes.write_image(files[1], np.random.default_rng(5), size=12)
    stat = files[1].stat()
    os.utime(files[1], ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    replaced = load_cached_images(files, 8)
    assert replaced.key != loaded.key
    assert not np.array_equal(replaced.array[1], loaded.array[1])


def test_unwritable_cache_names_the_folder_and_the_fix(
    tmp_path, fakes, monkeypatch, isolated_cache
):
    files = [fakes.write_image(tmp_path / "img.png", np.random.default_rng(0))]

    def refuse(*args, **kwargs):
        raise PermissionError(errno.EACCES, "Permission denied")

    monkeypatch.setattr(tempfile, "mkstemp", refuse)
    with pytest.raises(CacheNotWritable) as error:
        cached_images(files, 8)
    message = str(error.value)
    assert str(isolated_cache / "images") in message and "RSDML_CACHE" in message
    assert isinstance(error.value, UserError)


def test_stale_temporaries_of_killed_writes_are_removed(tmp_path, fakes, isolated_cache):
    folder = isolated_cache / "images"
    folder.mkdir(parents=True)
    old, young = folder / ".abc.npy.x1.tmp", folder / ".abc.npy.x2.tmp"
    for path in (old, young):
        path.write_bytes(b"partial")
    two_days_ago = time.time() - 2 * 24 * 3600
    os.utime(old, (two_days_ago, two_days_ago))
    cached_images([fakes.write_image(tmp_path / "img.png", np.random.default_rng(0))], 8)
    assert not old.exists() and young.exists()  # a young one may be a write in progress


@pytest.fixture
def pillow_limit(monkeypatch):
    """Pillow's decompression-bomb limit lowered so that a 16 x 16 image trips it."""
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)  # refuses above 200 pixels
    monkeypatch.delenv("RSDML_MAX_IMAGE_PIXELS", raising=False)


def test_too_large_image_message_names_the_setting(tmp_path, fakes, pillow_limit):
    path = fakes.write_image(tmp_path / "big.png", np.random.default_rng(0), size=16)
    assert max_image_pixels() == 200
    with pytest.raises(ImageTooLargeError, match="RSDML_MAX_IMAGE_PIXELS") as error:
        read_image(path, 8)
    assert str(path) in str(error.value) and isinstance(error.value, CorruptImageError)


@pytest.mark.parametrize("value", ["1000", "1e3", "0", "none", "None"])
def test_the_setting_lets_large_images_through(tmp_path, fakes, pillow_limit, monkeypatch, value):
    path = fakes.write_image(tmp_path / "big.png", np.random.default_rng(0), size=16)
    monkeypatch.setenv("RSDML_MAX_IMAGE_PIXELS", value)
    assert read_image(path, 8).shape == (8, 8, 3)


def test_the_setting_also_lowers_the_limit(tmp_path, fakes, monkeypatch):
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", Image.MAX_IMAGE_PIXELS)  # restored afterwards
    path = fakes.write_image(tmp_path / "img.png", np.random.default_rng(0), size=16)
    monkeypatch.setenv("RSDML_MAX_IMAGE_PIXELS", "255")
    with pytest.raises(ImageTooLargeError, match="256 pixels exceed RSDML_MAX_IMAGE_PIXELS=255"):
        read_image(path, 8)
    array, skipped = decode_images([path], 8, on_error="skip")
    assert skipped == [path] and len(array) == 0


@pytest.mark.parametrize("value", ["lots", "-5", "1.5", "inf", "nan"])
def test_a_bad_setting_is_a_user_error(tmp_path, fakes, monkeypatch, value):
    path = fakes.write_image(tmp_path / "img.png", np.random.default_rng(0))
    monkeypatch.setenv("RSDML_MAX_IMAGE_PIXELS", value)
    with pytest.raises(ImageOptionError, match="RSDML_MAX_IMAGE_PIXELS"):
        decode_images([path], 8, on_error="skip")  # not a skipped file: the setting is wrong


def test_bad_on_error_is_a_user_error(tmp_path, fakes):
    path = fakes.write_image(tmp_path / "img.png", np.random.default_rng(0))
    with pytest.raises(ImageOptionError, match="on_error=skip"):
        cached_images([path], 8, on_error="ignore")


def test_image_array_dataset_reads_decoded_images_at_the_input_size():
    images = _decoded(count=4)
    dataset = ImageArrayDataset(images, [0, 1, 2, 3])
    image, label, index = dataset[2]
    assert image.shape == (3, 13, 13) and (label, index) == (2, 2)
    torch.testing.assert_close(image, torch.from_numpy(images[2]).float() / 255)


def test_image_array_dataset():
    images = np.arange(2 * 3 * 4 * 4, dtype=np.uint8).reshape(2, 3, 4, 4)
    dataset = ImageArrayDataset(images, [5, 6], indices=[10, 11], transform=lambda x: x * 2)
    assert len(dataset) == 2
    image, label, index = dataset[1]
    assert image.dtype == torch.float32 and image.shape == (3, 4, 4)
    torch.testing.assert_close(image, torch.from_numpy(images[1]).float() / 255 * 2)
    assert (label, index) == (6, 11)
    assert dataset[0][2] == 10 and ImageArrayDataset(images, [0, 1])[1][2] == 1
    with pytest.raises(ValueError, match="same length"):
        ImageArrayDataset(images, [1, 2, 3])


def test_train_transform_is_seeded_and_keeps_shape():
    transform = train_transform(16)
    image = torch.rand(3, 16, 16, generator=torch.Generator().manual_seed(0))
    torch.manual_seed(5)
    first = transform(image)
    torch.manual_seed(5)
    second = transform(image)
    torch.testing.assert_close(first, second)
    assert first.shape == (3, 16, 16) and float(first.min()) >= 0 and float(first.max()) <= 1
    outputs = []
    for seed in range(8):
        torch.manual_seed(seed)
        outputs.append(transform(image))
    assert any(not torch.allclose(out, image) for out in outputs)
    assert train_transform(8)(image).shape == (3, 8, 8)
    assert transform(image.unsqueeze(0).repeat(4, 1, 1, 1)).shape == (4, 3, 16, 16)
