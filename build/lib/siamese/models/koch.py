"""The Siamese network of Koch, Zemel & Salakhutdinov (2015), exactly as in the paper."""

from __future__ import annotations

import torch
from torch import nn

from siamese.models.base import SiameseNet, model_preprocess_config


class KochNet(SiameseNet, tags=["siamese", "one-shot", "omniglot", "koch2015"]):
    """Koch et al., "Siamese Neural Networks for One-shot Image Recognition", ICML DL Workshop 2015.

    Twin convolutional network: 64@10x10 -> max-pool -> 128@7x7 -> max-pool -> 128@4x4 -> max-pool
    -> 256@4x4 -> FC 4096 + sigmoid, all ReLU. The head is p = sigmoid(sum_j alpha_j |h1_j - h2_j|
    + b). On 105 x 105 inputs it has 38,951,745 parameters. Weights are initialised as in the paper:
    convolutions N(0, 1e-2), fully connected N(0, 2e-1), biases N(0.5, 1e-2).

    The paper's inputs are one-channel ink images (the default). ``kind="photo"`` (grey, or RGB with
    ``channels=3``) takes the same options as :class:`~siamese.models.CompactNet`, through the same
    shared preprocessing; ink images are not cropped to their bounding box, as in the paper.
    """

    architecture = "koch"

    def __init__(self, input_size: int = 105, channels: int = 1, kind: str = "ink") -> None:
        super().__init__()
        self.preprocess_config = model_preprocess_config(input_size, channels, kind)
        self.convs = nn.Sequential(
            nn.Conv2d(channels, 64, 10), nn.ReLU(inplace=True), nn.MaxPool2d(2),
            nn.Conv2d(64, 128, 7), nn.ReLU(inplace=True), nn.MaxPool2d(2),
            nn.Conv2d(128, 128, 4), nn.ReLU(inplace=True), nn.MaxPool2d(2),
            nn.Conv2d(128, 256, 4), nn.ReLU(inplace=True),
        )  # fmt: skip
        with torch.no_grad():
            flat = self.convs(torch.zeros(1, channels, input_size, input_size)).numel()
        self.fc = nn.Linear(flat, 4096)
        self.head = nn.Linear(4096, 1)  # the alpha_j and the bias
        self.reset_parameters()

    def reset_parameters(self) -> None:
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.normal_(module.weight, 0.0, 1e-2)
                nn.init.normal_(module.bias, 0.5, 1e-2)
            elif isinstance(module, nn.Linear):
                nn.init.normal_(module.weight, 0.0, 2e-1)
                nn.init.normal_(module.bias, 0.5, 1e-2)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.fc(self.convs(x).flatten(1)))

    def pair_logits(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return self.head((a - b).abs()).squeeze(1)

    def pair_logit_matrix(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        rows = [self.head((row[None, :] - b).abs()).squeeze(1) for row in a]  # [C] each; bounded memory
        return torch.stack(rows) if rows else a.new_zeros((0, b.shape[0]))
