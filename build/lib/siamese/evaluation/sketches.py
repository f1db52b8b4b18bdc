"""Lake's runs with the test items re-drawn as sketches: other places, sizes, pens and canvases.

A drawing in the browser is not a scan: it sits anywhere on a larger canvas, at any size, with a
thicker or thinner pen, anti-aliased, perhaps on a transparent layer. Re-rendering each test item
of the official runs that way, and scoring the runs again, measures how much of the clean figure
survives the trip through the shared preprocessing.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageFilter

from siamese.data import OneShotRun, load_lake_runs
from siamese.evaluation.oneshot import evaluate_lake_runs
from siamese.evaluation.scorers import Scorer, as_scorer
from siamese.models import SiameseNet


@dataclass(frozen=True)
class SketchStyle:
    """How to re-draw a 105 x 105 scan on a ``canvas`` x ``canvas`` sketch (ink black on white)."""

    scale: float = 2.5  # the character's size relative to the scan
    top: int = 40
    left: int = 60
    pen: int = 0  # > 0 widens each stroke by this many pixels on each side (after scaling); < 0 narrows
    blur: float = 0.0  # Gaussian anti-aliasing radius
    transparent: bool = False  # black strokes on a transparent RGBA layer instead of white paper
    canvas: int = 400

    def render(self, scan: Image.Image) -> Image.Image:
        ink = Image.fromarray(np.where(np.asarray(scan.convert("L")) < 128, 255, 0).astype(np.uint8))
        ink = ink.resize((round(105 * self.scale),) * 2, Image.Resampling.BILINEAR)
        if self.pen:
            ink = ink.filter((ImageFilter.MaxFilter if self.pen > 0 else ImageFilter.MinFilter)(2 * abs(self.pen) + 1))
        if self.blur:
            ink = ink.filter(ImageFilter.GaussianBlur(self.blur))
        alpha = np.zeros((self.canvas, self.canvas), np.uint8)
        alpha[self.top : self.top + ink.height, self.left : self.left + ink.width] = np.asarray(ink)
        if self.transparent:
            return Image.fromarray(np.dstack([np.zeros_like(alpha)] * 3 + [alpha]), "RGBA")
        return Image.fromarray(255 - alpha)


#: The styles reported beside the clean figure (and held to it in the tests).
SKETCH_STYLES = {
    "large, thin pen": SketchStyle(scale=3.0, top=20, left=50),
    "small, corner": SketchStyle(scale=1.0, top=250, left=10),
    "thick pen (x2)": SketchStyle(pen=2),
    "thin pen": SketchStyle(pen=-1),
    "small, thick pen": SketchStyle(scale=1.0, top=100, left=100, pen=1),
    "anti-aliased": SketchStyle(blur=3.0),
    "transparent layer": SketchStyle(transparent=True),
}


def evaluate_sketch_styles(
    scorer: SiameseNet | Scorer, styles: dict[str, SketchStyle] | None = None, runs: list[OneShotRun] | None = None
) -> dict:
    """Accuracy on the official runs, clean and with the test items re-drawn in each style."""
    scorer = as_scorer(scorer)
    runs = load_lake_runs() if runs is None else runs
    styles = SKETCH_STYLES if styles is None else styles
    result = {"clean": evaluate_lake_runs(scorer, runs)["accuracy"]}
    for name, style in styles.items():
        redrawn = [OneShotRun(run.name, run.training, [style.render(item) for item in run.test], run.answers, run.alphabet) for run in runs]
        result[name] = evaluate_lake_runs(scorer, redrawn)["accuracy"]
    return result
