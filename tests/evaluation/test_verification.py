"""ROC AUC and calibration against hand-computed values, and verification end to end."""

from __future__ import annotations

import numpy as np
import pytest

from siamese.evaluation import evaluate_verification, expected_calibration_error, roc_auc


def test_roc_auc_perfect_reversed_and_tied():
    labels = np.array([0, 0, 1, 1])
    assert roc_auc(np.array([0.1, 0.2, 0.8, 0.9]), labels) == 1.0
    assert roc_auc(np.array([0.9, 0.8, 0.2, 0.1]), labels) == 0.0
    assert roc_auc(np.full(4, 0.3), labels) == 0.5


def test_roc_auc_small_cases_by_hand():
    # Positives 0.35, 0.8 vs negatives 0.1, 0.4: 0.35 beats 0.1 only, 0.8 beats both -> 3 of 4 pairs.
    assert roc_auc(np.array([0.1, 0.4, 0.35, 0.8]), np.array([0, 0, 1, 1])) == pytest.approx(0.75)
    # Positives 0.5, 0.9 vs negatives 0.5, 0.2: the 0.5-0.5 tie counts half -> 3.5 of 4.
    assert roc_auc(np.array([0.5, 0.5, 0.2, 0.9]), np.array([1, 0, 0, 1])) == pytest.approx(0.875)


def test_roc_auc_equals_pairwise_counting_with_ties():
    rng = np.random.default_rng(0)
    scores = rng.integers(0, 5, size=60).astype(float)  # many ties
    labels = rng.integers(0, 2, size=60)
    pos, neg = scores[labels == 1], scores[labels == 0]
    brute = ((pos[:, None] > neg[None]).sum() + 0.5 * (pos[:, None] == neg[None]).sum()) / (len(pos) * len(neg))
    assert roc_auc(scores, labels) == pytest.approx(brute)


def test_roc_auc_needs_both_labels():
    with pytest.raises(ValueError):
        roc_auc(np.array([0.2, 0.3]), np.array([1, 1]))


def test_ece_is_zero_when_each_bin_is_calibrated():
    probs = np.array([0.25] * 4 + [0.75] * 4)
    labels = np.array([1, 0, 0, 0] + [1, 1, 1, 0])
    assert expected_calibration_error(probs, labels) == pytest.approx(0.0)


def test_ece_of_known_miscalibration():
    # Confident 0.9 on pairs that are never the same: a gap of 0.9.
    assert expected_calibration_error(np.full(10, 0.9), np.zeros(10)) == pytest.approx(0.9)
    # Half the pairs at 0.8 with 50% same (gap 0.3), half at 0.1 with 10% same (gap 0): 0.15.
    probs = np.array([0.8] * 10 + [0.1] * 10)
    labels = np.array([1] * 5 + [0] * 5 + [1] + [0] * 9)
    assert expected_calibration_error(probs, labels) == pytest.approx(0.15)
    # P = 1.0 belongs to the top bin, not past it.
    assert expected_calibration_error(np.array([1.0, 1.0]), np.array([1, 0])) == pytest.approx(0.5)


def test_oracle_verifies_perfectly(omniglot_validation):
    label_of = {id(image): int(label) for image, label in zip(omniglot_validation.images, omniglot_validation.labels)}

    def oracle(queries, candidates):
        return np.array([[float(label_of[id(q)] == label_of[id(c)]) for c in candidates] for q in queries])

    result = evaluate_verification(oracle, omniglot_validation, n_pairs=200, seed=3)
    assert result["accuracy"] == 1.0 and result["roc_auc"] == 1.0 and result["ece"] == 0.0
    assert result["n_pairs"] == 200


def test_non_probability_scores_get_auc_only(omniglot_validation):
    rng = np.random.default_rng(0)
    result = evaluate_verification(lambda q, c: -5 * rng.random((len(q), len(c))), omniglot_validation, n_pairs=400)
    assert result["accuracy"] is None and result["ece"] is None
    assert 0.4 <= result["roc_auc"] <= 0.6
