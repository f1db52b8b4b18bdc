"""Omniglot splits, Lake's runs, and the zip / folder readers on real and small fake archives."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from siamese.data import TEST_ALPHABETS, VALIDATION_ALPHABETS, DataError, ImageSet, load_lake_runs, load_omniglot
from siamese.data.prepare import dataset_dir


def _drawers_per_class(data: ImageSet) -> list[list[int]]:
    return [sorted(data.drawers[data.labels == c].tolist()) for c in range(data.num_classes)]


def test_train_split_is_the_30_background_alphabets(omniglot_background: ImageSet) -> None:
    data = omniglot_background
    assert data.num_classes == 964
    assert len(data.group_names) == 30
    assert len(data) == 964 * 20
    assert not set(data.group_names) & (set(TEST_ALPHABETS) | set(VALIDATION_ALPHABETS))
    assert all(drawers == list(range(1, 21)) for drawers in _drawers_per_class(data))
    assert data.images[0].size == (105, 105)


def test_evaluation_split_is_the_20_evaluation_alphabets(omniglot_evaluation: ImageSet) -> None:
    data = omniglot_evaluation
    assert data.num_classes == 659
    assert sorted(data.group_names) == sorted(TEST_ALPHABETS + VALIDATION_ALPHABETS)
    assert len(data) == 659 * 20
    assert all(drawers == list(range(1, 21)) for drawers in _drawers_per_class(data))


def test_validation_and_test_splits_partition_evaluation(
    omniglot_validation: ImageSet, omniglot_test: ImageSet, omniglot_evaluation: ImageSet
) -> None:
    assert omniglot_validation.group_names == sorted(VALIDATION_ALPHABETS)
    assert omniglot_test.group_names == sorted(TEST_ALPHABETS)
    assert len(omniglot_validation.group_names) == len(omniglot_test.group_names) == 10
    for data in (omniglot_validation, omniglot_test):
        assert all(drawers == list(range(1, 21)) for drawers in _drawers_per_class(data))
    assert not set(omniglot_validation.class_ids) & set(omniglot_test.class_ids)
    assert omniglot_validation.num_classes + omniglot_test.num_classes == omniglot_evaluation.num_classes


def test_class_ids_are_the_global_ids_without_overlap(
    omniglot_background: ImageSet, omniglot_evaluation: ImageSet
) -> None:
    background, evaluation = set(omniglot_background.class_ids), set(omniglot_evaluation.class_ids)
    assert len(background) == 964 and len(evaluation) == 659
    assert not background & evaluation
    assert background | evaluation == set(range(1, 1624))
    assert max(background) == 964 and min(evaluation) == 965  # the official numbering
    # Each class's id is the one in its file names: class names and ids stay aligned.
    assert omniglot_background.class_names[0].endswith("/character01")


def test_lake_runs_are_20_runs_of_20_trials() -> None:
    runs = load_lake_runs()
    assert len(runs) == 20
    assert [run.name for run in runs] == [f"run{i:02d}" for i in range(1, 21)]
    for run in runs:
        assert len(run.training) == len(run.test) == 20
        assert sorted(run.answers.tolist()) == list(range(20))
        assert run.training[0].size == (105, 105)


def test_lake_runs_read_the_same_from_the_extracted_folder(tmp_path: Path) -> None:
    with zipfile.ZipFile(dataset_dir("omniglot") / "one_shot_runs.zip") as archive:
        archive.extractall(tmp_path / "one_shot_runs")
    from_zip, from_folder = load_lake_runs(), load_lake_runs(tmp_path)
    assert len(from_folder) == 20
    for a, b in zip(from_zip, from_folder):
        assert a.name == b.name
        np.testing.assert_array_equal(a.answers, b.answers)
        for x, y in zip(a.training + a.test, b.training + b.test):
            np.testing.assert_array_equal(np.asarray(x), np.asarray(y))


# --- A small fake Omniglot in the official layout, to test the readers quickly ------------------------


def _png(seed: int) -> bytes:
    pixels = np.random.default_rng(seed).random((105, 105)) > 0.2
    buffer = io.BytesIO()
    Image.fromarray(pixels).convert("1").save(buffer, format="PNG")
    return buffer.getvalue()


def _fake_part(
    part: str, alphabets: list[str], first_id: int, characters: int = 2, drawers: int = 3
) -> dict[str, bytes]:
    files, global_id = {}, first_id
    for alphabet in alphabets:
        for index in range(1, characters + 1):
            for drawer in range(1, drawers + 1):
                name = f"images_{part}/{alphabet}/character{index:02d}/{global_id:04d}_{drawer:02d}.png"
                files[name] = _png(global_id * 100 + drawer)
            global_id += 1
    return files


def _write_zip(path: Path, files: dict[str, bytes]) -> None:
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in files.items():
            archive.writestr(name, data)


def _write_folder(root: Path, files: dict[str, bytes]) -> None:
    for name, data in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(data)


def _assert_same(a: ImageSet, b: ImageSet) -> None:
    assert a.class_names == b.class_names and a.group_names == b.group_names and a.class_ids == b.class_ids
    np.testing.assert_array_equal(a.labels, b.labels)
    np.testing.assert_array_equal(a.groups, b.groups)
    np.testing.assert_array_equal(a.drawers, b.drawers)
    for x, y in zip(a.images, b.images, strict=True):
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))


def test_extracted_folder_reads_the_same_as_the_zip(tmp_path: Path) -> None:
    background = _fake_part("background", ["Alpha", "Beta_(B)"], first_id=1)
    evaluation = _fake_part("evaluation", list(VALIDATION_ALPHABETS + TEST_ALPHABETS), first_id=5, characters=1)
    (tmp_path / "zipped").mkdir()
    _write_zip(tmp_path / "zipped" / "images_background.zip", background)
    _write_zip(tmp_path / "zipped" / "images_evaluation.zip", evaluation)
    _write_folder(tmp_path / "folder", background)
    _write_folder(tmp_path / "folder", evaluation)
    for split in ("train", "evaluation", "validation", "test", "all"):
        zipped, folder = load_omniglot(split, tmp_path / "zipped"), load_omniglot(split, tmp_path / "folder")
        _assert_same(zipped, folder)
    train = load_omniglot("train", tmp_path / "folder")
    assert train.class_names == [
        "Alpha/character01", "Alpha/character02", "Beta_(B)/character01", "Beta_(B)/character02"
    ]  # fmt: skip
    assert train.class_ids == [1, 2, 3, 4]
    assert train.drawers.tolist() == [1, 2, 3] * 4
    assert train.images[0].mode == "1"
    assert load_omniglot("test", tmp_path / "zipped").group_names == sorted(TEST_ALPHABETS)


def test_corrupt_zip_is_a_data_error_naming_the_file(tmp_path: Path) -> None:
    (tmp_path / "images_background.zip").write_bytes(b"this is not a zip file" * 100)
    with pytest.raises(DataError, match="images_background.zip"):
        load_omniglot("train", tmp_path)


def test_corrupt_image_is_a_data_error_naming_it(tmp_path: Path) -> None:
    files = _fake_part("background", ["Alpha"], first_id=1)
    files["images_background/Alpha/character01/0001_02.png"] = b"\x89PNG garbage"
    _write_zip(tmp_path / "images_background.zip", files)
    with pytest.raises(DataError, match="0001_02.png"):
        load_omniglot("train", tmp_path)


def test_missing_data_is_a_data_error(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="images_background"):
        load_omniglot("train", tmp_path)


def test_missing_test_alphabet_is_a_data_error_naming_it(tmp_path: Path) -> None:
    kept = [a for a in VALIDATION_ALPHABETS + TEST_ALPHABETS if a != "Tengwar"]
    _write_zip(tmp_path / "images_evaluation.zip", _fake_part("evaluation", kept, first_id=1, characters=1, drawers=1))
    assert load_omniglot("validation", tmp_path).num_classes == 10
    with pytest.raises(DataError, match="Tengwar"):
        load_omniglot("test", tmp_path)


def test_unknown_split_is_rejected() -> None:
    with pytest.raises(ValueError, match="split"):
        load_omniglot("training")


@pytest.mark.parametrize("split", ["evaluation", "all"])
def test_missing_evaluation_alphabet_folder_is_a_data_error_naming_it(tmp_path: Path, split: str) -> None:
    """An extracted folder that lost an alphabet is an error, not a silently smaller gallery (the app's is "all")."""
    kept = [a for a in VALIDATION_ALPHABETS + TEST_ALPHABETS if a != "Angelic"]
    _write_folder(tmp_path, _fake_part("evaluation", kept, first_id=10, characters=1, drawers=1))
    _write_folder(tmp_path, _fake_part("background", ["Alpha"], first_id=1, characters=1, drawers=1))
    with pytest.raises(DataError, match="Angelic") as error:
        load_omniglot(split, tmp_path)
    assert str(tmp_path) in str(error.value)


def test_each_run_names_the_alphabet_its_images_come_from(omniglot_test):
    from siamese.data import load_lake_runs

    pixels = {}
    for image, group in zip(omniglot_test.images, omniglot_test.groups):
        pixels[image.convert("L").tobytes()] = omniglot_test.group_names[group]
    for run in load_lake_runs():
        assert {pixels[image.convert("L").tobytes()] for image in run.training + run.test} == {run.alphabet}
