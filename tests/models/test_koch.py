"""KochNet: the network of Koch, Zemel & Salakhutdinov (2015), checked against the paper."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw
from torch import nn

from siamese import KochNet
from siamese.models import build_model
from siamese.transforms import preprocess_batch


@pytest.fixture(scope="module")
def koch() -> KochNet:
    torch.manual_seed(0)
    return KochNet().eval()


def _conv_params(cin: int, cout: int, kernel: int) -> int:
    return cout * cin * kernel * kernel + cout


def _paper_parameter_count(size: int = 105, channels: int = 1) -> int:
    """Count from the paper's layer list: conv 64@10, pool, 128@7, pool, 128@4, pool, 256@4, FC 4096, head."""
    total, side, cin = 0, size, channels
    for cout, kernel, pool in [(64, 10, True), (128, 7, True), (128, 4, True), (256, 4, False)]:
        total += _conv_params(cin, cout, kernel)
        side = side - kernel + 1
        side = side // 2 if pool else side
        cin = cout
    flat = cin * side * side
    total += flat * 4096 + 4096  # fully connected layer
    total += 4096 + 1  # the alpha_j and the bias of the L1 head
    return total


def test_parameter_count_matches_the_paper(koch: KochNet) -> None:
    assert _paper_parameter_count() == 38_951_745
    assert koch.num_parameters() == 38_951_745
    assert sum(p.numel() for p in koch.parameters() if p.requires_grad) == 38_951_745


def test_layers_are_the_papers(koch: KochNet) -> None:
    convs = [m for m in koch.modules() if isinstance(m, nn.Conv2d)]
    assert [(c.in_channels, c.out_channels, c.kernel_size, c.stride, c.padding) for c in convs] == [
        (1, 64, (10, 10), (1, 1), (0, 0)),
        (64, 128, (7, 7), (1, 1), (0, 0)),
        (128, 128, (4, 4), (1, 1), (0, 0)),
        (128, 256, (4, 4), (1, 1), (0, 0)),
    ]
    assert len([m for m in koch.modules() if isinstance(m, nn.MaxPool2d)]) == 3
    linears = [m for m in koch.modules() if isinstance(m, nn.Linear)]
    assert [(m.in_features, m.out_features) for m in linears] == [(256 * 6 * 6, 4096), (4096, 1)]


def test_feature_map_shapes(koch: KochNet) -> None:
    shapes: list[tuple[int, ...]] = []
    hooks = [
        m.register_forward_hook(lambda _m, _i, out: shapes.append(tuple(out.shape)))
        for m in koch.modules()
        if isinstance(m, (nn.Conv2d, nn.MaxPool2d, nn.Linear))
    ]
    try:
        with torch.no_grad():
            features = koch.features(torch.rand(2, 1, 105, 105))
    finally:
        for hook in hooks:
            hook.remove()
    assert shapes == [
        (2, 64, 96, 96), (2, 64, 48, 48),
        (2, 128, 42, 42), (2, 128, 21, 21),
        (2, 128, 18, 18), (2, 128, 9, 9),
        (2, 256, 6, 6),
        (2, 4096),
    ]  # fmt: skip
    assert features.shape == (2, 4096)


def test_features_are_sigmoid_of_the_fc_layer(koch: KochNet) -> None:
    x = torch.rand(3, 1, 105, 105)
    with torch.no_grad():
        features = koch.features(x)
        pre = koch.fc(koch.convs(x).flatten(1))
    assert features.min() >= 0.0 and features.max() <= 1.0
    assert torch.allclose(features, torch.sigmoid(pre))
    # Saturated units round to exactly 0 or 1 in float32, but most are strictly inside (0, 1).
    assert ((features > 0) & (features < 1)).float().mean() > 0.5


def test_initialisation_follows_the_paper() -> None:
    torch.manual_seed(1)
    model = KochNet()
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    conv_weights = torch.cat([c.weight.flatten() for c in convs])
    conv_biases = torch.cat([c.bias.flatten() for c in convs])
    assert abs(conv_weights.mean().item()) < 1e-3
    assert conv_weights.std().item() == pytest.approx(1e-2, rel=0.05)
    assert conv_biases.mean().item() == pytest.approx(0.5, abs=5e-3)
    assert conv_biases.std().item() == pytest.approx(1e-2, rel=0.25)
    for linear in (model.fc, model.head):
        assert abs(linear.weight.mean().item()) < 2e-2
        assert linear.weight.std().item() == pytest.approx(2e-1, rel=0.05)
        assert linear.bias.mean().item() == pytest.approx(0.5, abs=2e-2)


def test_forward_is_one_twin_and_the_head_scores_pairs(koch: KochNet) -> None:
    x1, x2 = torch.rand(5, 1, 105, 105), torch.rand(5, 1, 105, 105)
    with torch.no_grad():
        features = koch(torch.cat([x1, x2]))
        logits = koch.pair_logits(*features.chunk(2))
        expected = koch.pair_logits(koch.features(x1), koch.features(x2))
    assert features.shape == (10, 4096)
    assert logits.shape == (5,)
    assert torch.isfinite(logits).all()
    # A batch of 10 and two of 5 sum the convolutions in different orders: equal to float32 rounding, not bit for bit.
    assert torch.allclose(logits, expected, atol=1e-4)


def test_head_is_a_weighted_l1_distance(koch: KochNet) -> None:
    """p = sigmoid(sum_j alpha_j |h1_j - h2_j| + b): symmetric, and identical features give b."""
    a, b = torch.rand(4, 4096), torch.rand(4, 4096)
    with torch.no_grad():
        assert torch.allclose(koch.pair_logits(a, b), koch.pair_logits(b, a))
        assert torch.allclose(koch.pair_logits(a, a), koch.head.bias.expand(4))
        alpha = koch.head.weight[0]
        manual = (a - b).abs() @ alpha + koch.head.bias
        assert torch.allclose(koch.pair_logits(a, b), manual, atol=1e-4)


def test_pair_logit_matrix_matches_aligned_pair_logits(koch: KochNet) -> None:
    a, b = torch.rand(3, 4096), torch.rand(4, 4096)
    with torch.no_grad():
        matrix = koch.pair_logit_matrix(a, b)
        aligned = koch.pair_logits(a.repeat_interleave(4, dim=0), b.repeat(3, 1)).reshape(3, 4)
    assert matrix.shape == (3, 4)
    assert torch.allclose(matrix, aligned, atol=1e-5)
    assert koch.pair_logit_matrix(a[:0], b).shape == (0, 4)


def _glyph(kind: str) -> Image.Image:
    image = Image.new("L", (105, 105), 255)
    draw = ImageDraw.Draw(image)
    if kind == "bar":
        draw.rectangle([45, 10, 60, 95], fill=0)
    else:
        draw.ellipse([15, 15, 90, 90], outline=0, width=10)
    return image


def test_compare_gives_probabilities_for_every_pair(koch: KochNet) -> None:
    bar, ring = _glyph("bar"), _glyph("ring")
    queries = [bar, np.asarray(ring)]
    candidates = [np.asarray(bar), ring, ring.convert("RGB")]
    scores = koch.compare(queries, candidates)
    assert scores.shape == (2, 3)
    assert scores.min() >= 0.0 and scores.max() <= 1.0
    # Same picture in a different form -> same score; and the same as on preprocessed tensors.
    assert torch.allclose(scores[:, 1], scores[:, 2])
    batch_q = preprocess_batch(queries, koch.preprocess_config)
    batch_c = preprocess_batch(candidates, koch.preprocess_config)
    assert torch.allclose(scores, koch.compare(batch_q, batch_c))


def test_build_model_by_name() -> None:
    model = build_model("koch")
    assert isinstance(model, KochNet)
    assert model.preprocess_config.input_size == 105 and model.preprocess_config.kind == "ink"


def test_kind_is_ink_by_default_and_photo_on_request() -> None:
    """The paper's model takes one-channel ink; grey or RGB photos are an option, as for CompactNet."""
    assert KochNet.__init__.__defaults__ == (105, 1, "ink")
    photo = KochNet(channels=3, kind="photo")
    assert (photo.preprocess_config.channels, photo.preprocess_config.kind) == (3, "photo")
    assert photo.convs[0].in_channels == 3
    assert photo.config()["kind"] == "photo"
    with pytest.raises(ValueError, match="kind 'photo'"):
        KochNet(channels=3)
