"""Koch et al. (2015), section 4.4: one-shot MNIST with a model that never saw a digit.

Each 10-way trial shows one image of every digit and asks which digit a new image is. The paper
reports 70.3% for its Omniglot-trained network and 26.5% for 1-nearest-neighbour on pixels. The
trials are ordinary N-way one-shot trials over the ten digits, drawn and scored by
:func:`~siamese.evaluation.oneshot.evaluate_oneshot`.
"""

from __future__ import annotations

from siamese.data import ImageSet
from siamese.evaluation.oneshot import evaluate_oneshot
from siamese.evaluation.scorers import Scorer, pixel_nearest_neighbour_scorer
from siamese.models import SiameseNet

PAPER = {"siamese": 0.703, "pixel_1nn": 0.265}


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
    trials = dict(n_way=data.num_classes, k_shot=1, trials_per_group=n_trials, seed=seed, within_alphabet=False)
    oneshot = evaluate_oneshot(scorer, data, **trials)
    result = {"accuracy": oneshot["accuracy"], "n_trials": oneshot["n_trials"], "n_way": data.num_classes}
    if baseline:
        result["baseline_accuracy"] = evaluate_oneshot(pixel_nearest_neighbour_scorer(), data, **trials)["accuracy"]
    result["paper"] = dict(PAPER)
    result["settings"] = {"data": data.name, "n_trials": n_trials, "seed": seed}
    return result
