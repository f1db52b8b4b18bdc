"""The project's default model: a small convolutional embedding with a cosine head."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from siamese.models.base import SiameseNet, model_preprocess_config
from siamese.transforms.geometry import STROKE_BAND


def _conv_block(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True), nn.MaxPool2d(2))


class CompactNet(SiameseNet, tags=["siamese", "one-shot", "omniglot"]):
    """A four-block ConvNet (Vinyals et al. 2016; Snell et al. 2017) with a calibrated cosine head.

    Each block (``widths`` gives their channels) is 3x3 conv -> batch norm -> ReLU -> 2x2 max-pool. The image's embedding is the
    flattened last block projected to ``embedding_dim`` and L2-normalised. The head maps cosine
    similarity to P(same) = sigmoid(scale * cos + bias), so identical images get the highest
    score the model can give, and ``scale`` / ``bias`` are learned (and can be recalibrated).

    ``kind`` says what the images are (:class:`~siamese.transforms.PreprocessConfig`): ``"ink"``
    (characters, digits; one channel, polarity-normalised and, with ``fit_to_box``, cropped to the
    ink's bounding box so position and size on the page do not matter) or ``"photo"`` (faces, the
    user's pictures; intensities kept as they are, grey with ``channels=1`` or colour with
    ``channels=3``; ``fit_to_box`` does not apply). Any image, grey or RGB, reaches the network
    through the one shared :func:`~siamese.transforms.preprocessing`, which converts it to what
    ``kind`` and ``channels`` ask for. For ink, ``margin`` is the blank border around the cropped
    character and ``stroke_band`` the stroke widths left as drawn (pixels of a 112-px box; wider strokes
    are thinned, narrower ones thickened).
    """

    architecture = "compact"
    #: one stage of the network: ``cin`` channels in, ``cout`` out, half the side (subclasses change it)
    stage = staticmethod(_conv_block)

    def __init__(
        self,
        input_size: int = 56,
        channels: int = 1,
        widths: tuple[int, ...] = (32, 64, 64, 64),
        embedding_dim: int = 128,
        fit_to_box: bool = True,
        kind: str = "ink",
        margin: float = 0.1,
        stroke_band: tuple[float, float] = STROKE_BAND,
    ) -> None:
        super().__init__()
        self.preprocess_config = model_preprocess_config(input_size, channels, kind, fit_to_box, margin=margin, stroke_band=stroke_band)
        widths = [channels, *widths]
        self.blocks = nn.Sequential(*[self.stage(cin, cout) for cin, cout in zip(widths, widths[1:])])
        with torch.no_grad():
            flat = self.blocks(torch.zeros(1, channels, input_size, input_size)).numel()
        self.project = nn.Linear(flat, embedding_dim)
        self.scale = nn.Parameter(torch.tensor(10.0))
        self.bias = nn.Parameter(torch.tensor(-5.0))

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.project(self.blocks(x).flatten(1)), dim=1)

    def pair_logits(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return self.scale * (a * b).sum(dim=1) + self.bias

    def pair_logit_matrix(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return self.scale * (a @ b.T) + self.bias
