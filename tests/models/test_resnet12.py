"""ResNet12Net: a narrow ResNet-12 behind the default model's cosine head."""

from __future__ import annotations

import torch

import siamese
from siamese.models import ResNet12Net, build_model
from siamese.models.resnet12 import _ResidualStage


def test_each_stage_is_residual_and_halves_the_side() -> None:
    stage = _ResidualStage(8, 16).eval()
    x = torch.rand(2, 8, 14, 14)
    assert stage(x).shape == (2, 16, 7, 7)
    convs = [m for m in stage.body if isinstance(m, torch.nn.Conv2d)]
    assert [c.kernel_size for c in convs] == [(3, 3)] * 3  # three 3x3 convolutions a stage: 4 stages x 3 = 12 layers
    torch.nn.init.zeros_(convs[-1].weight)  # with the body's last layer silenced, only the shortcut remains
    torch.nn.init.zeros_(stage.body[-1].bias)
    expected = torch.nn.functional.max_pool2d(torch.nn.functional.leaky_relu(stage.shortcut(x), 0.1), 2)
    assert torch.allclose(stage(x), expected, atol=1e-6)


def test_it_is_built_by_name_and_reloads_with_the_same_embeddings(tmp_path) -> None:
    torch.manual_seed(0)
    model = build_model("resnet12", widths=[8, 8, 16, 16], embedding_dim=32).eval()
    assert isinstance(model, ResNet12Net) and len(model.blocks) == 4
    x = torch.rand(3, 1, 56, 56)
    embeddings = model.features(x)
    assert embeddings.shape == (3, 32) and torch.allclose(embeddings.norm(dim=1), torch.ones(3))
    model.save_pretrained(tmp_path)
    reloaded = siamese.load_model(tmp_path)
    assert type(reloaded) is ResNet12Net
    assert torch.equal(reloaded.features(x), embeddings)
