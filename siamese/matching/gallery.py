"""Omniglot galleries: one image per character, embedded once per checkpoint and cached on disk.

The gallery holds all 1,623 characters (drawer 1's image of each, from the prepared data, never
committed); an alphabet is a slice of it. Embeddings live in ``<cache>/gallery-<fingerprint>.safetensors``
keyed by the checkpoint's hash, so a query embeds only the drawing and a restart embeds nothing.
The images are also written once as PNG files (``<cache>/gallery-images/``), so a page sends a file it
already has instead of encoding the same image again for every request.

The prototypes of every character over its 20 drawings (the page's few-shot switch) take minutes to
compute on a CPU, so a checkpoint may carry them (:func:`write_prototypes`, ``prototypes.safetensors``
with the weights' fingerprint in its metadata); they are read from there when the fingerprint matches.

"Draw this one" shows each character as another person drew it (:data:`PROMPT_DRAWER`), so copying it
is a one-shot task: the gallery's own image is not the one copied.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import threading

import numpy as np
import torch
from PIL import Image
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file

from siamese.utils import progress_bar, replacing
from siamese.data import ImageSet
from siamese.data.omniglot import load_omniglot
from siamese.matching.support_set import SupportSet, prototypes
from siamese.models import SiameseNet

#: The gallery's choice that spans every alphabet.
ALL_ALPHABETS = "All alphabets"
GALLERY_DRAWER = 1
PROMPT_DRAWER = 2
#: Omniglot's drawers: each character was drawn once by each of 20 people.
DRAWERS = tuple(range(1, 21))


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
    files: list[Path]  # each image as a PNG file, written once
    cache_dir: Path
    precomputed: Path | None = None  # the checkpoint's prototypes file (write_prototypes), if it may have one

    def __post_init__(self) -> None:
        self._prompts: list[Path] | None = None
        self._prompts_lock = threading.Lock()
        self._prototypes: dict[str, torch.Tensor] = {}
        self._prototypes_lock = threading.Lock()

    @property
    def alphabet_names(self) -> list[str]:
        return sorted(set(self.alphabets.tolist()))

    def support_set(self, model: SiameseNet, alphabet: str = ALL_ALPHABETS, fingerprint: str | None = None) -> SupportSet:
        """The characters of one alphabet (or all) as a support set for ``model``: one drawing of each, or, given
        the checkpoint's ``fingerprint``, each character's prototype over all its drawings (:meth:`prototypes`)."""
        index = self.indices(alphabet)
        features = self.features if fingerprint is None else self.prototypes(model, fingerprint)
        support = SupportSet(model)
        support.load_features(features[index], [self.names[i] for i in index])
        return support

    def prototypes(self, model: SiameseNet, fingerprint: str, drawers: Sequence[int] = DRAWERS,
                   stop: threading.Event | None = None) -> torch.Tensor:  # fmt: skip
        """Each character's prototype ``[characters, D]``: the mean embedding of its drawings by ``drawers``
        (all 20 by default): the checkpoint's own when it carries them for these weights, else computed once
        (minutes on a CPU) and cached beside the gallery's.
        ``stop`` set while they are computed raises :class:`PrototypesStopped` after the drawer at hand."""
        key = f"{fingerprint}-{'-'.join(map(str, drawers))}" if tuple(drawers) != DRAWERS else fingerprint
        with self._prototypes_lock:
            if key not in self._prototypes:
                path = self.cache_dir / f"prototypes-{key}.safetensors"
                features = _read_cache(path, len(self.names))
                if features is None and key == fingerprint and self.precomputed is not None:
                    features = _read_cache(self.precomputed, len(self.names), fingerprint)
                if features is None:
                    features = _prototypes(model, self.names, drawers, stop)
                    _write_cache(path, features)
                self._prototypes[key] = features
        return self._prototypes[key]

    def indices(self, alphabet: str) -> np.ndarray:
        if alphabet == ALL_ALPHABETS:
            return np.arange(len(self.names))
        index = np.flatnonzero(self.alphabets == alphabet)
        if len(index) == 0:
            raise ValueError(f"Unknown alphabet {alphabet!r}; choose one of the {len(self.alphabet_names)} Omniglot alphabets "
                             f"or {ALL_ALPHABETS!r}.")  # fmt: skip
        return index

    def index(self, name: str) -> int:
        try:
            return self.names.index(name)
        except ValueError:
            raise ValueError(f"No character is called {name[:80]!r}.") from None

    def image(self, name: str) -> Image.Image:
        return self.images[self.index(name)]

    def file(self, name: str) -> Path:
        return self.files[self.index(name)]

    def prompt_file(self, name: str) -> Path:
        """The character as :data:`PROMPT_DRAWER` drew it, as a PNG file (all of them read on first use)."""
        with self._prompts_lock:
            if self._prompts is None:
                data = load_omniglot("all", drawers=(PROMPT_DRAWER,))
                by_name = {_character_name(data, i): image for i, image in enumerate(data.images)}
                folder = self.cache_dir / f"gallery-images/drawer{PROMPT_DRAWER}"
                self._prompts = [_image_file(by_name[n], folder / f"{i:04d}.png") for i, n in enumerate(self.names)]
        return self._prompts[self.index(name)]


def load_gallery(model: SiameseNet, fingerprint: str, cache_dir: str | Path, precomputed: Path | None = None) -> Gallery:
    """The Omniglot gallery with ``model``'s embeddings, computed only when not cached; ``precomputed`` is where
    the checkpoint keeps its prototypes, if anywhere (:func:`write_prototypes`)."""
    cache_dir = Path(cache_dir)
    data, names = _listing()
    alphabets = np.array([display_name(data.group_names[g]) for g in data.groups])
    path = cache_dir / f"gallery-{fingerprint}.safetensors"
    features = _read_cache(path, len(names))
    if features is None:
        features = model.embed(data.images).cpu()
        _write_cache(path, features)
    folder = cache_dir / f"gallery-images/drawer{GALLERY_DRAWER}"
    files = [_image_file(image, folder / f"{i:04d}.png") for i, image in enumerate(data.images)]
    return Gallery(images=data.images, alphabets=alphabets, names=names, features=features, files=files, cache_dir=cache_dir,
                   precomputed=precomputed)  # fmt: skip


def write_prototypes(model: SiameseNet, fingerprint: str, path: str | Path, quiet: bool = False) -> torch.Tensor:
    """Compute every Omniglot character's prototype over its 20 drawings and write them to ``path`` (a
    checkpoint's ``prototypes.safetensors``), marked with the weights' ``fingerprint`` so that other weights
    never use them. The order is the gallery's (all alphabets, drawer 1's listing)."""
    features = _prototypes(model, _listing()[1], DRAWERS, None, quiet=quiet)
    _write_cache(Path(path), features, fingerprint)
    return features


class PrototypesStopped(Exception):
    """The prototypes were asked to stop before they were complete (nothing is cached)."""


def _prototypes(model: SiameseNet, names: list[str], drawers: Sequence[int], stop: threading.Event | None,
                quiet: bool = True) -> torch.Tensor:  # fmt: skip
    """The prototypes of the characters ``names`` over ``drawers``' drawings, one drawer at a time (all 32,460
    drawings at once would hold a few hundred MB of images)."""
    position = {name: i for i, name in enumerate(names)}
    features, class_of = [], []
    for drawer in progress_bar(drawers, quiet=quiet, desc="prototypes", unit="drawer"):
        if stop is not None and stop.is_set():
            raise PrototypesStopped(f"stopped before drawer {drawer} of {len(drawers)}")
        data = load_omniglot("all", drawers=(drawer,))
        features.append(model.embed(data.images).cpu())
        class_of += [position[_character_name(data, i)] for i in range(len(data.images))]
    return prototypes(torch.cat(features), torch.tensor(class_of), len(names))


def _listing() -> tuple[ImageSet, list[str]]:
    """The gallery's drawings (drawer 1's, all alphabets) and their characters' names, in the gallery's order."""
    data = load_omniglot("all", drawers=(GALLERY_DRAWER,))
    return data, [_character_name(data, i) for i in range(len(data.images))]


def _character_name(data: ImageSet, i: int) -> str:
    """``Tengwar — character 07`` for image ``i`` of an Omniglot :class:`~siamese.data.ImageSet`."""
    return f"{display_name(data.group_names[data.groups[i]])} — character {data.class_names[data.labels[i]].rsplit('character', 1)[1]}"


def _image_file(image: Image.Image, path: Path) -> Path:
    """``image`` as a PNG at ``path``, written only when absent (atomically, so a crash leaves none half-written)."""
    if not path.is_file():
        with replacing(path, suffix=".png") as temporary:
            image.save(temporary, format="PNG")
    return path


def _read_cache(path: Path, rows: int, fingerprint: str | None = None) -> torch.Tensor | None:
    """The features saved at ``path``; None when absent, unreadable, of another size or (given ``fingerprint``)
    computed for other weights."""
    try:
        with safe_open(path, framework="pt") as file:
            if fingerprint is not None and (file.metadata() or {}).get("fingerprint") != fingerprint:
                return None
            features = file.get_tensor("features")
    except (OSError, KeyError, SafetensorError):
        return None  # absent or unreadable: recompute (and overwrite)
    return features if len(features) == rows else None


def _write_cache(path: Path, features: torch.Tensor, fingerprint: str | None = None) -> None:
    """Write to a temporary file, then rename: a crash never leaves a half-written cache."""
    with replacing(path) as temporary:
        save_file({"features": features.contiguous()}, str(temporary), metadata={"fingerprint": fingerprint} if fingerprint else None)
