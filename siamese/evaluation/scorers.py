"""Scorers: what the evaluations measure.

A *scorer* is any callable ``score(queries, candidates) -> [Q, C]`` (numpy array or tensor) whose
entry ``[q, c]`` is higher the more likely query ``q`` and candidate ``c`` show the same class:
P(same) for a model, or any monotone score (a negative distance) for a baseline. Keeping the
evaluations on this one interface lets a trained network, a pixel baseline and a test oracle be
measured by exactly the same code.

    >>> scorer = model_scorer(siamese.load_model())
    >>> scorer([query], candidates)          # [1, C] tensor of P(same)
"""

from __future__ import annotations

from typing import Callable, Sequence

import numpy as np
import torch

from siamese.models import SiameseNet
from siamese.models.base import ImageLike
from siamese.transforms import PreprocessConfig, preprocess_batch

Images = Sequence[ImageLike] | torch.Tensor
Scorer = Callable[[Images, Images], "np.ndarray | torch.Tensor"]


class CachedScorer:
    """Scores through per-image features and computes each distinct image's features only once.

    Evaluations call a scorer once per trial, and the same images come back across trials (the 20
    training images of a Lake run, an alphabet's characters), so caching makes a 400-trial
    evaluation cost one forward pass per distinct image. Images are remembered by identity and
    kept alive while cached (so an ``id`` is never reused). The cache assumes that neither the
    images nor the featurizer change while it lives: build a fresh scorer after more training.
    Preprocessed tensor batches bypass the cache.
    """

    def __init__(
        self,
        featurize: Callable[[Images], torch.Tensor],
        compare: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
        name: str = "",
        max_cached: int = 100_000,
    ) -> None:
        self.featurize, self.compare, self.name, self.max_cached = featurize, compare, name, max_cached
        self._cache: dict[int, tuple[object, torch.Tensor]] = {}

    def __call__(self, queries: Images, candidates: Images) -> torch.Tensor:
        return self.compare(self.features(queries), self.features(candidates))

    def features(self, images: Images) -> torch.Tensor:
        """Features ``[N, D]`` of the images, computing only those not seen before (in one batch)."""
        if isinstance(images, torch.Tensor):
            return self.featurize(images)
        images = list(images)
        if len(self._cache) + len(images) > self.max_cached:
            self._cache.clear()
        missing = {id(image): image for image in images if id(image) not in self._cache}
        if missing:
            for (key, image), feature in zip(missing.items(), self.featurize(list(missing.values()))):
                self._cache[key] = (image, feature)
        return torch.stack([self._cache[id(image)][1] for image in images])

    def clear(self) -> None:
        self._cache.clear()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r}, cached={len(self._cache)})"


def model_scorer(model: SiameseNet) -> CachedScorer:
    """Adapt a Siamese model: P(same) from ``model.embed`` and ``model.pair_logit_matrix``.

    The same numbers as ``model.compare``, but each distinct image is embedded once.
    """

    @torch.inference_mode()
    def p_same(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(model.pair_logit_matrix(a, b))

    scorer = CachedScorer(model.embed, p_same, name=f"model:{model.architecture}")
    scorer.model = model  # type: ignore[attr-defined]
    return scorer


def logit_scorer(model: SiameseNet) -> CachedScorer:
    """Adapt a Siamese model: logits of *same* from ``model.embed`` and ``model.pair_logit_matrix``.

    What a softmax over candidates needs: P(same) of the best candidates rounds to 1.0 in float32,
    so ranks among them, and the posterior, are lost after the sigmoid.
    """

    @torch.inference_mode()
    def logits(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return model.pair_logit_matrix(a, b)

    return CachedScorer(model.embed, logits, name=f"logits:{model.architecture}")


def pixel_nearest_neighbour_scorer(config: PreprocessConfig = PreprocessConfig()) -> CachedScorer:
    """The 1-NN baseline: negative L2 distance between preprocessed images (105 x 105 ink by default).

    Koch et al. (2015) list 21.7% for it on Lake's 20-way runs and 26.5% on 10-way MNIST.
    """

    def pixels(images: Images) -> torch.Tensor:
        batch = images if isinstance(images, torch.Tensor) else preprocess_batch(list(images), config)
        return batch.reshape(len(batch), -1).to(torch.float32)

    def negative_distance(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return -torch.cdist(a, b)

    return CachedScorer(pixels, negative_distance, name="pixel-1nn")


def as_scorer(model_or_scorer: SiameseNet | Scorer) -> Scorer:
    """A model becomes a fresh :func:`model_scorer` (so its cache lives for one evaluation);
    any other callable is taken to be a scorer already."""
    if isinstance(model_or_scorer, SiameseNet):
        return model_scorer(model_or_scorer)
    if not callable(model_or_scorer):
        raise TypeError(f"Expected a SiameseNet or a scorer callable, got {type(model_or_scorer).__name__}.")
    return model_or_scorer


def prefetch(scorer: Scorer, images: Sequence[ImageLike]) -> None:
    """Let a caching scorer featurize all these images up front, in large batches.

    The trials are still scored one call each; their images are then already cached. Scorers that
    do not cache are left alone, so this never changes a result, only its speed.
    """
    if isinstance(scorer, CachedScorer) and len(images):
        scorer.features(images)


def score_matrix(scorer: Scorer, queries: Images, candidates: Images) -> np.ndarray:
    """Call a scorer and check what it returns: a finite float array ``[Q, C]``."""
    scores = scorer(queries, candidates)
    if isinstance(scores, torch.Tensor):
        scores = scores.detach().cpu().numpy()
    scores = np.asarray(scores, dtype=np.float64)
    expected = (len(queries), len(candidates))
    if scores.shape != expected:
        raise ValueError(f"The scorer returned shape {scores.shape}, expected {expected} (queries x candidates).")
    if not np.isfinite(scores).all():
        raise ValueError("The scorer returned NaN or infinite scores.")
    return scores
