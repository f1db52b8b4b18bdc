"""Named protocols, so that ``--data`` picks a whole set of splits: what trains, what validates, what tests.

===============  =====================================  ====================================  ======================================
``--data``       train                                  validation (early stopping)           test (``scripts/evaluate.py``)
===============  =====================================  ====================================  ======================================
``omniglot``     the 30 background alphabets            10 evaluation alphabets               Lake's 10 test alphabets
``mnist``        digits 0-5 of the training set         digits 6-9 of the training set        digits 6-9 of the test set
``att_faces``    subjects s1-s30                        subjects s31-s35                      subjects s36-s40
``folder:PATH``  80% of the classes (seeded shuffle)    the other 20%                         the same held-out 20%
===============  =====================================  ====================================  ======================================

Besides these, :data:`SPLITS` lists the other splits a protocol names for evaluation: Omniglot's
``evaluation`` (all 20 evaluation alphabets), MNIST's ``all`` (every digit of the test set: seen
classes on unseen images and unseen classes), the faces' ``held-out`` (s31-s40, every subject that
training never saw). A folder is split in two only, so its ``test`` and ``held-out`` are its
validation classes.
"""

from __future__ import annotations

import numpy as np

from siamese.data.base import DataError, ImageSet

DATA_SPECS = ("omniglot", "mnist", "att_faces", "folder:PATH")

#: For each protocol, its splits and what each one holds (shown in model cards and error messages).
SPLITS: dict[str, dict[str, str]] = {
    "omniglot": {
        "train": "the 30 background alphabets (964 characters)",
        "validation": "the 10 evaluation alphabets that Lake's runs do not use",
        "test": "the 10 alphabets of Lake's 20 official runs",
        "evaluation": "all 20 evaluation alphabets (659 characters)",
        "validation-held-out": "drawers 13-20 of the 10 validation alphabets (those --train-on-validation does not train on)",
    },
    "mnist": {
        "train": "digits 0-5 of the MNIST training set",
        "validation": "digits 6-9 of the MNIST training set (classes training never saw)",
        "test": "digits 6-9 of the MNIST test set (unseen classes, unseen images)",
        "all": "all ten digits of the MNIST test set (0-5 seen in training, on new images; 6-9 unseen)",
    },
    "att_faces": {
        "train": "subjects s1-s30 (300 photos)",
        "validation": "subjects s31-s35 (50 photos)",
        "test": "subjects s36-s40 (50 photos)",
        "held-out": "subjects s31-s40, all 10 subjects training never saw (100 photos)",
    },
    "folder": {
        "train": "80% of the classes, chosen by a seeded shuffle",
        "validation": "the other 20% of the classes (at least 2), never trained on",
        "test": "the held-out classes (a folder is split in two, so these are the validation classes)",
        "held-out": "the held-out classes (the validation classes)",
    },
}
#: With ``train_on_validation``: the validation alphabets' drawers that stay out of training (Koch et al. also held
#: out drawers); the others (1-12) join the background alphabets.
HELD_OUT_DRAWERS = tuple(range(13, 21))
_FACE_SUBJECTS = {"train": range(1, 31), "validation": range(31, 36), "test": range(36, 41), "held-out": range(31, 41)}


def protocol(spec: str) -> str:
    """The protocol of a ``--data`` value: ``folder:PATH`` -> ``folder``; an unknown one is a DataError."""
    if spec.startswith("folder:"):
        if not spec.removeprefix("folder:"):
            raise DataError("--data folder:PATH needs a path, e.g. folder:/path/to/my/classes.")
        return "folder"
    if spec not in SPLITS:
        raise DataError(f"Unknown data {spec!r}; choose from {', '.join(DATA_SPECS)}.")
    return spec


def describe_split(spec: str, split: str) -> str:
    """What ``split`` of ``spec`` holds, in words (for model cards)."""
    return SPLITS[protocol(spec)][_check_split(spec, split)]


def _check_split(spec: str, split: str) -> str:
    splits = SPLITS[protocol(spec)]
    if split not in splits:
        raise DataError(f"--data {spec} has no split {split!r}; choose from {', '.join(splits)}.")
    return split


def load_train_val(spec: str, seed: int = 0, train_on_validation: bool = False) -> tuple[ImageSet, ImageSet]:
    """The training and validation image sets of a named protocol.

    ``train_on_validation`` (Omniglot only) trains on the validation alphabets too, on drawers 1-12 of each
    character, and validates on the other drawers (:data:`HELD_OUT_DRAWERS`): characters training has seen, so
    that validation then calibrates the scores rather than judging one-shot accuracy."""
    kind = protocol(spec)
    if train_on_validation and kind != "omniglot":
        raise DataError(f"Training on the validation alphabets is for --data omniglot; {spec} has no spare alphabets.")
    if kind == "omniglot":
        from siamese.data.omniglot import load_omniglot

        train, validation = load_omniglot("train"), load_omniglot("validation")
        if train_on_validation:
            held_out = np.isin(validation.drawers, HELD_OUT_DRAWERS)
            train = train.joined(validation.subset(~held_out), "omniglot-train+validation-drawers-1-12")
            validation = validation.subset(held_out, "omniglot-validation-drawers-13-20")
        return train, validation
    if kind == "mnist":
        from siamese.data.mnist import load_mnist

        train = load_mnist("train")
        return train.subset(train.labels < 6, "mnist-0-5"), train.subset(train.labels >= 6, "mnist-6-9")
    if kind == "att_faces":
        from siamese.data.att_faces import load_att_faces

        return load_att_faces(subjects=_FACE_SUBJECTS["train"]), load_att_faces(subjects=_FACE_SUBJECTS["validation"])
    return _folder_sides(spec, seed)


def load_split(spec: str, split: str, seed: int = 0) -> ImageSet:
    """One split of a named protocol (see :data:`SPLITS`); ``seed`` only matters for folders."""
    kind, split = protocol(spec), _check_split(spec, split)
    if kind == "omniglot":
        from siamese.data.omniglot import load_omniglot

        if split == "validation-held-out":
            return load_omniglot("validation", drawers=HELD_OUT_DRAWERS)
        return load_omniglot(split)
    if kind == "mnist":
        from siamese.data.mnist import load_mnist

        if split == "train":
            return load_mnist("train", digits=range(6))
        if split == "validation":
            return load_mnist("train", digits=range(6, 10))
        return load_mnist("test", digits=range(6, 10) if split == "test" else None)
    if kind == "att_faces":
        from siamese.data.att_faces import load_att_faces

        data = load_att_faces(subjects=_FACE_SUBJECTS[split])
        data.name = f"att_faces-{split}"
        return data
    train, held_out = _folder_sides(spec, seed)
    return train if split == "train" else held_out


def _folder_sides(spec: str, seed: int) -> tuple[ImageSet, ImageSet]:
    from siamese.data.folder import check_trainable, load_image_folder

    data = load_image_folder(spec.removeprefix("folder:"))
    check_trainable(data)
    return split_classes(data, 0.2, seed)


def split_classes(data: ImageSet, fraction: float, seed: int) -> tuple[ImageSet, ImageSet]:
    """Hold out a seeded ``fraction`` of the classes (at least 2 each side) for validation."""
    if data.num_classes < 4:
        raise DataError(f"{data.name or 'The data set'} has {data.num_classes} classes; a train/validation split needs at least 4.")
    order = np.random.default_rng(seed).permutation(data.num_classes)
    n_val = min(max(2, round(fraction * data.num_classes)), data.num_classes - 2)
    held_out = np.isin(data.labels, order[:n_val])
    return data.subset(~held_out, f"{data.name}-train"), data.subset(held_out, f"{data.name}-validation")
