"""Omniglot (Lake, Salakhutdinov & Tenenbaum 2015) and its one-shot benchmark.

Reads the official layout, zipped or extracted::

    images_background/<Alphabet>/characterNN/<ID>_<DD>.png   (30 alphabets, 964 characters)
    images_evaluation/<Alphabet>/characterNN/<ID>_<DD>.png   (20 alphabets, 659 characters)
    one_shot_runs.zip: runNN/{training/classNN.png, test/itemNN.png, class_labels.txt}

``<ID>`` is the character's global id (1-1623) and ``<DD>`` the drawer (1-20).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import numpy as np
from PIL import Image

from siamese.data.archive import Archive
from siamese.data.base import DataError, ImageSet
from siamese.data.prepare import dataset_dir

#: The 10 evaluation alphabets of Lake's 20 official one-shot runs: the test split.
TEST_ALPHABETS = (
    "Atlantean", "Ge_ez", "Glagolitic", "Gurmukhi", "Kannada",
    "Malayalam", "Manipuri", "Old_Church_Slavonic_(Cyrillic)", "Tengwar", "Tibetan",
)  # fmt: skip
#: The other 10 evaluation alphabets: the validation split.
VALIDATION_ALPHABETS = (
    "Angelic", "Atemayar_Qelisayer", "Aurek-Besh", "Avesta", "Keble",
    "Mongolian", "Oriya", "Sylheti", "Syriac_(Serto)", "ULOG",
)  # fmt: skip
SPLITS = ("train", "validation", "test", "background", "evaluation", "all")
#: Drawers used by the official runs; fresh trials on the test alphabets avoid them.
RUN_DRAWERS = tuple(range(1, 9))

_FILE = re.compile(r"(?P<alphabet>[^/]+)/character(?P<index>\d+)/(?P<id>\d+)_(?P<drawer>\d+)\.png$")


_FIX = "run `python scripts/prepare_data.py omniglot` again to replace it."


def _archive(folder: Path, stem: str) -> Archive:
    """``folder/stem/`` if extracted, else ``folder/stem.zip`` (whose files sit under ``stem/``)."""
    if (folder / stem).is_dir():
        return Archive(folder / stem, _FIX)
    if (folder / f"{stem}.zip").is_file():
        return Archive(folder / f"{stem}.zip", _FIX, prefix=stem)
    raise DataError(f"Neither {folder / stem}.zip nor {folder / stem} exists; run `python scripts/prepare_data.py omniglot`.")


def load_omniglot(split: str = "train", root: str | Path | None = None, drawers: tuple[int, ...] | None = None) -> ImageSet:
    """Load one split: ``train`` (30 background alphabets), ``validation``, ``test`` (Lake's 10),
    ``background``, ``evaluation`` or ``all``. Class names read "Alphabet/characterNN".

    ``drawers`` keeps only those drawers' images (and reads no others), e.g. ``(1,)`` for one
    image per character, as a gallery needs.
    """
    if split not in SPLITS:
        raise ValueError(f"Unknown Omniglot split {split!r}; choose from {', '.join(SPLITS)}.")
    folder = Path(root) if root is not None else dataset_dir("omniglot")
    parts = {"train": ["background"], "background": ["background"]}.get(split, ["evaluation"])
    if split == "all":
        parts = ["background", "evaluation"]
    images: list[Image.Image] = []
    records: list[tuple[str, int, int, int]] = []
    for part in parts:
        archive = _archive(folder, f"images_{part}")
        found = len(records)
        for name in archive.names():
            match = _FILE.search(name)
            if match is None:
                continue
            alphabet = match["alphabet"]
            if split == "validation" and alphabet not in VALIDATION_ALPHABETS:
                continue
            if split == "test" and alphabet not in TEST_ALPHABETS:
                continue
            if drawers is not None and int(match["drawer"]) not in drawers:
                continue
            images.append(archive.read_image(name))
            records.append((alphabet, int(match["index"]), int(match["id"]), int(match["drawer"])))
        if len(records) == found and split not in ("validation", "test"):
            raise DataError(f"No Omniglot images found in {archive.where}.")
    _check_split(split, records, folder)
    return _to_image_set(images, records, f"omniglot-{split}")


def _check_split(split: str, records: list[tuple[str, int, int, int]], folder: Path) -> None:
    evaluation = VALIDATION_ALPHABETS + TEST_ALPHABETS  # the background alphabets have no list to check against
    expected = {"validation": VALIDATION_ALPHABETS, "test": TEST_ALPHABETS, "evaluation": evaluation, "all": evaluation}.get(split)
    if expected:
        missing = sorted(set(expected) - {r[0] for r in records})
        if missing:
            raise DataError(f"The Omniglot data in {folder} lacks the alphabet folder(s) {', '.join(missing)}.")


def _to_image_set(images: list[Image.Image], records: list[tuple[str, int, int, int]], name: str) -> ImageSet:
    alphabets = sorted({r[0] for r in records})
    characters = sorted({(r[0], r[1]) for r in records})
    char_index = {c: i for i, c in enumerate(characters)}
    char_ids: dict[tuple[str, int], int] = {}
    for alphabet, index, global_id, _ in records:
        char_ids[(alphabet, index)] = global_id
    return ImageSet(
        images=images,
        labels=np.array([char_index[(r[0], r[1])] for r in records]),
        class_names=[f"{a}/character{i:02d}" for a, i in characters],
        groups=np.array([alphabets.index(r[0]) for r in records]),
        group_names=alphabets,
        drawers=np.array([r[3] for r in records]),
        name=name,
        class_ids=[char_ids[c] for c in characters],
    )


@dataclass
class OneShotRun:
    """One of Lake's official 20-way runs: 20 training images (one per class) and 20 test items."""

    name: str
    training: list[Image.Image]
    test: list[Image.Image]
    answers: np.ndarray  # answers[i] = index into ``training`` of test item i's class
    alphabet: str = ""  # the alphabet the run's characters come from


#: Runs 1-2 use the first test alphabet, 3-4 the second, and so on (checked against the images in the tests).
RUN_ALPHABETS = tuple(alphabet for alphabet in TEST_ALPHABETS for _ in range(2))


def load_lake_runs(root: str | Path | None = None) -> list[OneShotRun]:
    """The 20 official within-alphabet 20-way one-shot runs (400 trials)."""
    folder = Path(root) if root is not None else dataset_dir("omniglot")
    archive = _archive(folder, "one_shot_runs")
    run_names = sorted({PurePosixPath(n).parts[0] for n in archive.names() if re.match(r"run\d+/", n)})
    if len(run_names) != 20:
        raise DataError(f"Expected 20 runs in {archive.where}, found {len(run_names)}.")
    runs = []
    for run in run_names:
        pairs = [line.split() for line in archive.read_text(f"{run}/class_labels.txt").splitlines() if line.strip()]
        test_names = [PurePosixPath(item).name for item, _ in pairs]
        class_names = sorted({PurePosixPath(cls).name for _, cls in pairs})
        runs.append(
            OneShotRun(
                name=run,
                training=[archive.read_image(f"{run}/training/{c}") for c in class_names],
                test=[archive.read_image(f"{run}/test/{t}") for t in test_names],
                answers=np.array([class_names.index(PurePosixPath(cls).name) for _, cls in pairs]),
                alphabet=RUN_ALPHABETS[len(runs)],
            )
        )
    return runs
