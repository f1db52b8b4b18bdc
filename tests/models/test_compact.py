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
    assert (config.input_size, config.channels, config.kind, config.fit_to_box) == (56, 1, "ink", True)


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
    koch_flops = _flops_per_image(koch, koch.preprocess_config.input_size)
    compact_flops = _flops_per_image(compact, compact.preprocess_config.input_size)
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


# --- kind: ink (characters, digits) or photo (faces, the user's pictures, grey or RGB) ---------------


def test_rgb_photo_model_takes_any_image_through_the_shared_preprocessing(tmp_path) -> None:
    import json

    import siamese

    torch.manual_seed(0)
    model = CompactNet(input_size=32, channels=3, kind="photo").eval()
    config = model.preprocess_config
    assert (config.input_size, config.channels, config.kind, config.fit_to_box) == (32, 3, "photo", False)
    red, green = Image.new("RGB", (50, 40), (200, 30, 30)), Image.new("RGB", (50, 40), (30, 200, 30))
    batch = preprocess_batch([red, np.asarray(green), red.convert("L"), red.convert("RGBA")], config)
    assert batch.shape == (4, 3, 32, 32)
    centre = batch[:, :, 16, 16]
    assert torch.allclose(centre[0], torch.tensor([200, 30, 30]) / 255.0, atol=1e-6)  # colour kept, not inverted
    assert torch.allclose(centre[1], torch.tensor([30, 200, 30]) / 255.0, atol=1e-6)
    assert torch.allclose(centre[2], centre[2].mean().expand(3))  # a grey image becomes three equal channels
    assert torch.equal(batch[0], batch[3])
    scores = model.compare([red, green], [np.asarray(red), green.convert("P")])
    assert scores.shape == (2, 2) and torch.allclose(scores.diagonal(), scores.max(dim=1).values)

    model.save_pretrained(tmp_path)
    saved = json.loads((tmp_path / "config.json").read_text())
    assert (saved["kind"], saved["channels"]) == ("photo", 3)
    reloaded = siamese.load_model(tmp_path)
    assert reloaded.preprocess_config == config
    assert torch.equal(reloaded.compare([red, green], [red, green]), model.compare([red, green], [red, green]))


def test_grey_photo_model_keeps_intensities() -> None:
    model = CompactNet(input_size=16, channels=1, kind="photo", fit_to_box=True).eval()
    assert (model.preprocess_config.kind, model.preprocess_config.fit_to_box) == ("photo", False)  # no ink box on photos
    white = preprocess_batch([Image.new("RGB", (20, 20), (255, 255, 255))], model.preprocess_config)
    assert white.shape == (1, 1, 16, 16) and torch.all(white == 1.0)  # an ink model would read a blank page: 0


@pytest.mark.parametrize(
    ("arguments", "message"),
    [({"channels": 3}, "kind 'ink' takes 1 channel.*kind 'photo'"), ({"kind": "sketch"}, "kind must be 'ink'.*or 'photo'"),
     ({"channels": 2, "kind": "photo"}, "channels must be 1 .* or 3")],
)  # fmt: skip
def test_impossible_kind_and_channels_say_what_to_pass(arguments: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        CompactNet(**arguments)


def test_a_config_without_kind_loads_strictly_as_ink_with_the_same_outputs(tmp_path) -> None:
    import json
    import shutil

    import siamese
    from siamese.hub import CHECKPOINTS_DIR
    from siamese.transforms import PreprocessConfig

    single = CHECKPOINTS_DIR / "compact-omniglot"
    assert "kind" not in json.loads((single / "config.json").read_text())  # written before kind existed
    bundled = siamese.load_model(single)
    assert bundled.preprocess_config == PreprocessConfig(input_size=56, channels=1, kind="ink", fit_to_box=True)
    explicit = tmp_path / "explicit"
    shutil.copytree(single, explicit)
    config = json.loads((explicit / "config.json").read_text())
    (explicit / "config.json").write_text(json.dumps({**config, "kind": "ink"}))
    images = [_glyph("bar"), _glyph("ring"), _glyph("cross")]
    assert torch.equal(siamese.load_model(explicit).compare(images, images), bundled.compare(images, images))
