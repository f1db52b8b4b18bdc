"""The AT&T (ORL) Database of Faces (AT&T Laboratories Cambridge; Samaria & Harter 1994).

40 subjects ``s1``-``s40`` with 10 grey 92x112 photos each (``sN/M.pgm``, M = 1-10). Accepted layouts,
tried in this order, in the folder given (default: the prepared ``data/att_faces``):

    att_faces/sN/M.pgm      the extracted zip
    sN/M.pgm                the subject folders themselves
    att_faces.zip           the zip as distributed (with or without the ``att_faces/`` prefix inside)
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Sequence

import numpy as np
from PIL import Image

from siamese.data.archive import Archive
from siamese.data.base import DataError, ImageSet
from siamese.data.prepare import dataset_dir

SUBJECTS = tuple(range(1, 41))
_FILE = re.compile(r"(?:^|/)s(?P<subject>\d+)/(?P<number>\d+)\.pgm$", re.IGNORECASE)
_PREPARE = "run `python scripts/prepare_data.py att_faces`"


def load_att_faces(root: str | Path | None = None, subjects: Sequence[int] | None = None) -> ImageSet:
    """Load the faces as "L" images; classes ``s1``..``s40`` in numeric order, drawers = photo number.

    ``subjects`` keeps only those subject numbers (1-40), e.g. to hold some people out for one-shot tests.
    """
    wanted = _check_subjects(subjects)
    folder = Path(root) if root is not None else dataset_dir("att_faces")
    source = _open(folder)
    found: list[tuple[int, int, str]] = []
    for name in source.names(".pgm"):
        match = _FILE.search(name)
        if match and int(match["subject"]) in wanted:
            found.append((int(match["subject"]), int(match["number"]), name))
    missing = sorted(set(wanted) - {subject for subject, _, _ in found})
    if missing:
        listed = ", ".join(f"s{s}" for s in missing)
        raise DataError(f"{source.where} lacks the subject folder(s) {listed}; delete it and {_PREPARE} again.")
    found.sort()
    kept = sorted({subject for subject, _, _ in found})
    label_of = {subject: i for i, subject in enumerate(kept)}
    return ImageSet(
        images=[_grey(source.read_image(name)) for _, _, name in found],
        labels=np.array([label_of[subject] for subject, _, _ in found], dtype=np.int64),
        class_names=[f"s{s}" for s in kept],
        groups=np.zeros(len(found), dtype=np.int64),
        group_names=["att_faces"],
        drawers=np.array([number for _, number, _ in found], dtype=np.int64),
        name="att_faces",
        class_ids=kept,
    )


def _check_subjects(subjects: Sequence[int] | None) -> list[int]:
    if subjects is None:
        return list(SUBJECTS)
    wanted = sorted({int(s) for s in subjects})
    if not wanted or wanted[0] < 1 or wanted[-1] > 40:
        raise ValueError(f"subjects must be a non-empty selection of 1-40, got {list(subjects)!r}.")
    return wanted


def _has_subject_folders(folder: Path) -> bool:
    return folder.is_dir() and any(p.is_dir() and re.fullmatch(r"s\d+", p.name) for p in folder.iterdir())


def _open(folder: Path) -> Archive:
    extracted = folder / "att_faces"
    fix = f"delete it and {_PREPARE} again."
    if extracted.is_dir():
        return Archive(extracted, fix)
    if _has_subject_folders(folder):
        return Archive(folder, fix)
    archive = folder / "att_faces.zip"
    if archive.is_file():
        return Archive(archive, fix)
    raise DataError(f"No AT&T faces in {folder}: expected {archive}, {extracted}/ or the s1..s40 folders; {_PREPARE}.")


def _grey(image: Image.Image) -> Image.Image:
    return image.convert("L") if image.mode != "L" else image
