"""Omniglot galleries: one image per character, embedded once per checkpoint and cached on disk.

The gallery holds all 1,623 characters (drawer 1's image of each, from the prepared data, never
committed); an alphabet is a slice of it. Embeddings live in ``<cache>/gallery-<fingerprint>.safetensors``
keyed by the checkpoint's hash, so a query embeds only the drawing and a restart embeds nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from siamese.utils import replacing
from siamese.data.omniglot import load_omniglot
from siamese.matching.support_set import SupportSet
from siamese.models import SiameseNet

#: The gallery's choice that spans every alphabet.
ALL_ALPHABETS = "All alphabets"
GALLERY_DRAWER = 1


def display_name(alphabet: str) -> str:
    """``Old_Church_Slavonic_(Cyrillic)`` -> ``Old Church Slavonic (Cyrillic)``."""
    return alphabet.replace("_", " ")


@dataclass
class Gallery:
    """Every Omniglot character once: its image, alphabet, display name and embedding."""

    images: list[Image.Image]
    alphabets: np.ndarray  # alphabet of each character, as people write it ("Old Church Slavonic (Cyrillic)")
    names: list[str]  # "Tengwar — character 07"
    features: torch.Tensor  # [characters, D]

    @property
    def alphabet_names(self) -> list[str]:
        return sorted(set(self.alphabets.tolist()))

    def support_set(self, model: SiameseNet, alphabet: str = ALL_ALPHABETS) -> SupportSet:
        """The characters of one alphabet (or all) as a support set for ``model``."""
        index = self.indices(alphabet)
        support = SupportSet(model)
        support.load_features(self.features[index], [self.names[i] for i in index])
        return support

    def indices(self, alphabet: str) -> np.ndarray:
        if alphabet == ALL_ALPHABETS:
            return np.arange(len(self.names))
        index = np.flatnonzero(self.alphabets == alphabet)
        if len(index) == 0:
            raise ValueError(f"Unknown alphabet {alphabet!r}; choose one of the {len(self.alphabet_names)} Omniglot alphabets "
                             f"or {ALL_ALPHABETS!r}.")  # fmt: skip
        return index

    def image(self, name: str) -> Image.Image:
        return self.images[self.names.index(name)]


def load_gallery(model: SiameseNet, fingerprint: str, cache_dir: str | Path) -> Gallery:
    """The Omniglot gallery with ``model``'s embeddings, computed only when not cached."""
    data = load_omniglot("all", drawers=(GALLERY_DRAWER,))
    alphabets = np.array([display_name(data.group_names[g]) for g in data.groups])
    names = [f"{a} — character {data.class_names[c].rsplit('character', 1)[1]}" for a, c in zip(alphabets, data.labels)]
    path = Path(cache_dir) / f"gallery-{fingerprint}.safetensors"
    features = _read_cache(path, len(names))
    if features is None:
        features = model.embed(data.images).cpu()
        _write_cache(path, features)
    return Gallery(images=data.images, alphabets=alphabets, names=names, features=features)


def _read_cache(path: Path, rows: int) -> torch.Tensor | None:
    try:
        features = load_file(path)["features"]
    except (OSError, KeyError, SafetensorError):
        return None  # absent or unreadable: recompute (and overwrite)
    return features if len(features) == rows else None


def _write_cache(path: Path, features: torch.Tensor) -> None:
    """Write to a temporary file, then rename: a crash never leaves a half-written cache."""
    with replacing(path) as temporary:
        save_file({"features": features.contiguous()}, str(temporary))
