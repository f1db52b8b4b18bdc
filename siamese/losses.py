"""Pair losses, and the one place that fixes the label convention.

Convention, everywhere in this package: **label 1 means "same", 0 means "different"**, and every
public score is P(same). The original seed code (and Hadsell et al. 2006) label *dissimilar*
pairs 1 for the contrastive loss; :func:`contrastive_loss` takes our convention and does the
translation inside, so callers never see the other one.
"""

from __future__ import annotations

import torch
from torch.nn import functional as F

LOSSES = ("bce", "contrastive")


def bce_loss(logits: torch.Tensor, same: torch.Tensor) -> torch.Tensor:
    """Binary cross-entropy on the sigmoid head (Koch et al. 2015), from logits for stability."""
    return F.binary_cross_entropy_with_logits(logits, same.to(logits.dtype))


def contrastive_loss(distance: torch.Tensor, same: torch.Tensor, margin: float = 1.0) -> torch.Tensor:
    """Hadsell, Chopra & LeCun (2006): pull same pairs together, push different ones past ``margin``.

    ``0.5 * d^2`` for same pairs and ``0.5 * max(0, margin - d)^2`` for different ones, averaged.
    """
    same = same.to(distance.dtype)
    different = 1.0 - same  # the seed's label
    return 0.5 * (same * distance.pow(2) + different * F.relu(margin - distance).pow(2)).mean()
