""""No confident match": the P(same) threshold below which the best match is not trusted, chosen on validation.

In each 20-way within-alphabet trial the query meets its own character among the candidates
(*present*) and, separately, the same candidates without it (*absent*: the page's case of a drawing
whose character is not in the chosen alphabet). The threshold keeps a target share of the present
queries; the figure that matters beside it is how many absent ones it turns away.
"""

from __future__ import annotations

import numpy as np

from siamese.data import ImageSet, TrialSampler
from siamese.evaluation.scorers import Scorer, as_scorer, prefetch, score_matrix
from siamese.models import SiameseNet


def evaluate_rejection(
    scorer: SiameseNet | Scorer,
    data: ImageSet,
    n_way: int = 20,
    trials_per_group: int = 200,
    seed: int = 0,
    coverage: float = 0.95,
    threshold: float | None = None,
) -> dict:
    """Choose (or, with ``threshold``, check) the confidence threshold on seeded within-alphabet trials.

    Returns ``threshold`` (the ``1 - coverage`` quantile of the present queries' best P(same), unless
    given), ``coverage`` (present queries at or above it), ``accuracy`` (top-1 among those),
    ``absent_rejected`` (absent queries below it) and ``n_trials``.
    """
    if not 0.0 < coverage < 1.0:
        raise ValueError(f"coverage must be between 0 and 1, got {coverage}.")
    scorer = as_scorer(scorer)
    trials = list(TrialSampler(data, n_way, 1, trials_per_group, seed, within_alphabet=True))
    prefetch(scorer, [data.images[i] for t in trials for i in (t.query, *t.support.ravel())])
    present, absent, correct = [], [], []
    for trial in trials:
        scores = score_matrix(scorer, [data.images[trial.query]], [data.images[i] for i in trial.support.ravel()])[0]
        present.append(scores.max())
        correct.append(int(scores.argmax()) == trial.answer)
        absent.append(np.delete(scores, trial.answer).max())
    present, absent, correct = np.array(present), np.array(absent), np.array(correct)
    chosen = float(np.quantile(present, 1.0 - coverage)) if threshold is None else float(threshold)
    accepted = present >= chosen
    return {
        "threshold": chosen,
        "coverage": float(accepted.mean()),
        "accuracy": float(correct[accepted].mean()) if accepted.any() else 0.0,
        "absent_rejected": float((absent < chosen).mean()),
        "n_trials": len(trials),
        "settings": {"data": data.name, "n_way": n_way, "trials_per_group": trials_per_group, "seed": seed,
                     "coverage": coverage, "threshold": threshold},
    }  # fmt: skip
