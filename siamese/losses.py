"""Losses, and the one place that fixes the label convention.

Convention, everywhere in this package: **label 1 means "same", 0 means "different"**, and every
public score is P(same). Hadsell et al. (2006), and many re-implementations, label *dissimilar*
pairs 1 for the contrastive loss; :func:`contrastive_loss` takes our convention and does the
translation inside, so callers never see the other one.

The ``*_objective`` functions turn a model's features into the training loss of each method;
the training loop calls them with features from one forward pass over all images of a batch.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from siamese.models import SiameseNet

LOSSES = ("bce", "contrastive", "prototypical", "cosface")


def bce_loss(logits: torch.Tensor, same: torch.Tensor, pos_weight: float | None = None) -> torch.Tensor:
    """Binary cross-entropy on the sigmoid head (Koch et al. 2015), from logits for stability.

    ``pos_weight`` up-weights the same pairs when they are rarer than the different ones.
    """
    weight = None if pos_weight is None else torch.tensor(pos_weight, dtype=logits.dtype, device=logits.device)
    return F.binary_cross_entropy_with_logits(logits, same.to(logits.dtype), pos_weight=weight)


def contrastive_loss(distance: torch.Tensor, same: torch.Tensor, margin: float = 1.0) -> torch.Tensor:
    """Hadsell, Chopra & LeCun (2006): pull same pairs together, push different ones past ``margin``.

    ``0.5 * d^2`` for same pairs and ``0.5 * max(0, margin - d)^2`` for different ones, averaged.
    """
    same = same.to(distance.dtype)
    different = 1.0 - same  # Hadsell et al.'s label
    return 0.5 * (same * distance.pow(2) + different * F.relu(margin - distance).pow(2)).mean()


def pair_objective(model: SiameseNet, a: torch.Tensor, b: torch.Tensor, same: torch.Tensor, loss: str, margin: float = 1.0) -> torch.Tensor:
    """Loss on aligned pairs of features: BCE on the head, or contrastive on the distance.

    With the contrastive loss the head still learns, from a BCE on *detached* features: it turns
    distances into calibrated P(same) without changing what the features learn.
    """
    if loss == "bce":
        return bce_loss(model.pair_logits(a, b), same)
    if loss == "contrastive":
        return contrastive_loss(model.distance(a, b), same, margin) + bce_loss(model.pair_logits(a.detach(), b.detach()), same)
    raise ValueError(f"{loss!r} is not a pair loss; choose bce or contrastive.")


def prototypical_objective(model: SiameseNet, support: torch.Tensor, query: torch.Tensor) -> torch.Tensor:
    """Snell et al. (2017) on the model's own head: each query picks its class among the episode's.

    ``support`` is ``[n_way, k_shot, D]`` and ``query`` ``[n_way, n_query, D]``. Class scores are
    the head's logits against each class prototype (the mean support feature), trained with
    cross-entropy; as for the contrastive loss, a balanced BCE on detached features calibrates the
    head's P(same).
    """
    n_way, n_query = query.shape[:2]
    prototypes = support.mean(dim=1)
    queries = query.reshape(n_way * n_query, -1)
    target = torch.arange(n_way, device=query.device).repeat_interleave(n_query)
    logits = model.pair_logit_matrix(queries, prototypes)  # [n_way * n_query, n_way]
    same = F.one_hot(target, n_way).to(logits.dtype)
    calibration = model.pair_logit_matrix(queries.detach(), prototypes.detach())
    return F.cross_entropy(logits, target) + bce_loss(calibration.flatten(), same.flatten(), pos_weight=float(n_way - 1))


class CosineClassifier(nn.Module):
    """One unit-norm weight vector per training class; lives only during training.

    The model's embedding is taken before it, so a checkpoint holds the embedding and its pair
    head, never this classifier, and works on classes it has never seen.
    """

    def __init__(self, n_classes: int, dim: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(n_classes, dim) / dim**0.5)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return F.normalize(features, dim=1) @ F.normalize(self.weight, dim=1).T


def cosface_objective(
    model: SiameseNet, classifier: CosineClassifier, features: torch.Tensor, labels: torch.Tensor,
    margin: float = 0.2, scale: float = 16.0,
) -> torch.Tensor:
    """Wang et al. (2018), CosFace: softmax over every training class on ``scale * (cos - margin)``.

    The margin makes each class win by a gap in cosine, so embeddings of one class cluster tightly
    and new classes separate by the same cosine the pair head reads. As for the prototypical loss, a
    balanced BCE on detached in-batch pairs calibrates the head's P(same).
    """
    cosine = classifier(features)
    onehot = F.one_hot(labels, cosine.shape[1]).to(cosine.dtype)
    loss = F.cross_entropy(scale * (cosine - margin * onehot), labels)
    detached = features.detach()
    pairs = model.pair_logit_matrix(detached, detached)
    same = (labels[:, None] == labels[None, :]).to(pairs.dtype)
    off_diagonal = ~torch.eye(len(labels), dtype=torch.bool, device=labels.device)
    n_same = same[off_diagonal].sum().clamp(min=1.0)
    pos_weight = float((off_diagonal.sum() - n_same) / n_same)
    return loss + bce_loss(pairs[off_diagonal], same[off_diagonal], pos_weight=pos_weight)


def similarity_distillation(student: torch.Tensor, teacher: torch.Tensor, temperature: float = 0.1) -> torch.Tensor:
    """Knowledge distillation over similarities (Hinton et al. 2015; relational, as Park et al. 2019):
    each image's softmax over its cosines to the other images of the batch, the teacher's as the soft
    target of the student's, KL divergence averaged over images. Both are L2-normalised features ``[N, D]``.

    It lets one network learn what an ensemble (:class:`~siamese.models.EnsembleNet`) finds similar.
    """
    n = student.shape[0]
    others = ~torch.eye(n, dtype=torch.bool, device=student.device)  # an image's similarity to itself says nothing
    s = (student @ student.T)[others].view(n, n - 1) / temperature
    t = (teacher @ teacher.T)[others].view(n, n - 1) / temperature
    return F.kl_div(F.log_softmax(s, dim=1), F.log_softmax(t, dim=1), log_target=True, reduction="batchmean")
