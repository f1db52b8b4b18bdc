"""Several trained models as one: their normalised embeddings concatenated."""

from __future__ import annotations

import math
from typing import Any, Sequence

import torch
from torch import nn
from torch.nn import functional as F

from siamese.models.base import SiameseNet


class EnsembleNet(SiameseNet, tags=["siamese", "one-shot", "ensemble"]):
    """An ensemble of embedding models that takes one input: each member's L2-normalised embedding,
    concatenated and divided by sqrt(members), so the cosine of two images is the mean of the
    members' cosines (the averaging of Dietterich 2000, over similarities). The head is
    P(same) = sigmoid(scale * cos + bias), like :class:`~siamese.models.CompactNet`'s.

    ``members`` holds each member's ``config.json`` (architecture and arguments); they must share
    one preprocessing, so that the checkpoint keeps one input path. :meth:`from_models` builds one
    from trained models; it embeds as many times slower as it has members.
    """

    architecture = "ensemble"

    def __init__(self, members: Sequence[dict[str, Any]]) -> None:
        super().__init__()
        from siamese.models import model_kwargs_from_config  # the registry imports this module

        if len(members) < 2:
            raise ValueError(f"An ensemble needs at least two members, got {len(members)}.")
        built = []
        for config in members:
            cls, kwargs = model_kwargs_from_config(config)
            built.append(cls(**kwargs))
        configs = {member.preprocess_config for member in built}
        if len(configs) > 1:
            raise ValueError("The members of an ensemble must share their preprocessing (input size, crop, kind); "
                             f"these differ: {', '.join(str(c) for c in configs)}.")  # fmt: skip
        self.members = nn.ModuleList(built)
        self.preprocess_config = built[0].preprocess_config
        self.scale = nn.Parameter(torch.tensor(10.0))
        self.bias = nn.Parameter(torch.tensor(-5.0))

    @classmethod
    def from_models(cls, models: Sequence[SiameseNet]) -> "EnsembleNet":
        """An ensemble holding copies of trained ``models``; its head starts at their mean scale and bias."""
        ensemble = cls([model.config() for model in models])
        for member, model in zip(ensemble.members, models):
            member.load_state_dict(model.state_dict())
        heads = [(float(m.scale.detach()), float(m.bias.detach())) for m in models if hasattr(m, "scale") and hasattr(m, "bias")]
        if heads:
            with torch.no_grad():
                ensemble.scale.fill_(sum(s for s, _ in heads) / len(heads))
                ensemble.bias.fill_(sum(b for _, b in heads) / len(heads))
        return ensemble.eval()

    def features(self, x: torch.Tensor) -> torch.Tensor:
        parts = [F.normalize(member.features(x), dim=1) for member in self.members]
        return torch.cat(parts, dim=1) / math.sqrt(len(parts))

    def pair_logits(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return self.scale * (a * b).sum(dim=1) + self.bias

    def pair_logit_matrix(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return self.scale * (a @ b.T) + self.bias
