"""Dataset registry, on-disk layouts, validation messages and the real UC Merced copy (slow)."""

from __future__ import annotations

import glob
import os
import random
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

from rsdml.data import (
    AID,
    DATASETS,
    NWPURESISC45,
    DatasetNotFoundError,
    EuroSAT,
    KnownDataset,
    NotDownloadableError,
    PatternNet,
    UCMerced,
    UnknownDatasetError,
    UnknownOptionError,
    WrongRootError,
    dataset_class,
    list_datasets,
    load_scene_list,
    make_split,
    register_dataset,
)
from rsdml.errors import UserError

# Read before the autouse fixture clears it: CI points it at the real data for slow tests.
REAL_DATA = os.environ.get("RSDML_DATA")
KNOWN = [UCMerced, AID, NWPURESISC45, PatternNet, EuroSAT]


@pytest.mark.parametrize(
    ("dataset", "classes", "images", "native_size"),
    [
        (UCMerced, 21, 2100, 256),
        (AID, 30, 10000, 600),
        (NWPURESISC45, 45, 31500, 256),
        (PatternNet, 38, 30400, 256),
        (EuroSAT, 10, 27000, 64),
    ],
)
def test_official_facts(dataset: type[KnownDataset], classes: int, images: int, native_size: int):
    assert len(dataset.classes) == classes
    assert dataset.num_images() == images
    assert dataset.native_size == native_size
    # The class states the published size; ``image_size`` is only an instance's resize target.
    assert not hasattr(dataset, "image_size")
    assert list(dataset.classes) == sorted(dataset.classes)
    assert DATASETS[dataset.name] is dataset
    assert dataset.subdirs, "every known dataset names the folder its archive unpacks to"


@pytest.mark.parametrize("dataset", KNOWN, ids=lambda d: d.name)
def test_loads_tiny_copy_in_official_layout(dataset, tmp_path, known_tree):
    folder = known_tree(dataset, tmp_path, per_class=2, seed=3)
    with pytest.warns(UserWarning, match="official counts"):
        scenes = load_scene_list(dataset.name, root=tmp_path)
    assert scenes.name == dataset.name
    assert scenes.root == folder.absolute()
    assert scenes.classes == dataset.classes
    assert len(scenes) == 2 * len(dataset.classes)
    assert all(path.is_absolute() and path.is_file() for path in scenes.files)
    # Ordered by (class name, file name), labels pointing at the class folder of each file.
    keys = [(path.parent.name, path.name) for path in scenes.files]
    assert keys == sorted(keys)
    assert [scenes.classes[label] for label in scenes.labels] == [
        path.parent.name for path in scenes.files
    ]
    assert scenes.labels.dtype == np.int64
    assert scenes.counts() == dict.fromkeys(dataset.classes, 2)


def test_root_may_point_at_the_class_folders_directly(tmp_path, known_tree):
    folder = known_tree(UCMerced, tmp_path)
    with pytest.warns(UserWarning):
        scenes = load_scene_list("ucmerced", root=folder)
    assert scenes.root == folder.absolute()


def test_data_root_from_environment_then_cache(tmp_path, known_tree, monkeypatch, isolated_cache):
    known_tree(EuroSAT, tmp_path / "env")
    monkeypatch.setenv("RSDML_DATA", str(tmp_path / "env"))
    with pytest.warns(UserWarning):
        assert len(load_scene_list("eurosat")) == 20
    monkeypatch.delenv("RSDML_DATA")
    with pytest.raises(DatasetNotFoundError) as error:
        load_scene_list("eurosat")
    assert str(isolated_cache / "data" / "2750") in str(error.value)


def test_eurosat_zenodo_layout_is_accepted(tmp_path, fakes):
    fakes.make_tree(tmp_path, EuroSAT.classes, per_class=1, subdir="EuroSAT_RGB")
    with pytest.warns(UserWarning):
        scenes = load_scene_list("EuroSAT", root=tmp_path)
    assert scenes.root.name == "EuroSAT_RGB"


def test_missing_dataset_message_names_path_and_remedies(tmp_path):
    with pytest.raises(DatasetNotFoundError) as error:
        load_scene_list("nwpu_resisc45", root=tmp_path)
    message = str(error.value)
    assert str(tmp_path / "NWPU-RESISC45") in message
    assert "download=True" in message and NWPURESISC45.urls[0] in message
    assert "RSDML_DATA" in message and "--root" in message
    assert isinstance(error.value, FileNotFoundError)


def test_missing_classes_are_an_error(tmp_path, fakes):
    fakes.make_tree(
        tmp_path, UCMerced.classes[:-2], subdir="UCMerced_LandUse/Images", suffix=".tif"
    )
    with pytest.raises(DatasetNotFoundError, match="storagetanks, tenniscourt"):
        load_scene_list("ucmerced", root=tmp_path)


def test_extra_folders_warn_and_are_ignored(tmp_path, fakes):
    folder = fakes.make_tree(
        tmp_path, UCMerced.classes, per_class=100, subdir="UCMerced_LandUse/Images", suffix=".png"
    )
    fakes.make_tree(folder, ["not_a_class"], per_class=1)
    with pytest.warns(UserWarning, match="not_a_class") as record:
        scenes = load_scene_list("ucmerced", root=tmp_path)
    assert len(record) == 1  # the counts match, so no count warning
    assert len(scenes) == 2100 and "not_a_class" not in scenes.classes


def test_extensions_any_case_and_other_files_ignored(tmp_path, fakes):
    rng = np.random.default_rng(0)
    for index, suffix in enumerate([".TIF", ".tiff", ".Jpg", ".JPEG", ".png", ".bmp"]):
        fakes.write_image(tmp_path / "a" / f"img{index}{suffix}", rng)
        fakes.write_image(tmp_path / "b" / f"img{index}{suffix}", rng)
    (tmp_path / "a" / "notes.txt").write_text("not an image")
    fakes.write_image(tmp_path / "a" / ".hidden.jpg", rng)
    (tmp_path / "a" / "nested").mkdir()
    scenes = load_scene_list("folder", root=tmp_path)
    assert scenes.counts() == {"a": 6, "b": 6}


def test_empty_class_folder_is_an_error(tmp_path, fakes):
    fakes.make_tree(tmp_path, ["x", "y"])
    (tmp_path / "z").mkdir()
    with pytest.raises(DatasetNotFoundError, match=r"\['z'\]"):
        load_scene_list("folder", root=tmp_path)


def test_folder_loads_never_seen_classes(tmp_path, fakes):
    fakes.make_tree(tmp_path, ["Zebra crossing", "ALPHA", "beta_2"], per_class=3, seed=5)
    scenes = load_scene_list("folder", root=tmp_path)
    assert scenes.classes == ("ALPHA", "Zebra crossing", "beta_2")  # sorted folder names
    assert len(scenes) == 9 and scenes.name == "folder"
    split = make_split(scenes, (0.34, 0.33, 0.33))
    assert len(split.train) + len(split.val) + len(split.test) == 9


def test_folder_cannot_be_downloaded(tmp_path, fakes):
    fakes.make_tree(tmp_path, ["x", "y"])
    with pytest.raises(NotDownloadableError, match="drop --download") as error:
        load_scene_list("folder", root=tmp_path, download=True)
    assert isinstance(error.value, UserError)


def test_folder_needs_two_classes(tmp_path, fakes):
    fakes.make_tree(tmp_path, ["only"])
    with pytest.raises(DatasetNotFoundError, match="at least 2"):
        load_scene_list("folder", root=tmp_path)
    with pytest.raises(DatasetNotFoundError, match="at least 2"):
        load_scene_list("folder", root=tmp_path / "absent")


def test_registry_holds_every_dataset_module_in_listing_order():
    assert list(DATASETS) == [
        "ucmerced",
        "aid",
        "nwpu_resisc45",
        "patternnet",
        "eurosat",
        "folder",
        "synthetic",
    ]
    for name, dataset in DATASETS.items():
        assert dataset.__module__ == f"rsdml.data.datasets.{name}"

    class Impostor(KnownDataset):
        name = "ucmerced"

    with pytest.raises(ValueError, match="already registered"):
        register_dataset(Impostor)
    assert DATASETS["ucmerced"] is UCMerced


def test_names_and_aliases():
    assert dataset_class("NWPU-RESISC45") is NWPURESISC45
    assert dataset_class("resisc45") is NWPURESISC45
    assert dataset_class("UCM") is UCMerced


def test_unknown_name_is_a_user_error_with_the_closest_name():
    with pytest.raises(UnknownDatasetError) as error:
        load_scene_list("ucmerce")
    message = str(error.value)
    assert message.startswith("unknown dataset 'ucmerce': did you mean 'ucmerced'?")
    assert all(name in message for name in DATASETS)
    assert isinstance(error.value, UserError) and isinstance(error.value, KeyError)
    with pytest.raises(UnknownDatasetError, match="did you mean 'nwpu_resisc45'"):
        dataset_class("resisc")  # an alias's closest match names the dataset itself
    with pytest.raises(UnknownDatasetError) as error:
        dataset_class("zzzz")
    assert "did you mean" not in str(error.value) and "known: ucmerced" in str(error.value)


def test_unknown_options_list_the_options_a_dataset_takes(tmp_path, fakes):
    fakes.make_tree(tmp_path, ["x", "y"])
    with pytest.raises(UnknownOptionError) as error:
        load_scene_list("folder", root=tmp_path, num_classes=3)
    message = str(error.value)
    assert "'folder' takes no options, got 'num_classes'" in message
    assert "'synthetic' takes num_classes, images_per_class, image_size, seed, progress" in message
    assert isinstance(error.value, UserError) and isinstance(error.value, TypeError)
    with pytest.raises(UnknownOptionError, match="'ucmerced' takes no options"):
        load_scene_list("ucmerced", root="/nonexistent", num_classes=3)
    with pytest.raises(UnknownOptionError) as error:
        load_scene_list("synthetic", num_class=3)
    assert "did you mean 'num_classes'?" in str(error.value)
    assert "its options are num_classes, images_per_class" in str(error.value)
    with pytest.raises(UnknownOptionError, match="takes no options"):
        UCMerced(tmp_path, split="train", num_classes=3)


@pytest.mark.parametrize("dataset", KNOWN, ids=lambda d: d.name)
def test_root_at_a_class_folder_names_the_data_root(dataset, tmp_path, known_tree):
    folder = known_tree(dataset, tmp_path, per_class=1)
    with pytest.raises(WrongRootError) as error:
        load_scene_list(dataset.name, root=folder / dataset.classes[0])
    assert error.value.suggestion == tmp_path
    assert f"--root {tmp_path} " in str(error.value)


@pytest.mark.parametrize("dataset", KNOWN, ids=lambda d: d.name)
def test_root_one_level_above_the_data_root_is_recognised(dataset, tmp_path, known_tree):
    known_tree(dataset, tmp_path / "data" / "remote_sensing", per_class=1)
    with pytest.raises(WrongRootError) as error:
        load_scene_list(dataset.name, root=tmp_path / "data")
    assert error.value.suggestion == tmp_path / "data" / "remote_sensing"


@pytest.mark.parametrize(
    "dataset", [d for d in KNOWN if len(Path(d.subdirs[0]).parts) > 1], ids=lambda d: d.name
)
def test_root_at_the_datasets_own_folder_is_not_offered_a_download(
    dataset, tmp_path, known_tree, monkeypatch, closed_port_url
):
    # e.g. --root .../UCMerced_LandUse instead of the folder that holds it
    known_tree(dataset, tmp_path, per_class=1)
    monkeypatch.setattr(dataset, "urls", (closed_port_url,))
    own = tmp_path / Path(dataset.subdirs[0]).parts[0]
    for download in (False, True):
        with pytest.raises(WrongRootError) as error:
            load_scene_list(dataset.name, root=own, download=download)
        assert error.value.suggestion == tmp_path
        message = str(error.value)
        assert f"--root {tmp_path} " in message and "download=True" not in message
    assert sorted(p.name for p in own.iterdir()) == [Path(dataset.subdirs[0]).parts[1]]
    with pytest.warns(UserWarning):
        assert len(load_scene_list(dataset.name, root=error.value.suggestion)) > 0


def test_renamed_dataset_folder_suggests_the_class_folders(tmp_path, fakes):
    classes = fakes.make_tree(
        tmp_path, UCMerced.classes, per_class=1, subdir="my_ucm/Images", suffix=".tif"
    )
    with pytest.raises(WrongRootError) as error:
        load_scene_list("ucmerced", root=tmp_path / "my_ucm")
    assert error.value.suggestion == classes
    assert "the folder of class folders itself" in str(error.value)


def test_single_component_layouts_load_from_their_own_folder(tmp_path, known_tree):
    for dataset in (AID, NWPURESISC45, EuroSAT):
        folder = known_tree(dataset, tmp_path, per_class=1)
        with pytest.warns(UserWarning):
            assert load_scene_list(dataset.name, root=folder).root == folder.absolute()


def test_folder_root_one_level_off_names_the_right_root(tmp_path, fakes):
    top = tmp_path / "UCMerced_LandUse"
    classes = fakes.make_tree(top, ["a", "b", "c"], subdir="Images")
    (top / "readme.txt").write_text("the dataset's own readme")
    with pytest.raises(WrongRootError, match="at least 2") as error:
        load_scene_list("folder", root=top)  # one level too high
    assert error.value.suggestion == classes
    with pytest.raises(WrongRootError, match="one class folder") as error:
        load_scene_list("folder", root=classes / "a")  # one level too deep
    assert error.value.suggestion == classes
    fakes.make_tree(tmp_path / "other", ["x", "y"])
    with pytest.raises(WrongRootError, match="hold folders, not images") as error:
        load_scene_list("folder", root=tmp_path)  # two datasets side by side
    assert error.value.suggestion == tmp_path / "other"
    assert str(classes) not in str(error.value)  # UCMerced_LandUse holds Images, not classes


def test_list_datasets_reports_presence(tmp_path, known_tree):
    known_tree(UCMerced, tmp_path)
    rows = {row["name"]: row for row in list_datasets(tmp_path)}
    assert set(rows) == set(DATASETS)
    for row in rows.values():
        assert set(row) == {"name", "title", "classes", "images", "path", "present"}
    assert rows["ucmerced"]["present"] and rows["ucmerced"]["images"] == 2100
    assert rows["ucmerced"]["path"] == str(tmp_path / "UCMerced_LandUse/Images")
    assert not rows["aid"]["present"] and rows["aid"]["path"] == str(tmp_path / "AID")
    assert rows["synthetic"]["present"] and rows["synthetic"]["classes"] == 10


def test_dataset_object_has_torchgeo_constructor_shape(tmp_path, known_tree):
    known_tree(UCMerced, tmp_path, per_class=10)

    def flip(image):
        return image.flip(-1)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        train = UCMerced(tmp_path, split="train", transforms=flip, image_size=16)
        test = UCMerced(root=tmp_path, split="test", download=False, checksum=False)
    assert len(train) == 21 * 7 and len(test) == 21 * 2
    assert (train.image_size, test.image_size, train.native_size) == (16, None, 256)
    assert test[0]["image"].shape == (3, 8, 8)  # no resize target: the size on disk
    sample = train[0]
    assert sample["image"].shape == (3, 16, 16) and sample["image"].dtype == torch.float32
    assert 0.0 <= float(sample["image"].min()) and float(sample["image"].max()) <= 1.0
    assert sample["index"] == int(train.split.train[0])
    assert sample["label"] == int(train.scenes.labels[sample["index"]])
    with pytest.raises(ValueError, match="split"), warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        UCMerced(tmp_path, split="holdout")


@pytest.mark.slow
@pytest.mark.skipif(
    not REAL_DATA or not (Path(REAL_DATA) / "UCMerced_LandUse" / "Images").is_dir(),
    reason="needs RSDML_DATA pointing at a folder with UCMerced_LandUse/Images",
)
def test_real_uc_merced_copy_and_protocol():
    scenes = load_scene_list("ucmerced", root=REAL_DATA)
    assert len(scenes.classes) == 21 and len(scenes) == 2100
    split = make_split(scenes)
    summary = split.summary(scenes.labels, scenes.classes)
    assert (summary["train"], summary["val"], summary["test"]) == (1470, 210, 420)
    assert all(
        counts == {"train": 70, "val": 10, "test": 20} for counts in summary["per_class"].values()
    )
    # Re-derive two classes' split the way the released code does (global seed, glob, slicing).
    for class_name in ("agricultural", "tenniscourt"):
        paths = sorted(glob.glob(os.path.join(scenes.root, class_name, "*.*")))
        random.seed(42)
        random.shuffle(paths)
        expected_train = [Path(p).name for p in paths[: int(0.7 * len(paths))]]
        expected_test = [Path(p).name for p in paths[int(0.8 * len(paths)) :]]
        label = scenes.classes.index(class_name)
        train = [scenes.files[i].name for i in split.train if scenes.labels[i] == label]
        test = [scenes.files[i].name for i in split.test if scenes.labels[i] == label]
        assert train == expected_train and test == expected_test
