"""Named train/validation protocols for --data."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from siamese.data import DataError
from siamese.data.splits import load_train_val


def test_mnist_trains_on_digits_0_to_5_and_validates_on_6_to_9() -> None:
    train, val = load_train_val("mnist")
    assert train.class_names == ["0", "1", "2", "3", "4", "5"]
    assert val.class_names == ["6", "7", "8", "9"]
    assert len(train) + len(val) == 60_000


def test_att_faces_trains_on_30_subjects_and_validates_on_5() -> None:
    train, val = load_train_val("att_faces")
    assert (train.num_classes, len(train)) == (30, 300)
    assert val.class_names == ["s31", "s32", "s33", "s34", "s35"]


def _folder(root: Path, classes: int, per_class: int = 3) -> Path:
    for c in range(classes):
        (root / f"class{c}").mkdir(parents=True)
        for i in range(per_class):
            Image.fromarray(np.full((8, 8), 20 * i, np.uint8)).save(root / f"class{c}" / f"{i}.png")
    return root


def test_folder_split_is_seeded_and_disjoint(tmp_path: Path) -> None:
    root = _folder(tmp_path / "data", classes=10)
    train, val = load_train_val(f"folder:{root}", seed=1)
    again, _ = load_train_val(f"folder:{root}", seed=1)
    assert (train.num_classes, val.num_classes) == (8, 2)
    assert not set(train.class_names) & set(val.class_names)
    assert train.class_names == again.class_names


def test_folder_with_too_few_classes_is_a_clear_error(tmp_path: Path) -> None:
    root = _folder(tmp_path / "data", classes=3)
    with pytest.raises(DataError, match="at least 4"):
        load_train_val(f"folder:{root}")


def test_unknown_data_names_the_choices() -> None:
    with pytest.raises(DataError, match="omniglot, mnist, att_faces"):
        load_train_val("cifar")
