"""Named train/validation protocols for --data."""

from __future__ import annotations

import dataclasses
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


# --- the test splits that scripts/evaluate.py --split names -------------------------------------------


def test_att_faces_splits_are_30_5_5_and_held_out_is_the_last_10() -> None:
    from siamese.data.splits import load_split

    sizes = {split: load_split("att_faces", split) for split in ("train", "validation", "test", "held-out")}
    assert {split: (data.num_classes, len(data)) for split, data in sizes.items()} == {
        "train": (30, 300), "validation": (5, 50), "test": (5, 50), "held-out": (10, 100)}  # fmt: skip
    assert sizes["train"].class_names == [f"s{i}" for i in range(1, 31)]
    assert sizes["validation"].class_names == [f"s{i}" for i in range(31, 36)]
    assert sizes["test"].class_names == [f"s{i}" for i in range(36, 41)]
    assert sizes["held-out"].class_names == [f"s{i}" for i in range(31, 41)]
    train, val = load_train_val("att_faces")
    assert train.class_names == sizes["train"].class_names and val.class_names == sizes["validation"].class_names


def test_mnist_splits() -> None:
    from siamese.data.splits import load_split

    test = load_split("mnist", "test")
    assert test.class_names == ["6", "7", "8", "9"] and test.name == "mnist-test-6789"
    assert len(test) == 958 + 1028 + 974 + 1009  # the MNIST test set's sixes, sevens, eights and nines
    every = load_split("mnist", "all")
    assert every.num_classes == 10 and len(every) == 10_000
    train, val = load_split("mnist", "train"), load_split("mnist", "validation")
    assert train.class_names == ["0", "1", "2", "3", "4", "5"] and val.class_names == ["6", "7", "8", "9"]
    assert len(train) + len(val) == 60_000


def test_a_folder_has_two_sides_test_is_the_held_out_classes(tmp_path: Path) -> None:
    from siamese.data.splits import load_split

    root = _folder(tmp_path / "data", classes=10)
    _, val = load_train_val(f"folder:{root}", seed=4)
    for split in ("validation", "test", "held-out"):
        assert load_split(f"folder:{root}", split, seed=4).class_names == val.class_names
    assert load_split(f"folder:{root}", "train", seed=4).num_classes == 8


def test_unknown_split_names_the_choices() -> None:
    from siamese.data.splits import describe_split, load_split

    with pytest.raises(DataError, match="att_faces has no split 'all'; choose from train, validation, test, held-out"):
        load_split("att_faces", "all")
    with pytest.raises(DataError, match="folder:PATH needs a path"):
        load_split("folder:", "test")
    assert describe_split("att_faces", "test") == "subjects s36-s40 (50 photos)"
    assert "6-9" in describe_split("mnist", "test")


def test_training_on_the_validation_alphabets_keeps_their_last_eight_drawers_out() -> None:
    from siamese.data.splits import HELD_OUT_DRAWERS, load_split

    train, validation = load_train_val("omniglot", train_on_validation=True)
    standard_train, standard_validation = load_train_val("omniglot")
    assert len(train.group_names) == 40 and train.num_classes == standard_train.num_classes + standard_validation.num_classes
    added = train.groups >= len(standard_train.group_names)
    assert set(train.drawers[added]) == set(range(1, 13)) and len(train) == len(standard_train) + int(added.sum())
    assert set(validation.drawers) == set(HELD_OUT_DRAWERS) and validation.group_names == standard_validation.group_names
    assert set(validation.class_names) <= set(train.class_names)  # seen characters, new drawings
    assert len(load_split("omniglot", "validation-held-out")) == len(validation)
    with pytest.raises(DataError, match="for --data omniglot"):
        load_train_val("mnist", train_on_validation=True)


def test_a_model_trained_on_the_validation_alphabets_is_never_evaluated_on_drawings_it_saw() -> None:
    from siamese.evaluate import parse_evaluation
    from siamese.evaluation.plan import checkpoint_plan

    plan = checkpoint_plan("omniglot", train_on_validation=True)
    assert {e.mode for e in plan} == {e.mode for e in checkpoint_plan("omniglot")}  # the same evaluations
    for evaluation in plan:
        fitted_on = evaluation.split or "validation" if evaluation.mode == "calibration" else evaluation.resolved_split()
        assert fitted_on in ("test", "validation-held-out"), evaluation
        assert parse_evaluation(evaluation.argv()) == dataclasses.replace(evaluation, title="")  # its command gives it back
