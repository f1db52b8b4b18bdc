"""Match queries against labelled examples: the model's P(same) per class, and P(class | query) over them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import torch

from siamese.hub import Calibration
from siamese.models import SiameseNet
from siamese.models.base import ImageLike


def prototypes(features: torch.Tensor, class_of: torch.Tensor, classes: int) -> torch.Tensor:
    """Each class's prototype ``[classes, D]``: the mean of its examples' features ``[N, D]`` (``class_of[i]`` is
    example ``i``'s class). Features on the unit sphere (the compact model's) give a prototype on it too, so that
    the model's logits, and the calibration fitted on them, read a prototype as they read one drawing."""
    sums = torch.zeros(classes, features.shape[1], dtype=torch.float32).index_add_(0, class_of, features.float())
    counts = torch.bincount(class_of, minlength=classes).clamp(min=1).unsqueeze(1)
    means = sums / counts
    normalised = torch.allclose(features.norm(dim=1), torch.ones(len(features)), atol=1e-3)
    return torch.nn.functional.normalize(means, dim=1) if normalised else means


@dataclass(frozen=True)
class Match:
    """One class of a support set, ranked for a query."""

    label: str
    probability: float  # P(class | query) over the support set's classes (calibrated softmax)
    index: int  # the class's position in ``SupportSet.labels``


class SupportSet:
    """Labelled examples that queries are matched against: one-shot classification.

    Koch, Zemel & Salakhutdinov (2015), "Siamese Neural Networks for One-shot Image Recognition":
    a query belongs to the class whose example it most likely shows the same thing as. The
    interface follows easyfsl: :meth:`process_support_set` once, then :meth:`forward` per query
    batch, which embeds only the queries and ranks every class with one matrix product.
    A class with several examples scores the mean of its examples' P(same) (:meth:`forward`) and
    the mean of their logits (:meth:`logits`, what the posterior of :meth:`top_k` is a softmax of).
    """

    def __init__(self, model: SiameseNet) -> None:
        self.model = model
        self.labels: list[str] = []
        self.features = torch.empty(0)
        self._class_of = torch.empty(0, dtype=torch.long)  # each example's class
        self._counts = torch.empty(0)  # examples per class

    def process_support_set(self, images: Sequence[ImageLike] | torch.Tensor, labels: Sequence[str]) -> None:
        """Embed the examples (``labels[i]`` names ``images[i]``)."""
        self.load_features(self.model.embed(images), labels)

    def load_features(self, features: torch.Tensor, labels: Sequence[str]) -> None:
        """Use features embedded earlier (a cache, or a session's taught symbols)."""
        if len(features) != len(labels):
            raise ValueError(f"{len(features)} feature rows for {len(labels)} labels.")
        classes = list(dict.fromkeys(labels))
        position = {label: i for i, label in enumerate(classes)}
        self._class_of = torch.tensor([position[label] for label in labels], dtype=torch.long)
        self._counts = torch.bincount(self._class_of, minlength=len(classes)).float()
        self.features = features.to(self.model.device, dtype=torch.float32)
        self.labels = classes

    def __len__(self) -> int:
        return len(self.labels)

    @torch.inference_mode()
    def logits(self, queries: Sequence[ImageLike] | torch.Tensor) -> torch.Tensor:
        """Logits of *same* of each query with each class, ``[Q, classes]``."""
        return self._per_class(self._pair_logits(queries))

    @torch.inference_mode()
    def forward(self, queries: Sequence[ImageLike] | torch.Tensor) -> torch.Tensor:
        """P(same) of each query with each class, ``[Q, classes]``."""
        return self._per_class(torch.sigmoid(self._pair_logits(queries)))

    __call__ = forward

    def top_k(self, query: ImageLike | torch.Tensor, k: int = 5, calibration: Calibration = Calibration()) -> list[Match]:
        """The ``k`` most likely classes for one query, best first, with P(class | query) under ``calibration``."""
        posterior = calibration.posterior(self.logits(query[None] if isinstance(query, torch.Tensor) else [query])[0])
        best = torch.argsort(posterior, descending=True, stable=True)[: max(k, 0)]
        return [Match(self.labels[i], float(posterior[i]), int(i)) for i in best]

    def _pair_logits(self, queries: Sequence[ImageLike] | torch.Tensor) -> torch.Tensor:
        """Logits of *same* of each query with each example, ``[Q, examples]``."""
        if not self.labels:
            raise ValueError("The support set is empty: add examples first.")
        return self.model.pair_logit_matrix(self.model.embed(queries), self.features).cpu()

    def _per_class(self, scores: torch.Tensor) -> torch.Tensor:
        """Per-example scores ``[Q, examples]`` -> each class's mean ``[Q, classes]``."""
        if len(self._class_of) == len(self.labels):  # one example per class: already one column per class
            return scores
        per_class = torch.zeros(len(scores), len(self.labels), dtype=scores.dtype).index_add_(1, self._class_of, scores)
        return per_class / self._counts
