"""The common shape of every data set: decoded images with a class, a group and a drawer each."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
from PIL import Image
from tqdm import tqdm

from siamese.transforms import PreprocessConfig, preprocess


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


def to_tensor(images: list[Image.Image], config: PreprocessConfig, desc: str = "preprocessing") -> torch.Tensor:
    """Run the shared preprocessing over a list once: ``[N, C, H, W]`` uint8 (0-255) to save memory."""
    out = torch.empty((len(images), config.channels, config.size, config.size), dtype=torch.uint8)
    for i, image in enumerate(tqdm(images, desc=desc, leave=False, disable=len(images) < 2000)):
        out[i] = (preprocess(image, config) * 255.0).round().to(torch.uint8)
    return out
