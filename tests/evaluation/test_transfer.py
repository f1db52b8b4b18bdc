"""Koch's 10-way one-shot MNIST: an oracle scores 100%, chance scores about 10%."""

from __future__ import annotations

import numpy as np
import pytest

from siamese.data import ImageSet, TrialSampler
from siamese.data.mnist import load_mnist
from siamese.evaluation import evaluate_mnist_transfer


@pytest.fixture(scope="module")
def mnist_test() -> ImageSet:
    return load_mnist("test")


def test_oracle_is_perfect(mnist_test):
    label_of = {id(image): int(label) for image, label in zip(mnist_test.images, mnist_test.labels)}

    def oracle(queries, candidates):
        return np.array([[float(label_of[id(q)] == label_of[id(c)]) for c in candidates] for q in queries])

    result = evaluate_mnist_transfer(oracle, n_trials=400, data=mnist_test)
    assert result["accuracy"] == 1.0 and result["n_trials"] == 400 and result["n_way"] == 10
    assert result["paper"] == {"siamese": 0.703, "pixel_1nn": 0.265}


def test_random_scorer_is_at_chance(mnist_test):
    rng = np.random.default_rng(0)
    result = evaluate_mnist_transfer(lambda q, c: rng.random((len(q), len(c))), n_trials=400, data=mnist_test)
    assert 0.04 <= result["accuracy"] <= 0.18


def test_trials_show_every_digit_once_and_a_new_query(mnist_test):
    """The transfer trials are TrialSampler's 10-way one-shot trials over the ten digits."""
    sampler = TrialSampler(mnist_test, n_way=10, trials_per_group=50, seed=0, within_alphabet=False)
    for trial in sampler:
        support = trial.support[:, 0]
        assert sorted(mnist_test.labels[support]) == list(range(10))
        assert mnist_test.labels[trial.query] == mnist_test.labels[support[trial.answer]]
        assert trial.query != support[trial.answer]
    first, again = sampler.trial(3), sampler.trial(3)
    assert (first.support == again.support).all() and (first.query, first.answer) == (again.query, again.answer)


def test_pixel_baseline_is_reported_when_asked(mnist_test):
    def constant(queries, candidates):
        return np.zeros((len(queries), len(candidates)))

    result = evaluate_mnist_transfer(constant, n_trials=30, data=mnist_test, baseline=True)
    assert 0.0 <= result["baseline_accuracy"] <= 1.0
    assert "baseline_accuracy" not in evaluate_mnist_transfer(constant, n_trials=5, data=mnist_test)
