"""MNIST (LeCun, Cortes & Burges) from its four original IDX files.

Reads the files that ``torchvision.datasets.MNIST`` and the classic distribution use, gzipped or not::

    train-images-idx3-ubyte[.gz]  train-labels-idx1-ubyte[.gz]   (60,000 digits)
    t10k-images-idx3-ubyte[.gz]   t10k-labels-idx1-ubyte[.gz]    (10,000 digits)

Every header is checked (magic number, sizes, file length), so a truncated download fails with a
:class:`DataError` that names the file instead of producing garbage images.
"""

from __future__ import annotations

import gzip
import zlib
from pathlib import Path
from typing import Sequence

import numpy as np
from PIL import Image

from siamese.data.base import DataError, ImageSet
from siamese.data.prepare import dataset_dir

SPLITS = {"train": "train", "test": "t10k"}
#: IDX magic numbers: two zero bytes, the element type (0x08 = unsigned byte), the number of dimensions.
_LABELS_MAGIC = 0x00000801
_IMAGES_MAGIC = 0x00000803
_SIZE = 28


def load_mnist(split: str = "train", root: str | Path | None = None, digits: Sequence[int] | None = None) -> ImageSet:
    """Load the ``train`` (60,000) or ``test`` (10,000) digits as 28x28 "L" images.

    ``digits`` keeps only those digits (e.g. train on 0-5 and test one-shot on 6-9); the classes are
    still named by digit. ``drawers`` holds each image's position in its IDX file, so a subset can be
    traced back to the original sample.
    """
    if split not in SPLITS:
        raise ValueError(f"Unknown MNIST split {split!r}; choose from {', '.join(SPLITS)}.")
    kept = _check_digits(digits)
    folder = Path(root) if root is not None else dataset_dir("mnist")
    prefix = SPLITS[split]
    pixels = read_idx_images(_find(folder, f"{prefix}-images-idx3-ubyte"))
    labels = read_idx_labels(_find(folder, f"{prefix}-labels-idx1-ubyte"))
    if len(pixels) != len(labels):
        raise DataError(
            f"The MNIST {split} files in {folder} disagree: {len(pixels)} images but {len(labels)} labels; "
            "delete them and run `python scripts/prepare_data.py mnist` again."
        )
    index = np.flatnonzero(np.isin(labels, kept))
    class_of_digit = np.full(10, -1, dtype=np.int64)
    class_of_digit[kept] = np.arange(len(kept))
    return ImageSet(
        images=[Image.frombytes("L", (_SIZE, _SIZE), pixels[i].tobytes()) for i in index],
        labels=class_of_digit[labels[index]],
        class_names=[str(d) for d in kept],
        groups=np.zeros(len(index), dtype=np.int64),
        group_names=["mnist"],
        drawers=index,
        name=f"mnist-{split}" if digits is None else f"mnist-{split}-{''.join(map(str, kept))}",
        class_ids=list(kept),
    )


def read_idx_images(path: Path) -> np.ndarray:
    """The ``[N, 28, 28]`` uint8 array of an IDX image file, after checking its header and length."""
    data = _read_bytes(path)
    dims = _header(data, path, _IMAGES_MAGIC, 3)
    count, rows, cols = dims
    if (rows, cols) != (_SIZE, _SIZE):
        raise DataError(f"{path} holds {rows}x{cols} images, not MNIST's {_SIZE}x{_SIZE}.")
    _check_length(data, path, 16, count * rows * cols)
    return np.frombuffer(data, dtype=np.uint8, offset=16).reshape(count, rows, cols)


def read_idx_labels(path: Path) -> np.ndarray:
    """The labels (0-9) of an IDX label file, after checking its header, length and values."""
    data = _read_bytes(path)
    (count,) = _header(data, path, _LABELS_MAGIC, 1)
    _check_length(data, path, 8, count)
    labels = np.frombuffer(data, dtype=np.uint8, offset=8).astype(np.int64)
    if labels.size and labels.max() > 9:
        raise DataError(f"{path} holds the label {labels.max()}; MNIST labels are 0-9. The file is corrupt.")
    return labels


def _check_digits(digits: Sequence[int] | None) -> list[int]:
    if digits is None:
        return list(range(10))
    kept = sorted({int(d) for d in digits})
    if not kept or kept[0] < 0 or kept[-1] > 9:
        raise ValueError(f"digits must be a non-empty selection of 0-9, got {list(digits)!r}.")
    return kept


def _find(folder: Path, name: str) -> Path:
    """The gzipped file if present, else the un-gzipped one of the same name."""
    for candidate in (folder / f"{name}.gz", folder / name):
        if candidate.is_file():
            return candidate
    raise DataError(
        f"Neither {folder / name}.gz nor {folder / name} exists; run `python scripts/prepare_data.py mnist`."
    )


def _read_bytes(path: Path) -> bytes:
    try:
        if path.suffix == ".gz":
            with gzip.open(path, "rb") as file:
                return file.read()
        return path.read_bytes()
    except (OSError, EOFError, zlib.error) as error:
        raise DataError(
            f"Cannot read {path}: {error}. The file is truncated or corrupt; delete it and run "
            "`python scripts/prepare_data.py mnist` again."
        ) from error


def _header(data: bytes, path: Path, magic: int, ndim: int) -> tuple[int, ...]:
    """Check the magic number and return the dimensions (big-endian int32 each)."""
    size = 4 + 4 * ndim
    if len(data) < size:
        raise DataError(f"{path} is too short ({len(data)} bytes) to be an IDX file; it is truncated or corrupt.")
    found = int.from_bytes(data[:4], "big")
    if found != magic:
        raise DataError(
            f"{path} is not an MNIST IDX file of this kind (magic number {found:#010x}, expected {magic:#010x})."
        )
    return tuple(int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))


def _check_length(data: bytes, path: Path, header: int, expected: int) -> None:
    if len(data) != header + expected:
        raise DataError(
            f"{path} has {len(data) - header} bytes of data but its header announces {expected}; "
            "the file is truncated or corrupt. Delete it and run `python scripts/prepare_data.py mnist` again."
        )
