"""The public API: siamese.load_model() with no argument, compare and embed on raw images."""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image

import siamese
from siamese.data import load_lake_runs
from siamese.evaluation import evaluate_lake_runs


def test_default_model_loads_and_scores_raw_images() -> None:
    model = siamese.load_model()
    assert isinstance(model, siamese.SiameseNet) and not model.training
    run = load_lake_runs()[0]
    scores = model.compare(run.test[:3], run.training)
    assert scores.shape == (3, 20)
    assert ((scores >= 0) & (scores <= 1)).all()
    as_array = np.asarray(run.test[0].convert("L"))  # the same image as a uint8 array
    assert torch.allclose(model.compare([as_array], run.training), scores[:1], atol=1e-5)
    assert model.embed(run.test[:2]).shape[0] == 2


def test_default_model_scores_identical_images_higher_than_different_ones() -> None:
    model = siamese.load_model()
    run = load_lake_runs()[1]
    scores = model.compare(run.training, run.training)
    assert (scores.diagonal() >= scores.max(dim=1).values - 1e-6).all()


def test_default_model_is_far_above_chance_on_lake_runs() -> None:
    """Chance is 5% and pixel nearest neighbour about 19%; the shipped model must be far above both."""
    assert evaluate_lake_runs(siamese.load_model())["accuracy"] > 0.8


def test_blank_image_gives_a_score_not_an_error() -> None:
    model = siamese.load_model()
    blank = Image.new("L", (105, 105), 255)
    assert model.compare([blank], [blank]).shape == (1, 1)
