"""One-shot evaluation: an oracle must score 100%, chance must score chance, models must plug in."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import siamese
from siamese.data import ImageSet, OneShotRun, load_lake_runs
from siamese.evaluation.plan import FRESH_DRAWERS
from siamese.evaluation import CachedScorer, choose, evaluate_lake_runs, evaluate_oneshot, evaluate_ranking, evaluate_rejection, model_scorer


@pytest.fixture(scope="module")
def runs() -> list[OneShotRun]:
    return load_lake_runs()


def oracle(class_of: dict[int, object]):
    """Knows every image's class (by identity): 1 for the same class, 0 otherwise."""

    def score(queries, candidates) -> np.ndarray:
        return np.array([[float(class_of[id(q)] == class_of[id(c)]) for c in candidates] for q in queries])

    return score


def run_oracle(runs: list[OneShotRun]):
    class_of: dict[int, object] = {}
    for run in runs:
        class_of.update({id(image): (run.name, j) for j, image in enumerate(run.training)})
        class_of.update({id(image): (run.name, int(a)) for image, a in zip(run.test, run.answers)})
    return oracle(class_of)


def set_oracle(data: ImageSet):
    return oracle({id(image): int(label) for image, label in zip(data.images, data.labels)})


def random_scorer(seed: int = 0):
    rng = np.random.default_rng(seed)
    return lambda queries, candidates: rng.random((len(queries), len(candidates)))


def test_oracle_is_perfect_on_lake_runs(runs):
    result = evaluate_lake_runs(run_oracle(runs), runs)
    assert result["accuracy"] == 1.0
    assert result["n_trials"] == 400
    assert list(result["per_run"]) == [f"run{i:02d}" for i in range(1, 21)]
    assert all(acc == 1.0 for acc in result["per_run"].values())


def test_random_scorer_is_at_chance_on_lake_runs(runs):
    result = evaluate_lake_runs(random_scorer(0), runs)
    assert 0.01 <= result["accuracy"] <= 0.12
    assert result["n_trials"] == 400


def test_an_anti_oracle_is_always_wrong(runs):
    wrong = run_oracle(runs)
    result = evaluate_lake_runs(lambda q, c: -wrong(q, c), runs)
    assert result["accuracy"] == 0.0


def test_lake_trials_are_scored_one_query_at_a_time(runs):
    shapes = []

    def recording(queries, candidates):
        shapes.append((len(queries), len(candidates)))
        return np.zeros((len(queries), len(candidates)))

    evaluate_lake_runs(recording, runs[:2])
    assert shapes == [(1, 20)] * 40


def test_oracle_is_perfect_on_sampled_validation_trials(omniglot_validation):
    result = evaluate_oneshot(set_oracle(omniglot_validation), omniglot_validation)
    assert result["accuracy"] == 1.0
    assert result["n_trials"] == 400
    assert sorted(result["per_group"]) == sorted(omniglot_validation.group_names)
    assert result["settings"]["n_way"] == 20 and result["settings"]["within_alphabet"] is True


def test_k_shot_averages_over_the_support_images(omniglot_validation):
    data = omniglot_validation
    result = evaluate_oneshot(set_oracle(data), data, n_way=5, k_shot=3, trials_per_group=4)
    assert result["accuracy"] == 1.0 and result["n_trials"] == 40
    # One query against 2 classes x 2 shots: class 1 wins on the mean although class 0 has the top score.
    assert choose(lambda q, c: np.array([[0.9, 0.0, 0.5, 0.5]]), "q", ["a", "b", "c", "d"], k_shot=2) == 1


def test_random_scorer_is_at_chance_on_sampled_trials(omniglot_validation):
    result = evaluate_oneshot(random_scorer(1), omniglot_validation)
    assert 0.01 <= result["accuracy"] <= 0.12


def test_sampled_trials_keep_to_the_allowed_drawers(omniglot_validation):
    drawer_of = {id(image): int(d) for image, d in zip(omniglot_validation.images, omniglot_validation.drawers)}
    seen: set[int] = set()

    def recording(queries, candidates):
        seen.update(drawer_of[id(image)] for image in [*queries, *candidates])
        return np.zeros((len(queries), len(candidates)))

    evaluate_oneshot(recording, omniglot_validation, n_way=5, trials_per_group=5, drawers=FRESH_DRAWERS)
    assert seen and seen <= set(range(9, 21))
    assert FRESH_DRAWERS == tuple(range(9, 21))


def test_untrained_compact_net_runs_through_the_adapter(omniglot_validation):
    torch.manual_seed(0)
    model = siamese.build_model("compact")
    result = evaluate_oneshot(model, omniglot_validation, n_way=5, trials_per_group=3)
    assert 0.0 <= result["accuracy"] <= 1.0 and result["n_trials"] == 30


def test_model_scorer_matches_compare_and_embeds_each_image_once(runs):
    torch.manual_seed(0)
    model = siamese.build_model("compact")
    scorer = model_scorer(model)
    embedded = []
    featurize = scorer.featurize
    scorer.featurize = lambda images: (embedded.append(len(images)), featurize(images))[1]
    run = runs[0]
    first = scorer(run.test[:1], run.training)
    again = scorer(run.test[:2], run.training)
    assert embedded == [1, 20, 1]  # the 20 candidates once, then only the new query
    expected = model.compare(run.test[:2], run.training)
    torch.testing.assert_close(first, expected[:1])
    torch.testing.assert_close(again, expected)
    assert isinstance(scorer, CachedScorer)


def test_sampled_trials_report_the_binomial_standard_error(omniglot_validation):
    result = evaluate_oneshot(random_scorer(1), omniglot_validation, n_way=20, trials_per_group=10, seed=0)
    p, n = result["accuracy"], result["n_trials"]
    assert result["standard_error"] == pytest.approx((p * (1 - p) / n) ** 0.5)


def test_ranking_oracle_is_perfect_and_chance_is_about_one_over_the_alphabet(omniglot_validation):
    perfect = evaluate_ranking(set_oracle(omniglot_validation), omniglot_validation, n_queries=60, seed=2)
    assert perfect["accuracy"] == perfect["top_k_accuracy"] == 1.0 and perfect["n_queries"] == 60
    across = evaluate_ranking(random_scorer(0), omniglot_validation, n_queries=200, within_alphabet=False, top_k=5)
    assert across["candidates"] == omniglot_validation.num_classes
    assert across["accuracy"] < 0.05 and across["top_k_accuracy"] < 0.1
    within = evaluate_ranking(random_scorer(0), omniglot_validation, n_queries=200, top_k=5)
    assert within["candidates"] < omniglot_validation.num_classes
    expected_top5 = np.mean([min(5 / n, 1) for n in [within["candidates"]]])
    assert abs(within["top_k_accuracy"] - expected_top5) < 0.1


def test_ranking_queries_never_come_from_the_gallery_drawer(omniglot_validation):
    seen = []

    def spy(queries, candidates):
        seen.extend(id(q) for q in queries)
        return np.zeros((len(queries), len(candidates)))

    evaluate_ranking(spy, omniglot_validation, n_queries=50, seed=0)
    drawer_of = {id(image): d for image, d in zip(omniglot_validation.images, omniglot_validation.drawers)}
    assert seen and all(drawer_of[q] != 1 for q in seen)


def test_rejection_with_an_oracle_accepts_every_present_query_and_rejects_every_absent_one(omniglot_validation):
    result = evaluate_rejection(set_oracle(omniglot_validation), omniglot_validation, trials_per_group=5, coverage=0.9)
    assert result["threshold"] == 1.0 and result["coverage"] == 1.0 and result["accuracy"] == 1.0
    assert result["absent_rejected"] == 1.0


def test_the_interval_over_alphabets_widens_when_alphabets_differ() -> None:
    from siamese.evaluation.oneshot import group_bootstrap_interval

    alike = [[True] * 90 + [False] * 10 for _ in range(10)]  # every alphabet at 90%
    unlike = [[True] * (50 + 10 * (g % 5)) + [False] * (50 - 10 * (g % 5)) for g in range(10)]  # 50-90%, mean 70%
    low, high = group_bootstrap_interval(alike)
    assert low < 0.9 < high and high - low < 0.06  # about +-2 binomial standard errors over 1,000 trials
    low, high = group_bootstrap_interval(unlike)
    assert low < 0.7 < high and high - low > 0.1  # the spread between alphabets dominates
    assert group_bootstrap_interval(unlike) == [low, high]  # seeded: the same figures each time


def test_ranking_against_prototypes_leaves_the_query_drawer_out_and_one_shot_is_the_gallery(omniglot_validation):
    import siamese

    model = siamese.load_model()
    data = omniglot_validation.subset(omniglot_validation.groups < 2)  # two alphabets: quick
    one = evaluate_ranking(model, data, n_queries=80, seed=3)
    from siamese.evaluation.ranking import PageQueries, _prototype_scores

    task = PageQueries.sample(data, 80, 3)
    ranks = []
    for q, classes, scores in _prototype_scores(model, task, 1, within_alphabet=True):
        ranks.append(classes[np.argmax(scores)] == data.labels[q])
    assert np.mean(ranks) == pytest.approx(one["accuracy"])  # one drawing: the gallery drawer's, as the one-shot path
    few = evaluate_ranking(model, data, n_queries=80, seed=3, shots=19)
    assert few["settings"]["shots"] == 19 and few["accuracy"] >= one["accuracy"]

    seen = []
    original = siamese.evaluation.ranking.prototypes

    def spy(features, class_of, classes):
        seen.append(len(features))
        return original(features, class_of, classes)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(siamese.evaluation.ranking, "prototypes", spy)
        evaluate_ranking(model, data, n_queries=80, seed=3, shots=19)
    assert seen and all(n == 19 * data.num_classes for n in seen)  # 19 of 20 drawers: never the query's own
    with pytest.raises(ValueError, match="needs a model"):
        evaluate_ranking(random_scorer(0), data, n_queries=10, shots=5)
