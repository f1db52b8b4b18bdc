"""The calibration of the page's answer to "which character is it?": P(character | drawing).

The page shows ``softmax(logits / T)`` over its candidates (:class:`siamese.hub.Calibration`).
The temperature ``T`` is fitted on the validation alphabets by maximum likelihood of the true character,
and the "no confident match" threshold is the lowest best posterior at which the validation answers it
accepts are still right ``precision`` of the time (selective classification). Both are then measured,
unchanged, on the test alphabets: top-1 accuracy, the expected calibration error (ECE) before and after
the temperature, the coverage, the accuracy of the accepted answers, and how often a drawing whose
character is not among the candidates is turned away.

The queries are the page's task (:class:`siamese.evaluation.ranking.PageQueries`): drawings by drawers
2-20 against one image of each character by drawer 1, among the characters of the drawing's alphabet
and among every character of the split at once. The scores are the model's logits of *same*, never
P(same): the sigmoid rounds the best candidates' P(same) to 1.0 in float32.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
import torch

from siamese.data import ImageSet
from siamese.evaluation.ranking import PageQueries
from siamese.evaluation.scorers import Scorer, logit_scorer
from siamese.hub import Calibration
from siamese.models import SiameseNet

#: The page's two tasks: a drawing among its own alphabet's characters, or among all of them.
TASKS = {"within_alphabet": True, "all_alphabets": False}  # name -> within_alphabet
SPLITS = ("validation", "test")


@dataclass(frozen=True)
class QueryLogits:
    """Queries' logits of *same* against their candidates, and the column of each one's true character.

    Rows are padded with ``-inf`` to one width (alphabets differ in size), which a softmax turns into 0.
    ``answer`` is -1 for a query whose character is not among its candidates.
    """

    logits: np.ndarray  #: ``[N, C]`` float64
    answer: np.ndarray  #: ``[N]`` int64

    @classmethod
    def padded(cls, rows: Sequence[np.ndarray], answer: Sequence[int]) -> QueryLogits:
        """One query's logits per row, of any lengths."""
        width = max(len(row) for row in rows)
        logits = np.full((len(rows), width), -np.inf)
        for i, row in enumerate(rows):
            logits[i, : len(row)] = row
        return cls(logits, np.asarray(answer, dtype=np.int64))

    @classmethod
    def pooled(cls, parts: Sequence[QueryLogits]) -> QueryLogits:
        """The queries of all ``parts`` in one set (what one temperature is fitted to)."""
        return cls.padded([row[np.isfinite(row)] for part in parts for row in part.logits],
                          np.concatenate([part.answer for part in parts]))  # fmt: skip

    def __len__(self) -> int:
        return len(self.answer)

    def posterior(self, temperature: float) -> np.ndarray:
        """P(candidate | query) ``[N, C]`` as the page computes it, at ``temperature``."""
        return Calibration(temperature).posterior(torch.from_numpy(self.logits)).numpy()

    def absent(self) -> QueryLogits:
        """The same queries with their true character removed from the candidates."""
        logits = self.logits.copy()
        logits[np.arange(len(self)), self.answer] = -np.inf
        return QueryLogits(logits, np.full(len(self), -1, dtype=np.int64))

    def correct(self) -> np.ndarray:
        """Whether each query's top-1 candidate is its true character (a temperature never changes it)."""
        return self.logits.argmax(axis=1) == self.answer

    def candidates(self) -> float:
        """The mean number of candidates a query meets."""
        return float(np.isfinite(self.logits).sum(axis=1).mean())


def page_logits(scorer: Scorer, data: ImageSet, n_queries: int, seed: int) -> dict[str, QueryLogits]:
    """The logits of the page's seeded queries of ``data`` for each of :data:`TASKS` (the same queries in both)."""
    task = PageQueries.sample(data, n_queries, seed)
    result = {}
    for name, within_alphabet in TASKS.items():
        rows, answer = [], []
        for q, classes, scores in task.scores(scorer, within_alphabet, desc=f"calibration: {data.name} {name}"):
            rows.append(scores)
            answer.append(int(np.flatnonzero(classes == data.labels[q])[0]))
        result[name] = QueryLogits.padded(rows, answer)
    return result


def negative_log_likelihood(logits: QueryLogits, temperature: float) -> float:
    """The mean of ``-log P(true character | query)`` at ``temperature``."""
    log_posterior = torch.log_softmax(torch.from_numpy(logits.logits) / temperature, dim=-1)
    return float(-log_posterior[torch.arange(len(logits)), torch.from_numpy(logits.answer)].mean())


def fit_temperature(logits: QueryLogits, bounds: tuple[float, float] = (1e-2, 1e2), tolerance: float = 1e-6) -> float:
    """The temperature within ``bounds`` that minimises :func:`negative_log_likelihood`.

    The likelihood is convex in ``1 / T`` (a log-sum-exp less a linear term), so it has a single
    minimum along ``log T`` too, which a golden-section search brackets to ``tolerance`` (in ``log T``).
    """
    if len(logits) == 0 or (logits.answer < 0).any():
        raise ValueError("Fitting a temperature needs queries whose true character is among the candidates.")
    ratio = (np.sqrt(5.0) - 1.0) / 2.0
    low, high = np.log(bounds[0]), np.log(bounds[1])
    a, b = high - ratio * (high - low), low + ratio * (high - low)
    loss_a, loss_b = (negative_log_likelihood(logits, float(np.exp(x))) for x in (a, b))
    while high - low > tolerance:
        if loss_a <= loss_b:
            high, b, loss_b = b, a, loss_a
            a = high - ratio * (high - low)
            loss_a = negative_log_likelihood(logits, float(np.exp(a)))
        else:
            low, a, loss_a = a, b, loss_b
            b = low + ratio * (high - low)
            loss_b = negative_log_likelihood(logits, float(np.exp(b)))
    return float(np.exp((low + high) / 2.0))


def _bin_of(confidence: np.ndarray, bins: int) -> np.ndarray:
    """Equal-width bins of [0, 1]; a confidence of 1.0 belongs to the last bin."""
    if confidence.size == 0:
        raise ValueError("Calibration needs at least one prediction.")
    if confidence.min() < 0.0 or confidence.max() > 1.0:
        raise ValueError("Calibration needs confidences in [0, 1].")
    return np.minimum((confidence * bins).astype(np.int64), bins - 1)


def expected_calibration_error(confidence: np.ndarray, correct: np.ndarray, bins: int = 15) -> float:
    """ECE: the count-weighted mean gap between confidence and how often it is right, over equal-width bins.

    0 means that, e.g., answers given 70% are right 70% of the time. ``correct`` is what the confidence
    is about: whether the top-1 answer is right, or for a pair's P(same), whether it is the same class.
    """
    confidence, correct = np.asarray(confidence, dtype=np.float64), np.asarray(correct, dtype=np.float64)
    which = _bin_of(confidence, bins)
    gap = 0.0
    for b in np.unique(which):
        in_bin = which == b
        gap += in_bin.sum() * abs(correct[in_bin].mean() - confidence[in_bin].mean())
    return float(gap / confidence.size)


def reliability(confidence: np.ndarray, correct: np.ndarray, bins: int = 15) -> list[dict[str, Any]]:
    """A reliability diagram's data: each non-empty bin's range, count, mean confidence and accuracy."""
    confidence, correct = np.asarray(confidence, dtype=np.float64), np.asarray(correct, dtype=np.float64)
    which = _bin_of(confidence, bins)
    return [{"low": b / bins, "high": (b + 1) / bins, "count": int((which == b).sum()),
             "confidence": float(confidence[which == b].mean()), "accuracy": float(correct[which == b].mean())}
            for b in np.unique(which)]  # fmt: skip


def choose_threshold(confidence: np.ndarray, correct: np.ndarray, precision: float = 0.95) -> float:
    """The lowest threshold at which the answers it accepts (``confidence >= threshold``) are right at
    least ``precision`` of the time; 1.0 (only certainties) when no threshold gets there."""
    if not 0.0 < precision <= 1.0:
        raise ValueError(f"The precision target must be in (0, 1], got {precision}.")
    order = np.argsort(-np.asarray(confidence, dtype=np.float64), kind="stable")
    sorted_confidence = np.asarray(confidence, dtype=np.float64)[order]
    accepted_accuracy = np.cumsum(np.asarray(correct, dtype=np.float64)[order]) / np.arange(1, len(order) + 1)
    # A threshold accepts every answer of its confidence, so only the last of equal confidences counts.
    last_of_ties = np.append(sorted_confidence[1:] != sorted_confidence[:-1], True)
    feasible = np.flatnonzero(last_of_ties & (accepted_accuracy >= precision))
    return float(sorted_confidence[feasible[-1]]) if len(feasible) else 1.0


def figures(logits: QueryLogits, temperature: float, threshold: float, bins: int = 15) -> dict[str, Any]:
    """What a temperature and threshold give on some queries: accuracy, ECE before (T = 1) and after,
    coverage, accuracy of the accepted answers, the absent queries rejected, and the reliability data."""
    before, after = logits.posterior(1.0).max(axis=1), logits.posterior(temperature).max(axis=1)
    correct = logits.correct()
    accepted = after >= threshold
    absent = logits.absent().posterior(temperature).max(axis=1)
    return {
        "n_queries": len(logits),
        "candidates": logits.candidates(),
        "accuracy": float(correct.mean()),
        "ece_before": expected_calibration_error(before, correct, bins),
        "ece": expected_calibration_error(after, correct, bins),
        "coverage": float(accepted.mean()),
        "accepted_accuracy": float(correct[accepted].mean()) if accepted.any() else None,
        "absent_rejected": float((absent < threshold).mean()),
        "reliability": {"before": reliability(before, correct, bins), "after": reliability(after, correct, bins)},
    }  # fmt: skip


def evaluate_calibration(
    model: SiameseNet | Scorer,
    validation: ImageSet,
    test: ImageSet,
    n_queries: int = 1000,
    seed: int = 0,
    precision: float = 0.95,
    bins: int = 15,
) -> dict[str, Any]:
    """Fit the temperature and threshold on ``validation``'s page queries; report both splits.

    ``model`` is a Siamese model (its logits of *same* are scored) or a scorer whose scores are such
    logits. The fit pools the within-alphabet and all-alphabets queries of ``validation``
    (``n_queries`` of each split, the same drawings in both tasks). Returns ``temperature``,
    ``threshold``, ``per_split`` (``{split: {task: figures}}``, see :func:`figures`), ``accuracy``,
    ``ece`` and ``candidates`` of the test split's within-alphabet task (the page's default), and
    ``fitted_on`` and ``settings``.
    """
    scorer = logit_scorer(model) if isinstance(model, SiameseNet) else model
    logits = {split: page_logits(scorer, data, n_queries, seed) for split, data in zip(SPLITS, (validation, test))}
    fit = QueryLogits.pooled(list(logits["validation"].values()))
    temperature = fit_temperature(fit)
    threshold = choose_threshold(fit.posterior(temperature).max(axis=1), fit.correct(), precision)
    per_split = {split: {name: figures(task, temperature, threshold, bins) for name, task in tasks.items()}
                 for split, tasks in logits.items()}  # fmt: skip
    page = per_split["test"]["within_alphabet"]
    return {
        "temperature": temperature,
        "threshold": threshold,
        "precision_target": precision,
        "accuracy": page["accuracy"],
        "ece": page["ece"],
        "candidates": page["candidates"],
        "n_queries": page["n_queries"],
        "per_split": per_split,
        "fitted_on": {"data": validation.name, "tasks": list(TASKS), "n_queries": len(fit)},
        "settings": {"validation": validation.name, "test": test.name, "n_queries": n_queries, "seed": seed,
                     "precision": precision, "bins": bins},
    }  # fmt: skip


def fitted_calibration(result: dict[str, Any], command: str) -> Calibration:
    """The :class:`Calibration` that an :func:`evaluate_calibration` result fitted, with what it was fitted
    on, the command that fits it again and the figures (without the reliability data) as its details."""
    figures_only = {split: {name: {k: v for k, v in values.items() if k != "reliability"} for name, values in tasks.items()}
                    for split, tasks in result["per_split"].items()}  # fmt: skip
    details = {"fitted_on": result["fitted_on"], "precision_target": result["precision_target"], "command": command,
               "settings": result["settings"], "figures": figures_only}  # fmt: skip
    return Calibration(result["temperature"], result["threshold"], True, details)
