"""A narrow ResNet-12 with the default model's cosine head."""

from __future__ import annotations

import torch
from torch import nn

from siamese.models.compact import CompactNet
from siamese.transforms.geometry import STROKE_BAND


class _ResidualStage(nn.Module):
    """Three 3x3 conv -> batch norm -> leaky ReLU layers with a 1x1 shortcut, then a 2x2 max-pool."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        for i, c in enumerate((cin, cout, cout)):
            layers += [nn.Conv2d(c, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout)]
            if i < 2:
                layers.append(nn.LeakyReLU(0.1, inplace=True))
        self.body = nn.Sequential(*layers)
        self.shortcut = nn.Sequential(nn.Conv2d(cin, cout, 1, bias=False), nn.BatchNorm2d(cout))
        self.out = nn.Sequential(nn.LeakyReLU(0.1, inplace=True), nn.MaxPool2d(2))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(self.body(x) + self.shortcut(x))


class ResNet12Net(CompactNet, tags=["siamese", "one-shot", "omniglot", "resnet12"]):
    """ResNet-12 (Oreshkin et al., "TADAM", NeurIPS 2018; Lee et al., "MetaOptNet", CVPR 2019), made narrow
    for a CPU: four residual stages of three convolutions each (``widths`` gives their channels; the papers use
    64-160-320-640), then the same projection, L2 normalisation and calibrated cosine head as
    :class:`~siamese.models.CompactNet`, which also documents the other arguments. The default widths cost
    about what CompactNet's 64-128-128-128 costs per image.
    """

    architecture = "resnet12"
    stage = _ResidualStage

    # CompactNet's arguments again, for ResNet-12's own default widths: config.json records the signature's defaults
    def __init__(
        self,
        input_size: int = 56,
        channels: int = 1,
        widths: tuple[int, ...] = (16, 32, 64, 128),
        embedding_dim: int = 128,
        fit_to_box: bool = True,
        kind: str = "ink",
        margin: float = 0.1,
        stroke_band: tuple[float, float] = STROKE_BAND,
    ) -> None:
        super().__init__(input_size, channels, widths, embedding_dim, fit_to_box, kind, margin, stroke_band)
