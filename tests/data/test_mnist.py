"""MNIST from its IDX files: sizes, labels, digit subsets, un-gzipped copies and corrupt files."""

from __future__ import annotations

import gzip
import shutil
from pathlib import Path

import numpy as np
import pytest

from siamese.data import DataError, ImageSet, load_mnist
from siamese.data.prepare import dataset_dir

TEST_FILES = ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")


@pytest.fixture(scope="module")
def mnist_train() -> ImageSet:
    return load_mnist("train")


@pytest.fixture(scope="module")
def mnist_test() -> ImageSet:
    return load_mnist("test")


def _copy_test_files(target: Path, gunzip: bool = False) -> Path:
    target.mkdir(parents=True, exist_ok=True)
    for name in TEST_FILES:
        source = dataset_dir("mnist") / f"{name}.gz"
        if gunzip:
            (target / name).write_bytes(gzip.decompress(source.read_bytes()))
        else:
            shutil.copyfile(source, target / f"{name}.gz")
    return target


def test_train_split(mnist_train: ImageSet) -> None:
    assert len(mnist_train) == 60_000
    assert mnist_train.class_names == [str(d) for d in range(10)]
    assert mnist_train.group_names == ["mnist"]
    assert mnist_train.images[0].size == (28, 28) and mnist_train.images[0].mode == "L"
    counts = np.bincount(mnist_train.labels, minlength=10)
    assert counts.sum() == 60_000 and counts.min() > 5000
    assert counts[1] == 6742  # the well-known count of ones in the training set
    assert mnist_train.labels[:5].tolist() == [5, 0, 4, 1, 9]
    np.testing.assert_array_equal(mnist_train.drawers, np.arange(60_000))


def test_test_split(mnist_test: ImageSet) -> None:
    assert len(mnist_test) == 10_000
    assert mnist_test.num_classes == 10
    assert np.bincount(mnist_test.labels, minlength=10).sum() == 10_000
    assert mnist_test.labels[:3].tolist() == [7, 2, 1]
    first = np.asarray(mnist_test.images[0])
    assert first.shape == (28, 28) and first.dtype == np.uint8 and first.max() == 255 and first[0, 0] == 0


def test_digit_subset_keeps_digit_names(mnist_test: ImageSet) -> None:
    subset = load_mnist("test", digits=[9, 6, 7, 8])
    assert subset.class_names == ["6", "7", "8", "9"]
    assert subset.class_ids == [6, 7, 8, 9]
    expected = np.isin(mnist_test.labels, [6, 7, 8, 9])
    assert len(subset) == expected.sum()
    np.testing.assert_array_equal(subset.drawers, np.flatnonzero(expected))
    np.testing.assert_array_equal(np.array(subset.class_names, dtype=int)[subset.labels], mnist_test.labels[expected])
    np.testing.assert_array_equal(np.asarray(subset.images[0]), np.asarray(mnist_test.images[subset.drawers[0]]))


def test_bad_arguments_are_rejected() -> None:
    with pytest.raises(ValueError, match="split"):
        load_mnist("validation")
    with pytest.raises(ValueError, match="digits"):
        load_mnist("test", digits=[3, 10])


def test_ungzipped_files_read_the_same(tmp_path: Path, mnist_test: ImageSet) -> None:
    raw = load_mnist("test", root=_copy_test_files(tmp_path, gunzip=True))
    np.testing.assert_array_equal(raw.labels, mnist_test.labels)
    for i in (0, 1234, 9999):
        np.testing.assert_array_equal(np.asarray(raw.images[i]), np.asarray(mnist_test.images[i]))


@pytest.mark.parametrize("gunzip", [False, True], ids=["gz", "raw"])
def test_truncated_file_is_a_data_error_naming_it(tmp_path: Path, gunzip: bool) -> None:
    folder = _copy_test_files(tmp_path, gunzip=gunzip)
    images = folder / (TEST_FILES[0] + ("" if gunzip else ".gz"))
    images.write_bytes(images.read_bytes()[: images.stat().st_size // 2])
    with pytest.raises(DataError, match=TEST_FILES[0]):
        load_mnist("test", root=folder)


def test_wrong_magic_number_is_a_data_error(tmp_path: Path) -> None:
    folder = _copy_test_files(tmp_path, gunzip=True)
    labels = folder / TEST_FILES[1]
    data = bytearray(labels.read_bytes())
    data[3] = 0x03  # claims to be an image file
    labels.write_bytes(bytes(data))
    with pytest.raises(DataError, match="magic number"):
        load_mnist("test", root=folder)


def test_missing_files_are_a_data_error(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="t10k-images-idx3-ubyte"):
        load_mnist("test", root=tmp_path)
