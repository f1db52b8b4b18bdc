from __future__ import annotations

import pytest
import torch

from siamese import CompactNet
from siamese.matching import SupportSet
from siamese.hub import Calibration


@pytest.fixture(scope="module")
def model() -> CompactNet:
    torch.manual_seed(0)
    return CompactNet(input_size=28).eval()


def _images(n: int, seed: int = 0) -> torch.Tensor:
    return torch.rand(n, 1, 28, 28, generator=torch.Generator().manual_seed(seed))


def test_a_query_identical_to_an_example_ranks_it_first(model):
    support = SupportSet(model)
    images = _images(6)
    support.process_support_set(images, [f"c{i}" for i in range(6)])
    for i in range(6):
        assert support.top_k(images[i], k=1)[0].label == f"c{i}"


def test_forward_scores_every_class_with_the_heads_probability(model):
    support = SupportSet(model)
    images = _images(4)
    support.process_support_set(images, list("abcd"))
    scores = support(images[:2])
    assert scores.shape == (2, 4)
    assert torch.allclose(scores, model.compare(images[:2], images), atol=1e-6)


def test_a_class_with_several_examples_scores_their_mean(model):
    support = SupportSet(model)
    images = _images(3)
    support.process_support_set(images, ["a", "a", "b"])
    assert support.labels == ["a", "b"]
    expected = model.compare(images[:1], images)[0]
    assert torch.allclose(support(images[:1])[0], torch.stack([expected[:2].mean(), expected[2]]), atol=1e-6)


def test_top_k_is_sorted_and_bounded(model):
    support = SupportSet(model)
    support.process_support_set(_images(5), list("abcde"))
    matches = support.top_k(_images(1, seed=9)[0], k=3)
    assert len(matches) == 3
    assert [m.probability for m in matches] == sorted((m.probability for m in matches), reverse=True)


def test_top_k_gives_the_calibrated_posterior_over_every_class(model):
    support = SupportSet(model)
    support.process_support_set(_images(5), list("abcde"))
    query = _images(1, seed=9)[0]
    for temperature in (0.5, 1.0, 3.0):
        matches = support.top_k(query, k=5, calibration=Calibration(temperature=temperature))
        assert sum(m.probability for m in matches) == pytest.approx(1.0, abs=1e-6)
        expected = torch.softmax(support.logits(query[None])[0].double() / temperature, dim=0)
        assert [m.probability for m in matches] == pytest.approx(sorted(expected.tolist(), reverse=True), abs=1e-6)
    sharp, flat = (support.top_k(query, 1, Calibration(temperature=t))[0].probability for t in (0.5, 3.0))
    assert sharp > flat  # a lower temperature is more confident


def test_logits_are_the_heads_log_odds_per_class(model):
    support = SupportSet(model)
    images = _images(3)
    support.process_support_set(images, ["a", "a", "b"])
    logits = model.pair_logit_matrix(model.embed(images[:1]), model.embed(images))[0]
    assert torch.allclose(support.logits(images[:1])[0], torch.stack([logits[:2].mean(), logits[2]]), atol=1e-5)


def test_an_empty_support_set_says_so(model):
    with pytest.raises(ValueError, match="empty"):
        SupportSet(model)(_images(1))


def test_the_docs_state_the_threshold_that_the_bundled_calibration_uses() -> None:
    from pathlib import Path

    from siamese.hub import DEFAULT_CHECKPOINT
    from siamese.hub import read_calibration

    threshold = f"{read_calibration(DEFAULT_CHECKPOINT).threshold:.0%}"
    root = Path(__file__).resolve().parents[2]
    assert f"below {threshold} for the best one" in (root / "docs" / "how_it_works.md").read_text()
    assert f"best is below {threshold} (chosen on the validation alphabets)" in (root / "README.md").read_text()
