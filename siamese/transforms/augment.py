"""Training augmentations: Koch et al.'s affine distortions, stroke-width jitter and elastic distortion."""

from __future__ import annotations

import math

import torch

def koch_affine(input_size: int) -> torch.nn.Module:
    """Koch et al. (2015) affine distortions, each component applied with probability 0.5.

    Rotation +-10 degrees, shear +-0.3 (a shear factor, i.e. atan(0.3) = 16.7 degrees), scale
    0.8-1.2 and translation +-2 pixels at 105 x 105 (scaled with the input size). Background is 0.
    """
    from torchvision.transforms import v2

    shear = math.degrees(math.atan(0.3))
    shift = 2.0 / 105.0
    return v2.Compose(
        [
            v2.RandomApply([v2.RandomAffine(degrees=10)], p=0.5),
            v2.RandomApply([v2.RandomAffine(degrees=0, shear=(-shear, shear, -shear, shear))], p=0.5),
            v2.RandomApply([v2.RandomAffine(degrees=0, scale=(0.8, 1.2))], p=0.5),
            v2.RandomApply([v2.RandomAffine(degrees=0, translate=(shift, shift))], p=0.5),
        ]
    )


class StrokeJitter(torch.nn.Module):
    """Thicken or thin the strokes of an ink image ``[1, H, W]`` by a random amount, up to one 3x3 step.

    Pens differ in width, and preprocessing only brings a width into Omniglot's range, so the
    model learns that a character is the same whatever its width within and around that range.
    """

    def forward(self, ink: torch.Tensor) -> torch.Tensor:
        amount = float(torch.rand(()))
        pooled = torch.nn.functional.max_pool2d(ink[None], 3, 1, 1)[0]
        if torch.rand(()) < 0.5:  # thin instead: erosion is max-pooling of the negative
            pooled = -torch.nn.functional.max_pool2d(-ink[None], 3, 1, 1)[0]
        return torch.lerp(ink, pooled, amount)


def training_augmentation(input_size: int, stroke_jitter: bool = False, elastic: bool = False) -> torch.nn.Module:
    """Koch's affine distortions, optionally with stroke-width jitter and elastic distortion (Simard et al. 2003)."""
    from torchvision.transforms import v2

    steps: list[torch.nn.Module] = [koch_affine(input_size)]
    if elastic:  # displacements of about 2% of the side, smoothed over about 5%
        steps.append(v2.RandomApply([v2.ElasticTransform(alpha=0.6 * input_size, sigma=0.05 * input_size)], p=0.5))
    if stroke_jitter:
        steps.append(StrokeJitter())
    return steps[0] if len(steps) == 1 else v2.Compose(steps)
