"""The AT&T faces: 40 subjects x 10 photos, from the zip, the extracted folder, or a broken zip."""

from __future__ import annotations

import shutil
import zipfile
from pathlib import Path

import numpy as np
import pytest

from siamese.data import DataError, ImageSet, load_att_faces
from siamese.data.prepare import dataset_dir


@pytest.fixture(scope="module")
def faces() -> ImageSet:
    return load_att_faces()


def test_forty_subjects_of_ten_photos(faces: ImageSet) -> None:
    assert len(faces) == 400
    assert faces.class_names == [f"s{i}" for i in range(1, 41)]  # numeric order: s2 before s10
    assert faces.class_ids == list(range(1, 41))
    assert np.bincount(faces.labels).tolist() == [10] * 40
    assert faces.group_names == ["att_faces"]
    for c in range(40):
        assert faces.drawers[faces.labels == c].tolist() == list(range(1, 11))
    assert {image.size for image in faces.images} == {(92, 112)}
    assert {image.mode for image in faces.images} == {"L"}


def test_subject_subset(faces: ImageSet) -> None:
    subset = load_att_faces(subjects=[40, 2, 10])
    assert subset.class_names == ["s2", "s10", "s40"]
    assert len(subset) == 30
    first_s10 = faces.images[int(np.flatnonzero(faces.labels == 9)[0])]
    np.testing.assert_array_equal(np.asarray(subset.images[10]), np.asarray(first_s10))
    with pytest.raises(ValueError, match="subjects"):
        load_att_faces(subjects=[0])


@pytest.mark.parametrize("layout", ["att_faces_folder", "subject_folders"])
def test_extracted_layouts_read_the_same(tmp_path: Path, faces: ImageSet, layout: str) -> None:
    with zipfile.ZipFile(dataset_dir("att_faces") / "att_faces.zip") as archive:
        archive.extractall(tmp_path / "extract")
    root = tmp_path / "extract"
    if layout == "subject_folders":
        root = tmp_path / "subjects"
        shutil.move(tmp_path / "extract" / "att_faces", root)
    extracted = load_att_faces(root)
    assert extracted.class_names == faces.class_names
    np.testing.assert_array_equal(extracted.labels, faces.labels)
    np.testing.assert_array_equal(extracted.drawers, faces.drawers)
    for a, b in zip(extracted.images, faces.images, strict=True):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def test_corrupt_zip_is_a_data_error_naming_it(tmp_path: Path) -> None:
    (tmp_path / "att_faces.zip").write_bytes(b"\x00garbage" * 500)
    with pytest.raises(DataError, match="att_faces.zip"):
        load_att_faces(tmp_path)


def test_missing_subject_is_a_data_error_naming_it(tmp_path: Path) -> None:
    original = dataset_dir("att_faces") / "att_faces.zip"
    with zipfile.ZipFile(original) as source, zipfile.ZipFile(tmp_path / "att_faces.zip", "w") as target:
        for name in source.namelist():
            if not name.startswith("att_faces/s17/"):
                target.writestr(name, source.read(name))
    with pytest.raises(DataError, match=r"\bs17\b"):
        load_att_faces(tmp_path)
    assert len(load_att_faces(tmp_path, subjects=[1, 2])) == 20


def test_unreadable_photo_is_a_data_error_naming_it(tmp_path: Path) -> None:
    (tmp_path / "s1").mkdir()
    (tmp_path / "s1" / "1.pgm").write_bytes(b"P5\n92 112\n255\n" + b"\x00" * 100)  # truncated pixels
    with pytest.raises(DataError, match="1.pgm"):
        load_att_faces(tmp_path, subjects=[1])


def test_nothing_there_is_a_data_error(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="att_faces.zip"):
        load_att_faces(tmp_path)
