"""The page's task: rank every character of a gallery for one drawing, and count top-1 / top-k hits.

Unlike an N-way trial, the candidates are not a sample: a query meets every character of its own
alphabet (what the page does with an alphabet chosen) or every character of the set at once. The
gallery is one drawer's image of each character; the queries are other drawers' images.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Sequence

import numpy as np
from tqdm import tqdm

from siamese.data import ImageSet
from siamese.evaluation.scorers import Scorer, as_scorer, prefetch, score_matrix
from siamese.models import SiameseNet


def evaluate_ranking(
    scorer: SiameseNet | Scorer,
    data: ImageSet,
    n_queries: int = 1000,
    seed: int = 0,
    within_group: bool = True,
    gallery_drawer: int = 1,
    query_drawers: Sequence[int] = tuple(range(2, 21)),
    top_k: int = 5,
) -> dict:
    """Top-1 and top-``top_k`` accuracy of ``n_queries`` seeded queries against a one-image-per-class gallery.

    ``within_group`` ranks the characters of the query's alphabet; otherwise every character of
    ``data``. Returns ``accuracy`` (top-1), ``top_k_accuracy``, ``per_group`` (top-1 by alphabet),
    ``candidates`` (the mean gallery size a query met) and the ``settings``.
    """
    scorer = as_scorer(scorer)
    gallery = np.full(data.num_classes, -1, dtype=np.int64)
    for i in np.flatnonzero(data.drawers == gallery_drawer):
        gallery[data.labels[i]] = i
    if (gallery < 0).any():
        raise ValueError(f"{int((gallery < 0).sum())} classes of {data.name or 'the data'} have no image by drawer {gallery_drawer}.")
    pool = np.flatnonzero(np.isin(data.drawers, np.asarray(query_drawers)))
    if len(pool) == 0:
        raise ValueError(f"No image of {data.name or 'the data'} is by drawers {list(query_drawers)}.")
    queries = np.random.default_rng(seed).choice(pool, size=min(n_queries, len(pool)), replace=False)
    prefetch(scorer, [data.images[i] for i in np.concatenate([gallery, queries])])
    class_group = data.groups[gallery]
    hits: dict[str, list[tuple[bool, bool]]] = defaultdict(list)
    sizes = []
    for q in tqdm(queries, desc="ranking", leave=False, disable=None):
        classes = np.flatnonzero(class_group == data.groups[q]) if within_group else np.arange(data.num_classes)
        scores = score_matrix(scorer, [data.images[q]], [data.images[i] for i in gallery[classes]])[0]
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
        "settings": {"data": data.name, "n_queries": n_queries, "seed": seed, "within_group": within_group,
                     "gallery_drawer": gallery_drawer, "query_drawers": [int(d) for d in query_drawers], "top_k": top_k},
    }  # fmt: skip
