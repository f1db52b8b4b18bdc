"""Koch et al. (2015), section 4.4: one-shot MNIST with a model that never saw a digit.

Each 10-way trial shows one image of every digit and asks which digit a new image is. The paper
reports 70.3% for its Omniglot-trained network and 26.5% for 1-nearest-neighbour on pixels.
"""

from __future__ import annotations

import numpy as np
from tqdm import tqdm

from siamese.data import ImageSet
from siamese.evaluation.oneshot import choose
from siamese.evaluation.scorers import Scorer, as_scorer, pixel_nearest_neighbour_scorer, prefetch
from siamese.models import SiameseNet

PAPER = {"siamese": 0.703, "pixel_1nn": 0.265}


def mnist_trial(labels: np.ndarray, seed: int, t: int) -> tuple[np.ndarray, int, int]:
    """Trial ``t``: one support image index per class (in class order), the query index and its class.

    Seeded by ``(seed, t)`` like the samplers, so any trial can be redrawn on its own.
    """
    rng = np.random.default_rng([seed, t])
    classes = np.unique(labels)
    support = np.array([rng.choice(np.flatnonzero(labels == c)) for c in classes])
    answer = int(rng.integers(len(classes)))
    others = np.flatnonzero(labels == classes[answer])
    query = int(rng.choice(others[others != support[answer]]))
    return support, query, answer


def evaluate_mnist_transfer(
    scorer: SiameseNet | Scorer,
    n_trials: int = 400,
    seed: int = 0,
    baseline: bool = False,
    data: ImageSet | None = None,
) -> dict:
    """10-way one-shot accuracy on the MNIST test set (``data`` defaults to ``load_mnist("test")``).

    With ``baseline`` the same trials are also scored by the pixel 1-NN scorer. Returns
    ``accuracy``, ``n_trials``, ``n_way``, ``paper`` (the published numbers) and, when asked,
    ``baseline_accuracy``.
    """
    if data is None:
        from siamese.data.mnist import load_mnist

        data = load_mnist("test")
    trials = [mnist_trial(data.labels, seed, t) for t in range(n_trials)]
    result = {"accuracy": _accuracy(as_scorer(scorer), data, trials), "n_trials": n_trials, "n_way": data.num_classes}
    if baseline:
        result["baseline_accuracy"] = _accuracy(pixel_nearest_neighbour_scorer(), data, trials)
    result["paper"] = dict(PAPER)
    result["settings"] = {"data": data.name, "n_trials": n_trials, "seed": seed}
    return result


def _accuracy(scorer: Scorer, data: ImageSet, trials: list[tuple[np.ndarray, int, int]]) -> float:
    prefetch(scorer, [data.images[i] for i in np.unique([i for s, q, _ in trials for i in (q, *s)])])
    correct = 0
    for support, query, answer in tqdm(trials, desc="MNIST trials", leave=False, disable=None):
        correct += choose(scorer, data.images[query], [data.images[i] for i in support]) == answer
    return correct / max(len(trials), 1)
