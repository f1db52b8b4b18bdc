"""Any folder of classes, ``root/<class>/<image>``: the user's own data set.

Each sub-folder of ``root`` is a class, named after the folder; the images directly inside it are
its examples. Hidden files and folders (``.DS_Store``, ``.ipynb_checkpoints``) and files with other
extensions are ignored, so a stray ``notes.txt`` does not break loading. Everything that would make
the data unusable (no classes, no images, an unreadable file) is a :class:`DataError` that says what
to fix.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterable

import numpy as np

from siamese.data.archive import decode_image
from siamese.data.base import DataError, ImageSet

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".pgm", ".ppm", ".tif", ".tiff", ".webp")


def load_image_folder(root: str | Path, extensions: Iterable[str] = IMAGE_EXTENSIONS) -> ImageSet:
    """Load ``root/<class>/<image>``; classes are the folder names, sorted, in one group named after ``root``.

    Images keep their mode ("L", "RGB", ...), are turned upright by their EXIF orientation, and get
    a running index as their drawer. Class folders without images are skipped.
    """
    root = Path(root)
    wanted = {_normalise(e) for e in extensions}
    if not root.exists():
        raise DataError(f"The image folder {root} does not exist.")
    if not root.is_dir():
        raise DataError(f"{root} is not a folder; expected a folder with one sub-folder per class.")
    folders = [p for p in sorted(root.iterdir()) if p.is_dir() and not _hidden(p)]
    if not folders:
        raise DataError(
            f"{root} has no class folders; put each class's images in its own sub-folder, root/<class>/<image>."
        )
    classes = [(folder.name, _image_files(folder, wanted)) for folder in folders]
    classes = [(name, files) for name, files in classes if files]
    if not classes:
        raise DataError(f"No images found in the class folders of {root} (looked for {', '.join(sorted(wanted))}).")
    if len(classes) < 2:
        raise DataError(
            f"{root} has images in only one class folder ({classes[0][0]}); "
            "matching needs at least 2 classes, each in its own sub-folder."
        )
    paths = [path for _, files in classes for path in files]
    labels = np.concatenate([np.full(len(files), i, dtype=np.int64) for i, (_, files) in enumerate(classes)])
    return ImageSet(
        images=[decode_image(path, str(path), "Remove or replace the file.") for path in paths],
        labels=labels,
        class_names=[name for name, _ in classes],
        groups=np.zeros(len(paths), dtype=np.int64),
        group_names=[root.resolve().name or str(root)],
        drawers=np.arange(len(paths), dtype=np.int64),
        name=root.resolve().name or str(root),
    )


def check_trainable(data: ImageSet) -> None:
    """Raise :class:`DataError` naming the classes with fewer than 2 images: a same-pair needs two."""
    counts = np.bincount(data.labels, minlength=data.num_classes)
    short = [data.class_names[c] for c in np.flatnonzero(counts < 2)]
    if short:
        shown = ", ".join(short[:20]) + (f" and {len(short) - 20} more" if len(short) > 20 else "")
        raise DataError(
            f"{len(short)} class(es) of {data.name or 'the data'} have fewer than 2 images, so no same-pair "
            f"can be drawn from them: {shown}. Add images or remove those classes."
        )
    if data.num_classes < 2:
        raise DataError(f"{data.name or 'the data'} has {data.num_classes} class(es); training needs at least 2.")


def _image_files(folder: Path, extensions: set[str]) -> list[Path]:
    return [p for p in sorted(folder.iterdir()) if p.is_file() and not _hidden(p) and p.suffix.lower() in extensions]


def _hidden(path: Path) -> bool:
    return path.name.startswith(".")


def _normalise(extension: str) -> str:
    extension = extension.lower()
    return extension if extension.startswith(".") else f".{extension}"
