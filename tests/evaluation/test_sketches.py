"""A drawing anywhere on the canvas, at any size and pen, matches as well as the scan."""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw

import siamese
from siamese.evaluation import SKETCH_STYLES, SketchStyle, evaluate_sketch_styles


def _scan() -> Image.Image:
    scan = Image.new("L", (105, 105), 255)
    ImageDraw.Draw(scan).line([(20, 50), (80, 50)], fill=0, width=3)
    return scan


def test_a_style_places_sizes_and_widens_the_strokes():
    thin = np.asarray(SketchStyle(scale=2.0, top=10, left=150).render(_scan())) < 128
    thick = np.asarray(SketchStyle(scale=2.0, top=10, left=150, pen=3).render(_scan())) < 128
    rows, cols = np.nonzero(thin)
    assert thin.shape == (400, 400)
    assert 10 + 2 * 45 <= rows.min() and rows.max() <= 10 + 2 * 55 and cols.min() >= 150 + 2 * 18
    assert thick.sum() > 1.5 * thin.sum() and (thick | thin).sum() == thick.sum()


def test_a_transparent_layer_holds_the_strokes_in_its_alpha():
    layer = SketchStyle(transparent=True).render(_scan())
    assert layer.mode == "RGBA" and np.asarray(layer)[..., 3].max() == 255 and np.asarray(layer)[..., :3].max() == 0


def test_every_sketch_style_stays_within_3_points_of_the_scans():
    accuracy = evaluate_sketch_styles(siamese.load_model())
    assert set(accuracy) == {"clean", *SKETCH_STYLES}
    drops = {style: accuracy["clean"] - value for style, value in accuracy.items()}
    assert max(drops.values()) <= 0.03, drops
