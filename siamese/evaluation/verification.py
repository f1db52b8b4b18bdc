"""Verification: is this pair the same class? Accuracy at P(same) = 0.5, ROC AUC and calibration.

One-shot accuracy only needs the *ranking* of candidates to be right; verification also asks
whether P(same) means what it says, which matters when the app shows the number to a user.
"""

from __future__ import annotations

import numpy as np

from siamese.data import ImageSet, PairSampler
from siamese.evaluation.calibration import expected_calibration_error
from siamese.evaluation.scorers import Scorer, as_scorer, prefetch, score_matrix
from siamese.models import SiameseNet

#: Pairs are scored in blocks of this many (only the block's diagonal is used) to batch the work.
_BLOCK = 32


def roc_auc(scores: np.ndarray, labels: np.ndarray) -> float:
    """Area under the ROC curve: P(a random same pair outscores a random different one).

    Computed from ranks (Mann-Whitney U); tied scores get their average rank, i.e. count one half.
    """
    scores, labels = np.asarray(scores, dtype=np.float64), np.asarray(labels).astype(bool)
    n_pos, n_neg = int(labels.sum()), int((~labels).sum())
    if n_pos == 0 or n_neg == 0:
        raise ValueError("ROC AUC needs at least one positive and one negative label.")
    _, inverse, counts = np.unique(scores, return_inverse=True, return_counts=True)
    first_rank = np.cumsum(counts) - counts + 1  # 1-based rank of each distinct score's first copy
    ranks = (first_rank + (counts - 1) / 2.0)[inverse]
    return float((ranks[labels].sum() - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))


def binary_log_loss(probs: np.ndarray, labels: np.ndarray) -> float:
    """Mean binary cross-entropy of P(same) against the labels (the training loss, on held-out pairs)."""
    p = np.clip(np.asarray(probs, dtype=np.float64), 1e-7, 1 - 1e-7)
    y = np.asarray(labels, dtype=np.float64)
    return float(-(y * np.log(p) + (1 - y) * np.log(1 - p)).mean())


def pair_scores(scorer: Scorer, left: list, right: list) -> np.ndarray:
    """The score of each aligned pair ``(left[i], right[i])``."""
    out = []
    for start in range(0, len(left), _BLOCK):
        block = score_matrix(scorer, left[start : start + _BLOCK], right[start : start + _BLOCK])
        out.append(np.diagonal(block))
    return np.concatenate(out) if out else np.zeros(0)


def evaluate_verification(
    model_or_scorer: SiameseNet | Scorer, data: ImageSet, n_pairs: int = 1000, seed: int = 0, within_alphabet: bool = True
) -> dict:
    """Verification on ``n_pairs`` seeded pairs (half same) from :class:`~siamese.data.PairSampler`.

    Returns ``roc_auc`` and ``n_pairs`` for any scorer; ``accuracy`` (at P(same) = 0.5), ``ece``
    and ``log_loss`` only when the scores are probabilities (else ``None``).
    """
    scorer = as_scorer(model_or_scorer)
    left, right, same = PairSampler(data, n_pairs, seed=seed, within_alphabet=within_alphabet).batch(0)
    prefetch(scorer, [data.images[i] for i in np.unique(np.concatenate([left, right]))])
    scores = pair_scores(scorer, [data.images[i] for i in left], [data.images[i] for i in right])
    labels = same.astype(bool)
    is_probability = bool(scores.min() >= 0.0 and scores.max() <= 1.0)
    return {
        "accuracy": float(((scores >= 0.5) == labels).mean()) if is_probability else None,
        "roc_auc": roc_auc(scores, labels),
        "ece": expected_calibration_error(scores, labels, bins=10) if is_probability else None,
        "log_loss": binary_log_loss(scores, labels) if is_probability else None,
        "n_pairs": int(len(labels)),
        "mean_score_same": float(scores[labels].mean()),
        "mean_score_different": float(scores[~labels].mean()),
        "settings": {"data": data.name, "n_pairs": n_pairs, "seed": seed, "within_alphabet": within_alphabet},
    }
