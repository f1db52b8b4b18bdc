"""Training augmentations, applied to a whole batch at once: Koch et al.'s affine distortions,
optionally elastic distortion (Simard et al. 2003) and stroke-width jitter.

Every image gets its own parameters, drawn from the ``torch.Generator`` the caller passes, so a
batch is a function of that generator's seed alone (training seeds it by ``(seed, step)``, which
keeps resume exact). The affine and elastic parts become one sampling grid and one
``grid_sample`` over the batch: about 15x cheaper than a ``RandomAffine`` per image and component.
"""

from __future__ import annotations

import math

import torch
from torch.nn import functional as F

#: Koch et al. (2015), section 4.2, at 105 x 105: rotation theta in [-10, 10] degrees, shears
#: rho_x, rho_y in [-0.3, 0.3], scales s_x, s_y in [0.8, 1.2], translations t_x, t_y in [-2, 2] pixels;
#: each of the four components is applied with probability 0.5.
ROTATION_DEGREES = 10.0
SHEAR = 0.3
SCALE = (0.8, 1.2)
SHIFT_AT_105 = 2.0


def koch_affine_matrices(n: int, generator: torch.Generator) -> torch.Tensor:
    """``[n, 2, 3]`` affine maps (the ``theta`` of ``F.affine_grid``), one of Koch's distortions each.

    The distortion maps centred coordinates ``p`` to ``scale @ shear @ rotate @ p + shift``;
    ``affine_grid`` wants the inverse (where each output pixel is read from), which is returned.
    """
    u = lambda *shape: torch.rand(*shape, generator=generator, dtype=torch.float64)  # noqa: E731
    on = u(n, 4) < 0.5  # which of rotation, shear, scale, translation each image gets
    angle = torch.where(on[:, 0], (2 * u(n) - 1) * math.radians(ROTATION_DEGREES), 0.0)
    shear = torch.where(on[:, 1:2], (2 * u(n, 2) - 1) * SHEAR, 0.0)
    scale = torch.where(on[:, 2:3], SCALE[0] + (SCALE[1] - SCALE[0]) * u(n, 2), 1.0)
    shift = torch.where(on[:, 3:4], (2 * u(n, 2) - 1) * SHIFT_AT_105 / 105.0 * 2.0, 0.0)  # a fraction of the side, in [-1, 1] units

    cos, sin = torch.cos(angle), torch.sin(angle)
    rotate = torch.stack([torch.stack([cos, -sin], -1), torch.stack([sin, cos], -1)], -2)
    ones = torch.ones(n, dtype=torch.float64)
    shear_m = torch.stack([torch.stack([ones, shear[:, 0]], -1), torch.stack([shear[:, 1], ones], -1)], -2)
    forward = torch.diag_embed(scale) @ shear_m @ rotate
    inverse = torch.linalg.inv(forward)
    theta = torch.cat([inverse, -(inverse @ shift[:, :, None])], dim=2)
    return theta.float()


def elastic_displacement(n: int, input_size: int, generator: torch.Generator, p: float = 0.5) -> torch.Tensor:
    """``[n, H, W, 2]`` smooth random displacements in ``affine_grid`` units, zero for images not picked (p).

    As torchvision's ``ElasticTransform(alpha=0.6 * side, sigma=0.05 * side)``: uniform noise in
    [-1, 1] blurred by a Gaussian of ``sigma`` pixels, times ``alpha / side``; about 2% of the side.
    """
    sigma, alpha = 0.05 * input_size, 0.6 * input_size
    noise = 2 * torch.rand(n, 2, input_size, input_size, generator=generator) - 1
    size = int(8 * sigma + 1) | 1  # odd, as torchvision's kernel
    x = torch.arange(size, dtype=torch.float32) - size // 2
    kernel = torch.exp(-0.5 * (x / sigma) ** 2)
    kernel = (kernel / kernel.sum()).to(noise)
    pad = size // 2
    blurred = noise.reshape(n * 2, 1, input_size, input_size)
    blurred = F.conv2d(F.pad(blurred, (pad, pad, 0, 0), mode="reflect"), kernel.view(1, 1, 1, -1))
    blurred = F.conv2d(F.pad(blurred, (0, 0, pad, pad), mode="reflect"), kernel.view(1, 1, -1, 1))
    picked = (torch.rand(n, generator=generator) < p).float().view(n, 1, 1, 1)
    return (blurred.view(n, 2, input_size, input_size) * alpha / input_size * picked).permute(0, 2, 3, 1)


def stroke_jitter(ink: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Thicken or thin the strokes of each ink image ``[N, 1, H, W]`` by a random amount, up to one 3x3 step.

    Pens differ in width, and preprocessing only brings a width into Omniglot's range, so the
    model learns that a character is the same whatever its width within and around that range.
    """
    n = ink.shape[0]
    amount = torch.rand(n, 1, 1, 1, generator=generator)
    thin = torch.rand(n, 1, 1, 1, generator=generator) < 0.5
    thicker = F.max_pool2d(ink, 3, 1, 1)
    thinner = -F.max_pool2d(-ink, 3, 1, 1)  # erosion is max-pooling of the negative
    return torch.lerp(ink, torch.where(thin, thinner, thicker), amount)


class BatchAugmentation:
    """Koch's affine distortions for every image of a batch ``[N, C, H, W]`` in ``[0, 1]`` (background 0),
    optionally with elastic distortion and stroke-width jitter, each image with its own parameters."""

    def __init__(self, input_size: int, stroke_jitter: bool = False, elastic: bool = False) -> None:
        self.input_size, self.stroke_jitter, self.elastic = input_size, stroke_jitter, elastic

    def __call__(self, images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        n = images.shape[0]
        theta = koch_affine_matrices(n, generator)
        grid = F.affine_grid(theta, list(images.shape), align_corners=False)
        if self.elastic:
            grid = grid + elastic_displacement(n, self.input_size, generator)
        out = F.grid_sample(images, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
        return stroke_jitter(out, generator) if self.stroke_jitter else out

    def __repr__(self) -> str:
        return f"BatchAugmentation(input_size={self.input_size}, stroke_jitter={self.stroke_jitter}, elastic={self.elastic})"


def training_augmentation(input_size: int, stroke_jitter: bool = False, elastic: bool = False) -> BatchAugmentation:
    """Koch's affine distortions, optionally with stroke-width jitter and elastic distortion (Simard et al. 2003)."""
    return BatchAugmentation(input_size, stroke_jitter, elastic)
