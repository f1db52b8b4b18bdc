"""CompactNet: the project's default small embedding network with a cosine head."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw
from torch.utils.flop_counter import FlopCounterMode

from siamese import CompactNet, KochNet
from siamese.models import DEFAULT_ARCHITECTURE, build_model
from siamese.transforms import preprocess_batch


@pytest.fixture(scope="module")
def compact() -> CompactNet:
    torch.manual_seed(0)
    return CompactNet().eval()


def _glyph(kind: str, side: int = 105) -> Image.Image:
    image = Image.new("L", (side, side), 255)
    draw = ImageDraw.Draw(image)
    if kind == "bar":
        draw.rectangle([45, 10, 60, 95], fill=0)
    elif kind == "ring":
        draw.ellipse([15, 15, 90, 90], outline=0, width=10)
    else:
        draw.line([10, 10, 95, 95], fill=0, width=12)
        draw.line([10, 95, 95, 10], fill=0, width=12)
    return image


def test_default_configuration(compact: CompactNet) -> None:
    assert DEFAULT_ARCHITECTURE == "compact"
    assert isinstance(build_model(), CompactNet)
    config = compact.preprocess_config
    assert (config.size, config.channels, config.kind, config.fit_to_box) == (56, 1, "ink", True)


def test_output_shapes(compact: CompactNet) -> None:
    x1, x2 = torch.rand(6, 1, 56, 56), torch.rand(6, 1, 56, 56)
    with torch.no_grad():
        features = compact(x1)
        logits = compact.pair_logits(features, compact(x2))
        distance = compact.distance(features, compact(x2))
    assert features.shape == (6, 128)
    assert logits.shape == (6,) and distance.shape == (6,)
    assert torch.isfinite(logits).all() and torch.isfinite(distance).all()
    scores = compact.compare(x1[:2], x2)
    assert scores.shape == (2, 6)


@pytest.mark.parametrize("embedding_dim", [16, 64])
def test_embedding_dim_is_honoured(embedding_dim: int) -> None:
    model = CompactNet(embedding_dim=embedding_dim).eval()
    assert model.embed(torch.rand(3, 1, 56, 56)).shape == (3, embedding_dim)


def test_embeddings_have_unit_norm(compact: CompactNet) -> None:
    features = compact.embed(torch.rand(8, 1, 56, 56) * 5)
    assert torch.allclose(features.norm(dim=1), torch.ones(8), atol=1e-5)


def test_identical_images_score_at_least_as_high_as_different_ones(compact: CompactNet) -> None:
    images = [_glyph("bar"), _glyph("ring"), _glyph("cross")]
    scores = compact.compare(images, images)
    assert scores.shape == (3, 3)
    assert scores.min() >= 0.0 and scores.max() <= 1.0
    for i in range(3):
        assert (scores[i, i] >= scores[i] - 1e-6).all()
    # cos = 1 on the diagonal: the highest score the head can give.
    ceiling = torch.sigmoid(compact.scale + compact.bias).item()
    assert torch.allclose(scores.diagonal(), torch.full((3,), ceiling), atol=1e-5)


def test_pair_logit_matrix_matches_aligned_pair_logits(compact: CompactNet) -> None:
    a = torch.nn.functional.normalize(torch.randn(3, 128), dim=1)
    b = torch.nn.functional.normalize(torch.randn(5, 128), dim=1)
    with torch.no_grad():
        matrix = compact.pair_logit_matrix(a, b)
        aligned = compact.pair_logits(a.repeat_interleave(5, dim=0), b.repeat(3, 1)).reshape(3, 5)
    assert matrix.shape == (3, 5)
    assert torch.allclose(matrix, aligned, atol=1e-5)


def test_parameter_count_is_small(compact: CompactNet) -> None:
    count = compact.num_parameters()
    assert count == sum(p.numel() for p in compact.parameters())
    assert 10_000 < count < 1_000_000
    assert count * 10 < KochNet().num_parameters()


def _flops_per_image(model, size: int) -> int:
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        model.features(torch.rand(1, model.preprocess_config.channels, size, size))
    return counter.get_total_flops()


def test_flops_are_at_least_ten_times_fewer_than_koch(compact: CompactNet) -> None:
    koch = KochNet().eval()
    koch_flops = _flops_per_image(koch, koch.preprocess_config.size)
    compact_flops = _flops_per_image(compact, compact.preprocess_config.size)
    assert koch_flops > 1e9  # ~1.8 GFLOPs at 105 x 105: the counter sees the convolutions
    assert 0 < compact_flops * 10 <= koch_flops


def test_compare_accepts_mixed_pil_and_uint8_lists(compact: CompactNet) -> None:
    bar, ring, cross = _glyph("bar"), _glyph("ring"), _glyph("cross")
    queries = [bar, np.asarray(ring), np.asarray(cross.convert("RGB"))]
    candidates = [np.asarray(bar), ring, cross.convert("RGBA"), 255 - np.asarray(bar)]
    scores = compact.compare(queries, candidates)
    assert scores.shape == (3, 4)
    assert scores.dtype == torch.float32
    assert scores.min() >= 0.0 and scores.max() <= 1.0
    # The same picture in another form (array, inverted) gets the same score.
    assert torch.allclose(scores[:, 0], scores[:, 3], atol=1e-5)
    batch_q = preprocess_batch(queries, compact.preprocess_config)
    batch_c = preprocess_batch(candidates, compact.preprocess_config)
    assert torch.allclose(scores, compact.compare(batch_q, batch_c))
    # Each query scores highest against its own picture.
    assert torch.equal(scores[:, :3].argmax(dim=1), torch.arange(3))


def test_compare_does_not_change_training_mode(compact: CompactNet) -> None:
    model = CompactNet().train()
    model.compare(torch.rand(1, 1, 56, 56), torch.rand(2, 1, 56, 56))
    assert model.training
