"""The page's task: rank every character of a gallery for one drawing, and count top-1 / top-k hits.

Unlike an N-way trial, the candidates are not a sample: a query meets every character of its own
alphabet (what the page does with an alphabet chosen) or every character of the set at once. The
gallery is one drawer's image of each character; the queries are other drawers' images.
:class:`PageQueries` is that task, shared by the ranking and the calibration of its posterior
(:mod:`siamese.evaluation.calibration`), so both measure the same drawings against the same candidates.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Iterator, Sequence

import numpy as np
import torch

from siamese.data import ImageSet
from siamese.evaluation.scorers import Scorer, as_scorer, prefetch, score_matrix
from siamese.matching.support_set import prototypes
from siamese.models import SiameseNet
from siamese.utils import progress_bar


@dataclass(frozen=True)
class PageQueries:
    """Seeded queries of one image set, each to be scored against a gallery of one image per class."""

    data: ImageSet
    gallery: np.ndarray  #: ``[num_classes]``: the image index of each class's gallery image
    queries: np.ndarray  #: image indices of the queries, in the order they are scored

    @classmethod
    def sample(
        cls,
        data: ImageSet,
        n_queries: int,
        seed: int,
        gallery_drawer: int = 1,
        query_drawers: Sequence[int] = tuple(range(2, 21)),
    ) -> PageQueries:
        """The gallery of ``gallery_drawer``'s images and ``n_queries`` images by ``query_drawers`` (all, if fewer)."""
        gallery = np.full(data.num_classes, -1, dtype=np.int64)
        for i in np.flatnonzero(data.drawers == gallery_drawer):
            gallery[data.labels[i]] = i
        if (gallery < 0).any():
            raise ValueError(f"{int((gallery < 0).sum())} classes of {data.name or 'the data'} have no image by drawer {gallery_drawer}.")
        pool = np.flatnonzero(np.isin(data.drawers, np.asarray(query_drawers)))
        if len(pool) == 0:
            raise ValueError(f"No image of {data.name or 'the data'} is by drawers {list(query_drawers)}.")
        queries = np.random.default_rng(seed).choice(pool, size=min(n_queries, len(pool)), replace=False)
        return cls(data, gallery, queries)

    def candidates(self, query: int, within_alphabet: bool) -> np.ndarray:
        """The classes ``query`` is ranked among: its group's (alphabet's) with ``within_alphabet``, else every class."""
        if within_alphabet:
            return np.flatnonzero(self.data.groups[self.gallery] == self.data.groups[query])
        return np.arange(self.data.num_classes)

    def scores(self, scorer: Scorer, within_alphabet: bool, desc: str = "queries") -> Iterator[tuple[int, np.ndarray, np.ndarray]]:
        """``(query, candidate classes, scores)`` for each query; a caching scorer embeds every image up front."""
        images = self.data.images
        prefetch(scorer, [images[i] for i in np.concatenate([self.gallery, self.queries])])
        for q in progress_bar(self.queries, desc=desc, leave=False):
            classes = self.candidates(q, within_alphabet)
            yield int(q), classes, score_matrix(scorer, [images[q]], [images[i] for i in self.gallery[classes]])[0]


def evaluate_ranking(
    scorer: SiameseNet | Scorer,
    data: ImageSet,
    n_queries: int = 1000,
    seed: int = 0,
    within_alphabet: bool = True,
    gallery_drawer: int = 1,
    query_drawers: Sequence[int] = tuple(range(2, 21)),
    top_k: int = 5,
    shots: int = 1,
) -> dict:
    """Top-1 and top-``top_k`` accuracy of ``n_queries`` seeded queries against a one-image-per-class gallery.

    ``within_alphabet`` ranks the characters of the query's alphabet; otherwise every character of
    ``data``. Returns ``accuracy`` (top-1), ``top_k_accuracy``, ``per_group`` (top-1 by alphabet),
    ``candidates`` (the mean gallery size a query met) and the ``settings``.

    ``shots`` above 1 compares each query with every class's prototype instead (the page's few-shot choice): the
    mean embedding of ``shots`` images, those of the first drawers in ``gallery_drawer``, 1, 2, ... other than the
    query's own (so ``shots=1`` is the one-image gallery). It needs the model itself.
    """
    task = PageQueries.sample(data, n_queries, seed, gallery_drawer, query_drawers)
    hits: dict[str, list[tuple[bool, bool]]] = defaultdict(list)
    sizes = []
    if shots > 1:
        if not isinstance(scorer, SiameseNet):
            raise ValueError("Ranking against prototypes (shots > 1) needs a model, not a scorer.")
        scored = _prototype_scores(scorer, task, shots, within_alphabet)
    else:
        scored = task.scores(as_scorer(scorer), within_alphabet, desc="ranking")
    for q, classes, scores in scored:
        order = classes[np.argsort(-scores, kind="stable")]
        rank = int(np.flatnonzero(order == data.labels[q])[0])
        hits[data.group_names[data.groups[q]]].append((rank == 0, rank < top_k))
        sizes.append(len(classes))
    every = [hit for group in hits.values() for hit in group]
    return {
        "accuracy": float(np.mean([h[0] for h in every])),
        "top_k_accuracy": float(np.mean([h[1] for h in every])),
        "n_queries": len(every),
        "candidates": float(np.mean(sizes)),
        "per_group": {name: float(np.mean([h[0] for h in group])) for name, group in sorted(hits.items())},
        "settings": {"data": data.name, "n_queries": n_queries, "seed": seed, "within_alphabet": within_alphabet,
                     "gallery_drawer": gallery_drawer, "query_drawers": [int(d) for d in query_drawers], "top_k": top_k,
                     "shots": shots},
    }  # fmt: skip


def _prototype_scores(model: SiameseNet, task: PageQueries, shots: int, within_alphabet: bool) -> Iterator[tuple[int, np.ndarray, np.ndarray]]:
    """``(query, candidate classes, logits)`` for each query of ``task`` against prototypes of ``shots`` drawings
    per class by drawers other than the query's; the prototypes are made once per query drawer."""
    data = task.data
    features = model.embed(data.images).cpu()
    first = int(data.drawers[task.gallery[0]])  # the gallery's drawer comes first, then the others in order
    drawers = [first, *(d for d in sorted(set(data.drawers.tolist())) if d != first)]
    image_of = {(int(c), int(d)): i for i, (c, d) in enumerate(zip(data.labels, data.drawers))}
    made: dict[int, torch.Tensor] = {}
    for q in progress_bar(task.queries, desc="ranking", leave=False):
        drawer = int(data.drawers[q])
        if drawer not in made:
            support = [d for d in drawers if d != drawer][:shots]
            index = [(image_of[(c, d)], c) for c in range(data.num_classes) for d in support if (c, d) in image_of]
            images, classes = zip(*index)
            made[drawer] = prototypes(features[list(images)], torch.tensor(classes), data.num_classes)
        classes = task.candidates(q, within_alphabet)
        logits = model.pair_logit_matrix(features[q : q + 1].to(model.device), made[drawer][classes].to(model.device))
        yield int(q), classes, logits[0].detach().cpu().numpy().astype(np.float64)
