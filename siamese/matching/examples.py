"""Inputs a first visit can try in one click: drawings to match, pairs to compare, symbols to teach.

They are images from the prepared data sets (never committed), written once as PNG files into the
cache, so the page lists files and a restart reads nothing but their names. A data set that is not
prepared gives no examples; the others are still there.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from PIL import Image

from siamese.data import ImageSet
from siamese.data.base import DataError
from siamese.matching.gallery import GALLERY_DRAWER, PROMPT_DRAWER, display_name
from siamese.utils import replacing

#: Drawings of evaluation characters (a drawer neither the gallery nor "Draw this one" shows), and the
#: alphabet each is matched against; each is one the bundled model answers rightly and confidently (98.9%, 98.9%,
#: 99.0%), as a showcase should (tests/matching/test_service.py checks it).
DRAWINGS = (("Tengwar", 10), ("Kannada", 5), ("Old_Church_Slavonic_(Cyrillic)", 21))
DRAWING_DRAWER = 3
#: Taught symbols: characters of one alphabet, with the names a visitor might give them.
SYMBOLS = (("Mongolian", 1, "hook"), ("Mongolian", 7, "comb"), ("Mongolian", 12, "loop"))
CANVAS_PIXELS = 420  # the page's canvas; a drawing example fills it as a drawing would


@dataclass
class Examples:
    drawings: list[tuple[Path, str]] = field(default_factory=list)  # (drawing, alphabet to match in)
    pairs: list[tuple[Path, Path, str]] = field(default_factory=list)  # (first, second, domain)
    symbols: list[tuple[Path, str]] = field(default_factory=list)  # (drawing, name)


def prepare_examples(cache_dir: str | Path, domains: dict[str, str]) -> Examples:
    """Write (once) and list the examples; ``domains`` maps the compare tab's domain names to
    ``"characters"``, ``"faces"`` or ``"digits"``."""
    folder = Path(cache_dir) / "examples"
    examples = Examples()
    # The folder is named after the choice of drawings, so that another choice is written afresh.
    chosen = hashlib.sha256(repr((DRAWINGS, DRAWING_DRAWER, SYMBOLS)).encode()).hexdigest()[:8]
    characters = _cached(folder / f"drawings-{chosen}", _omniglot_examples)
    if characters:
        examples.drawings = [(characters[f"drawing{i}"], display_name(a)) for i, (a, _) in enumerate(DRAWINGS)]
        examples.symbols = [(characters[f"symbol{i}"], name) for i, (_, _, name) in enumerate(SYMBOLS)]
    for domain, kind in domains.items():
        pair = _cached(folder / f"{kind}-pairs", {"characters": _character_pairs, "faces": _face_pairs, "digits": _digit_pairs}[kind])
        if pair:
            examples.pairs += [(pair["same_a"], pair["same_b"], domain), (pair["different_a"], pair["different_b"], domain)]
    return examples


def _cached(folder: Path, make: Callable[[], dict[str, Image.Image]]) -> dict[str, Path]:
    """The example files in ``folder``, made by ``make`` only when absent; empty when its data is missing."""
    done = folder / "names.txt"
    if not done.is_file():
        try:
            images = make()
        except (DataError, OSError, KeyError, IndexError):
            return {}
        for name, image in images.items():
            with replacing(folder / f"{name}.png", suffix=".png") as temporary:
                image.save(temporary, format="PNG")
        with replacing(done) as temporary:
            temporary.write_text("\n".join(images) + "\n")
    return {name: folder / f"{name}.png" for name in done.read_text().split()}


def _image(data: ImageSet, class_name: str, drawer: int) -> Image.Image:
    label = data.class_names.index(class_name)
    return next(image for image, l, d in zip(data.images, data.labels, data.drawers) if l == label and d == drawer)


def _as_drawing(image: Image.Image) -> Image.Image:
    return image.convert("L").resize((CANVAS_PIXELS, CANVAS_PIXELS), Image.Resampling.LANCZOS)


def _omniglot_examples() -> dict[str, Image.Image]:
    from siamese.data.omniglot import load_omniglot

    data = load_omniglot("all", drawers=(DRAWING_DRAWER,))
    images = {f"drawing{i}": _as_drawing(_image(data, f"{a}/character{c:02d}", DRAWING_DRAWER)) for i, (a, c) in enumerate(DRAWINGS)}
    images |= {f"symbol{i}": _as_drawing(_image(data, f"{a}/character{c:02d}", DRAWING_DRAWER)) for i, (a, c, _) in enumerate(SYMBOLS)}
    return images


def _character_pairs() -> dict[str, Image.Image]:
    from siamese.data.omniglot import load_omniglot

    data = load_omniglot("test", drawers=(GALLERY_DRAWER, PROMPT_DRAWER))
    same, other = "Tengwar/character10", "Tengwar/character04"
    return {"same_a": _image(data, same, GALLERY_DRAWER), "same_b": _image(data, same, PROMPT_DRAWER),
            "different_a": _image(data, same, GALLERY_DRAWER), "different_b": _image(data, other, PROMPT_DRAWER)}  # fmt: skip


def _face_pairs() -> dict[str, Image.Image]:
    from siamese.data.att_faces import load_att_faces

    data = load_att_faces(subjects=[36, 37])  # held-out subjects of the faces model's split

    def face(subject: int, sample: int) -> Image.Image:
        return [img for img, label, d in zip(data.images, data.labels, data.drawers)
                if data.class_names[label] == f"s{subject}" and d == sample][0]  # fmt: skip

    return {"same_a": face(36, 1), "same_b": face(36, 5), "different_a": face(36, 1), "different_b": face(37, 2)}


def _digit_pairs() -> dict[str, Image.Image]:
    from siamese.data.mnist import load_mnist

    data = load_mnist("test", digits=[7, 9])  # digits the digits model never trained on
    sevens = [img for img, label in zip(data.images, data.labels) if data.class_names[label] == "7"]
    nine = next(img for img, label in zip(data.images, data.labels) if data.class_names[label] == "9")
    return {"same_a": sevens[0], "same_b": sevens[1], "different_a": sevens[0], "different_b": nine}
