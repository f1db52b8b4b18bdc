"""The common shape of every data set: decoded images with a class, a group and a drawer each."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from siamese.utils import progress_bar, replacing
from siamese.transforms import PREPROCESS_VERSION, PreprocessConfig, preprocess


class DataError(RuntimeError):
    """Missing, corrupt or unusable data; the message names the file and what to do."""


@dataclass
class ImageSet:
    """Images with labels, in memory.

    ``labels`` index ``class_names``; ``groups`` index ``group_names`` (Omniglot's alphabets,
    used for within-alphabet trials; one group when a data set has none); ``drawers`` is the
    drawer or sample number of each image (Omniglot's 1-20, else a running index).
    """

    images: list[Image.Image]
    labels: np.ndarray
    class_names: list[str]
    groups: np.ndarray
    group_names: list[str]
    drawers: np.ndarray
    name: str = ""
    class_ids: list[int] = field(default_factory=list)  # source ids (Omniglot's global 1-1623)

    def __post_init__(self) -> None:
        self.labels = np.asarray(self.labels, dtype=np.int64)
        self.groups = np.asarray(self.groups, dtype=np.int64)
        self.drawers = np.asarray(self.drawers, dtype=np.int64)
        if not (len(self.images) == len(self.labels) == len(self.groups) == len(self.drawers)):
            raise ValueError("images, labels, groups and drawers must have the same length")

    def __len__(self) -> int:
        return len(self.images)

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def joined(self, other: "ImageSet", name: str) -> "ImageSet":
        """This set followed by ``other``, whose classes and groups are numbered after this one's."""
        return ImageSet(self.images + other.images, np.concatenate([self.labels, other.labels + self.num_classes]),
                        self.class_names + other.class_names, np.concatenate([self.groups, other.groups + len(self.group_names)]),
                        self.group_names + other.group_names, np.concatenate([self.drawers, other.drawers]), name,
                        self.class_ids + other.class_ids if self.class_ids and other.class_ids else [])  # fmt: skip

    def with_transformed_classes(self, turns: tuple[int, ...] = (1, 2, 3), mirrored: bool = False) -> "ImageSet":
        """This set plus each class turned by ``90° x turn`` as a new class, in a new group; with ``mirrored``, also
        each class mirrored left to right, and each mirrored class turned (all eight symmetries of the square).

        A rotated or mirrored character is a different character, so this multiplies the classes to learn
        from (Vinyals et al., 2016, for rotations) without touching the evaluation classes.
        """
        variants = [(False, turn) for turn in turns] + ([(True, turn) for turn in (0, *turns)] if mirrored else [])
        images, labels, groups, drawers = list(self.images), [self.labels], [self.groups], [self.drawers]
        class_names, group_names = list(self.class_names), list(self.group_names)
        for mirror, turn in variants:
            images += [_transformed(image, mirror, turn) for image in self.images]
            labels.append(self.labels + len(class_names))
            groups.append(self.groups + len(group_names))
            drawers.append(self.drawers)
            how = ", ".join(part for part in ("mirrored" if mirror else "", f"rotated {90 * turn}" if turn else "") if part)
            class_names += [f"{name} ({how})" for name in self.class_names]
            group_names += [f"{name} ({how})" for name in self.group_names]
        return ImageSet(images, np.concatenate(labels), class_names, np.concatenate(groups), group_names,
                        np.concatenate(drawers), self.name, self.class_ids * (len(variants) + 1) if self.class_ids else [])  # fmt: skip

    def subset(self, mask: np.ndarray, name: str | None = None) -> "ImageSet":
        """The images where ``mask`` is true, with classes and groups renumbered densely."""
        index = np.flatnonzero(mask)
        kept_classes, labels = np.unique(self.labels[index], return_inverse=True)
        kept_groups, groups = np.unique(self.groups[index], return_inverse=True)
        return ImageSet(
            images=[self.images[i] for i in index],
            labels=labels,
            class_names=[self.class_names[c] for c in kept_classes],
            groups=groups,
            group_names=[self.group_names[g] for g in kept_groups],
            drawers=self.drawers[index],
            name=name or self.name,
            class_ids=[self.class_ids[c] for c in kept_classes] if self.class_ids else [],
        )


def preprocess_dataset(
    images: list[Image.Image], config: PreprocessConfig, desc: str = "preprocessing", cache_dir: Path | None = None
) -> torch.Tensor:
    """Run the shared preprocessing over a list once: ``[N, C, H, W]`` uint8 (0-255) to save memory.

    With ``cache_dir`` the result is kept on disk under a fingerprint of the pixels, the config and
    :data:`~siamese.transforms.PREPROCESS_VERSION`, so repeated runs (and resumed ones) skip the
    work; any change to one of them makes a new entry.
    """
    if cache_dir is None:
        return _preprocess_all(images, config, desc)
    digest = hashlib.sha256(json.dumps({**config.to_dict(), "version": PREPROCESS_VERSION}, sort_keys=True).encode())
    for image in images:
        digest.update(f"{image.mode}{image.size}".encode())
        digest.update(image.tobytes())
    path = Path(cache_dir) / f"{digest.hexdigest()[:24]}.pt"
    if path.is_file():
        try:
            return torch.load(path, weights_only=True)
        except (OSError, RuntimeError, EOFError):
            path.unlink(missing_ok=True)  # a cut-short entry: rebuild it
    tensor = _preprocess_all(images, config, desc)
    with replacing(path) as partial:
        torch.save(tensor, partial)
    return tensor


def _preprocess_all(images: list[Image.Image], config: PreprocessConfig, desc: str) -> torch.Tensor:
    out = torch.empty((len(images), config.channels, config.input_size, config.input_size), dtype=torch.uint8)
    for i, image in enumerate(progress_bar(images, desc=desc, leave=False)):
        out[i] = (preprocess(image, config) * 255.0).round().to(torch.uint8)
    return out


def _transformed(image: Image.Image, mirror: bool, turn: int) -> Image.Image:
    """``image`` mirrored left to right (when ``mirror``), then turned counter-clockwise by ``90° x turn``."""
    image = image.transpose(Image.Transpose.FLIP_LEFT_RIGHT) if mirror else image
    return image.transpose(_TURNS[turn]) if turn else image


_TURNS = {1: Image.Transpose.ROTATE_90, 2: Image.Transpose.ROTATE_180, 3: Image.Transpose.ROTATE_270}
