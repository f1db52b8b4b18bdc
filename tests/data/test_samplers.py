"""Seeded samplers: balanced pairs, Koch's within-alphabet trials, few-shot episodes."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from siamese.data import ClassBatchSampler, EpisodeSampler, ImageSet, PairSampler, TrialSampler


def _toy(classes: int = 6, per_class: int = 5, groups: int = 2) -> ImageSet:
    """A tiny labelled set; the samplers only look at labels, groups and drawers."""
    labels = np.repeat(np.arange(classes), per_class)
    image = Image.new("L", (4, 4))
    return ImageSet(
        images=[image] * len(labels),
        labels=labels,
        class_names=[f"c{c}" for c in range(classes)],
        groups=labels % groups,
        group_names=[f"g{g}" for g in range(groups)],
        drawers=np.tile(np.arange(1, per_class + 1), classes),
    )


# --- PairSampler ------------------------------------------------------------------------------------


@pytest.mark.parametrize("batch_size", [2, 31, 64])
def test_pairs_are_balanced_and_labelled_correctly(batch_size: int) -> None:
    data = _toy()
    sampler = PairSampler(data, batch_size=batch_size, seed=3)
    for step in range(20):
        left, right, same = sampler.batch(step)
        assert len(left) == len(right) == len(same) == batch_size
        assert same.sum() == batch_size // 2
        np.testing.assert_array_equal(same == 1, data.labels[left] == data.labels[right])
        assert not np.any((left == right) & (same == 1))  # a same-pair is two different images


def test_within_alphabet_negatives_stay_in_their_group(omniglot_background: ImageSet) -> None:
    data = omniglot_background
    sampler = PairSampler(data, batch_size=64, seed=1, within_alphabet=True)
    for step in range(10):
        left, right, same = sampler.batch(step)
        assert np.all(data.groups[left] == data.groups[right])
        np.testing.assert_array_equal(same == 1, data.labels[left] == data.labels[right])
    across = PairSampler(data, batch_size=64, seed=1)  # without it, different pairs cross alphabets
    left, right, same = across.batch(0)
    assert np.any(data.groups[left] != data.groups[right])


def test_pairs_are_deterministic_per_seed_and_step() -> None:
    data = _toy(classes=20, per_class=10)
    a, b = PairSampler(data, 32, seed=7), PairSampler(data, 32, seed=7)
    for x, y in zip(a.batch(5), b.batch(5)):
        np.testing.assert_array_equal(x, y)
    assert not np.array_equal(a.batch(5)[0], a.batch(6)[0])
    assert not np.array_equal(a.batch(5)[0], PairSampler(data, 32, seed=8).batch(5)[0])
    iterated = iter(a)
    next(iterated)
    np.testing.assert_array_equal(next(iterated)[0], a.batch(1)[0])  # iteration is batch(0), batch(1), ...


def test_pairs_need_two_usable_classes() -> None:
    with pytest.raises(ValueError, match="at least 2 classes"):
        PairSampler(_toy(classes=3, per_class=1), batch_size=4)
    with pytest.raises(ValueError, match="batch_size"):
        PairSampler(_toy(), batch_size=1)


# --- TrialSampler: Koch's protocol on the validation alphabets -------------------------------------


@pytest.fixture(scope="module")
def koch_trials(omniglot_validation: ImageSet) -> list:
    return list(TrialSampler(omniglot_validation, n_way=20, k_shot=1, trials_per_group=40, seed=0))


def test_koch_protocol_has_400_trials(omniglot_validation: ImageSet, koch_trials: list) -> None:
    assert len(TrialSampler(omniglot_validation)) == 400 == len(koch_trials)
    per_group = np.bincount([trial.group for trial in koch_trials], minlength=10)
    assert per_group.tolist() == [40] * 10


def test_koch_trials_are_within_one_alphabet(omniglot_validation: ImageSet, koch_trials: list) -> None:
    data = omniglot_validation
    for trial in koch_trials:
        assert trial.support.shape == (20, 1)
        support = trial.support[:, 0]
        assert len(set(data.labels[support])) == 20  # 20 distinct characters
        assert set(data.groups[support]) == {trial.group}  # all of one alphabet
        assert data.groups[trial.query] == trial.group
        assert data.labels[trial.query] == data.labels[support[trial.answer]]
        assert trial.query not in support
        assert len(set(data.drawers[support])) == 1  # one drawer drew the support
        assert data.drawers[trial.query] != data.drawers[support[0]]  # another drew the query


def test_trials_are_deterministic_and_vary(omniglot_validation: ImageSet, koch_trials: list) -> None:
    again = TrialSampler(omniglot_validation, seed=0)
    for t in (0, 57, 399):
        np.testing.assert_array_equal(again.trial(t).support, koch_trials[t].support)
        assert again.trial(t).query == koch_trials[t].query
    assert len({tuple(trial.support[:, 0]) for trial in koch_trials}) == 400
    assert len({trial.answer for trial in koch_trials}) > 10


def test_trials_respect_the_drawers(omniglot_validation: ImageSet) -> None:
    data = omniglot_validation
    sampler = TrialSampler(data, drawers=range(9, 21), trials_per_group=10, seed=2)
    used = set()
    for trial in sampler:
        used |= set(data.drawers[trial.support.ravel()]) | {int(data.drawers[trial.query])}
    assert used <= set(range(9, 21))
    assert len(used) > 3


def test_k_shot_and_across_group_trials(omniglot_validation: ImageSet) -> None:
    data = omniglot_validation
    sampler = TrialSampler(data, n_way=5, k_shot=3, trials_per_group=5, within_alphabet=False, seed=4)
    assert len(sampler) == 5
    for trial in sampler:
        assert trial.support.shape == (5, 3)
        assert all(len(set(data.labels[row])) == 1 for row in trial.support)
        assert data.labels[trial.query] == data.labels[trial.support[trial.answer, 0]]
        assert trial.query not in trial.support


def test_trials_on_data_without_aligned_drawers() -> None:
    data = _toy(classes=8, per_class=3, groups=1)
    data.drawers[:] = np.arange(len(data))  # a running index, as MNIST and image folders have
    for trial in TrialSampler(data, n_way=4, trials_per_group=10):
        assert trial.support.shape == (4, 1)
        assert data.labels[trial.query] == data.labels[trial.support[trial.answer, 0]]
        assert trial.query != trial.support[trial.answer, 0]


# --- EpisodeSampler ---------------------------------------------------------------------------------


def test_episodes_have_the_right_shape_and_disjoint_support_and_query(omniglot_background: ImageSet) -> None:
    data = omniglot_background
    sampler = EpisodeSampler(data, n_way=5, k_shot=2, n_query=3, seed=0)
    for step in range(20):
        episode = sampler.episode(step)
        assert episode.support.shape == (5, 2) and episode.query.shape == (5, 3)
        assert not set(episode.support.ravel()) & set(episode.query.ravel())
        for row in range(5):
            labels = data.labels[np.concatenate([episode.support[row], episode.query[row]])]
            assert len(set(labels)) == 1
        assert len(set(data.labels[episode.support[:, 0]])) == 5
    np.testing.assert_array_equal(sampler.episode(3).support, EpisodeSampler(data, 5, 2, 3, seed=0).episode(3).support)
    assert not np.array_equal(sampler.episode(3).support, sampler.episode(4).support)


def test_within_alphabet_episodes(omniglot_background: ImageSet) -> None:
    sampler = EpisodeSampler(omniglot_background, n_way=10, within_alphabet=True, seed=1)
    for step in range(10):
        episode = sampler.episode(step)
        assert len(set(omniglot_background.groups[episode.support.ravel()])) == 1


def test_partial_episodes_keep_the_small_alphabets_whole() -> None:
    data = _toy(classes=8, per_class=3, groups=3)  # alphabets of 3, 3 and 2 characters
    assert len(EpisodeSampler(data, n_way=3, n_query=2, within_alphabet=True, seed=0).pools) == 2  # the small one left out
    whole = EpisodeSampler(data, n_way=3, n_query=2, within_alphabet=True, seed=0, partial=True)
    sizes = set()
    for step in range(30):
        support = whole.episode(step).support.ravel()
        assert len(set(data.groups[support])) == 1
        alphabet = data.groups[support[0]]
        assert set(data.labels[support]) == set(data.labels[data.groups == alphabet])  # all its characters
        sizes.add(len(support))
    assert sizes == {2, 3}


def test_episodes_need_enough_classes() -> None:
    with pytest.raises(ValueError, match="Not enough classes"):
        EpisodeSampler(_toy(classes=3), n_way=5)


# --- ClassBatchSampler ---------------------------------------------------------------------------


def test_class_batches_hold_per_class_images_of_distinct_classes_with_their_labels() -> None:
    data = _toy(classes=8, per_class=5, groups=2)
    sampler = ClassBatchSampler(data, n_classes=6, per_class=2, seed=1)
    for step in range(10):
        index, labels = sampler.batch(step)
        assert len(index) == len(labels) == 12
        np.testing.assert_array_equal(data.labels[index], labels)
        assert len(set(labels.tolist())) == 6 and len(set(index.tolist())) == 12
    np.testing.assert_array_equal(sampler.batch(3)[0], ClassBatchSampler(data, 6, 2, seed=1).batch(3)[0])  # seeded by (seed, step)
    assert not np.array_equal(sampler.batch(3)[0], sampler.batch(4)[0])


def test_class_batches_within_alphabets_fill_from_one_group_before_the_next() -> None:
    data = _toy(classes=12, per_class=3, groups=3)  # 4 classes per group
    sampler = ClassBatchSampler(data, n_classes=4, per_class=2, seed=0, within_alphabet=True)
    for step in range(10):
        _, labels = sampler.batch(step)
        assert len(set(data.groups[np.isin(data.labels, labels)].tolist())) == 1


def test_class_batches_need_enough_classes() -> None:
    with pytest.raises(ValueError, match="need 10 classes"):
        ClassBatchSampler(_toy(classes=6), n_classes=10, per_class=2)
