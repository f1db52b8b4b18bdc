"""A small folder of classes to try ``--data folder:PATH`` on: coloured shapes, drawn on the fly.

    python -c "from siamese.data.demo import make_demo_folder; make_demo_folder('demo-shapes')"

writes ``demo-shapes/<class>/<n>.png``: RGB pictures, one class per shape and colour (``red-ring``,
``blue-star``, ...), each picture with its own position, size, rotation, background tint and noise.
Classes of the same shape differ only in colour, so a grey model confuses them more than a colour
one. The tests build it in a temporary folder (``tests/scripts/test_folder_workflow.py``), so the
walk-through in the documentation runs exactly what the tests run.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

SHAPES = ("ring", "square", "triangle", "cross", "star")
COLOURS = {"red": (200, 30, 30), "green": (30, 150, 40), "blue": (30, 60, 210), "orange": (235, 140, 20)}


def make_demo_folder(root: str | Path, per_class: int = 6, size: int = 40, seed: int = 0,
                     shapes: tuple[str, ...] = SHAPES, colours: tuple[str, ...] = tuple(COLOURS)) -> Path:  # fmt: skip
    """Write ``len(shapes) * len(colours)`` classes of ``per_class`` RGB ``size`` x ``size`` PNGs under ``root``.

    Seeded: the same arguments give the same pixels. Returns ``root``.
    """
    root = Path(root)
    rng = np.random.default_rng(seed)
    for shape in shapes:
        for colour in colours:
            folder = root / f"{colour}-{shape}"
            folder.mkdir(parents=True, exist_ok=True)
            for n in range(per_class):
                _draw(shape, COLOURS[colour], size, rng).save(folder / f"{n}.png")
    return root


def _draw(shape: str, colour: tuple[int, int, int], size: int, rng: np.random.Generator) -> Image.Image:
    scale = 4  # draw large, then shrink: smooth edges
    side = size * scale
    tint = tuple(int(v) for v in rng.integers(215, 256, size=3))
    image = Image.new("RGB", (side, side), tint)
    draw = ImageDraw.Draw(image)
    radius = side * rng.uniform(0.25, 0.38)
    cx, cy = side / 2 + rng.uniform(-0.1, 0.1) * side, side / 2 + rng.uniform(-0.1, 0.1) * side
    turn = rng.uniform(-0.4, 0.4)
    ink = tuple(int(np.clip(v + rng.integers(-25, 26), 0, 255)) for v in colour)
    width = max(2, int(radius * 0.28))

    def points(n: int, r: float, offset: float = 0.0) -> list[tuple[float, float]]:
        return [(cx + r * math.cos(turn + offset + 2 * math.pi * k / n), cy + r * math.sin(turn + offset + 2 * math.pi * k / n)) for k in range(n)]

    if shape == "ring":
        draw.ellipse([cx - radius, cy - radius, cx + radius, cy + radius], outline=ink, width=width)
    elif shape == "square":
        draw.polygon(points(4, radius, math.pi / 4), fill=ink)
    elif shape == "triangle":
        draw.polygon(points(3, radius, -math.pi / 2), fill=ink)
    elif shape == "cross":
        for a, b in ((0, 2), (1, 3)):
            corners = points(4, radius, math.pi / 4)
            draw.line([corners[a], corners[b]], fill=ink, width=width)
    elif shape == "star":
        outer, inner = points(5, radius, -math.pi / 2), points(5, radius * 0.42, -math.pi / 2 + math.pi / 5)
        draw.polygon([p for pair in zip(outer, inner) for p in pair], fill=ink)
    else:
        raise ValueError(f"Unknown shape {shape!r}; choose from {', '.join(SHAPES)}.")
    small = np.asarray(image.resize((size, size), Image.Resampling.LANCZOS), dtype=np.float32)
    noisy = small + rng.normal(0.0, 6.0, small.shape)
    return Image.fromarray(np.clip(noisy, 0, 255).round().astype(np.uint8), mode="RGB")
