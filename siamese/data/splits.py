"""Named training/validation splits, so that ``--data`` picks a whole protocol.

- ``omniglot``: the 30 background alphabets / the 10 validation alphabets (Lake's 10 are the test).
- ``mnist``: digits 0-5 of the training set / digits 6-9 of the training set (unseen classes).
- ``att_faces``: subjects 1-30 / subjects 31-35 (36-40 are the test).
- ``folder:PATH``: any ``PATH/<class>/<image>`` folder, its classes split 80/20 by a seeded shuffle.
"""

from __future__ import annotations

import numpy as np

from siamese.data.base import DataError, ImageSet

DATA_SPECS = ("omniglot", "mnist", "att_faces", "folder:PATH")


def load_train_val(spec: str, seed: int = 0) -> tuple[ImageSet, ImageSet]:
    """The training and validation image sets of a named protocol."""
    if spec == "omniglot":
        from siamese.data.omniglot import load_omniglot

        return load_omniglot("train"), load_omniglot("validation")
    if spec == "mnist":
        from siamese.data.mnist import load_mnist

        train = load_mnist("train")
        return train.subset(train.labels < 6, "mnist-0-5"), train.subset(train.labels >= 6, "mnist-6-9")
    if spec == "att_faces":
        from siamese.data.att_faces import load_att_faces

        return load_att_faces(subjects=range(1, 31)), load_att_faces(subjects=range(31, 36))
    if spec.startswith("folder:"):
        from siamese.data.folder import check_trainable, load_image_folder

        data = load_image_folder(spec.removeprefix("folder:"))
        check_trainable(data)
        return split_classes(data, 0.2, seed)
    raise DataError(f"Unknown data {spec!r}; choose from {', '.join(DATA_SPECS)}.")


def split_classes(data: ImageSet, fraction: float, seed: int) -> tuple[ImageSet, ImageSet]:
    """Hold out a seeded ``fraction`` of the classes (at least 2 each side) for validation."""
    if data.num_classes < 4:
        raise DataError(f"{data.name or 'The data set'} has {data.num_classes} classes; a train/validation split needs at least 4.")
    order = np.random.default_rng(seed).permutation(data.num_classes)
    n_val = min(max(2, round(fraction * data.num_classes)), data.num_classes - 2)
    held_out = np.isin(data.labels, order[:n_val])
    return data.subset(~held_out, f"{data.name}-train"), data.subset(held_out, f"{data.name}-validation")
