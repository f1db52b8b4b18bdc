"""N-way one-shot classification: Lake's 20 official runs and freshly sampled trials.

A trial shows one query and ``n_way`` candidate classes; the scorer is right when the class it
scores highest is the query's. Each trial is one scorer call (no joint assignment across the
test items of a run), exactly as in Lake et al. (2015) and Koch et al. (2015).
"""

from __future__ import annotations

from collections import defaultdict
from typing import Sequence

import numpy as np

from siamese.data import ImageSet, OneShotRun, TrialSampler, load_lake_runs
from siamese.evaluation.scorers import Scorer, as_scorer, prefetch, score_matrix
from siamese.models import SiameseNet
from siamese.models.base import ImageLike
from siamese.utils import progress_bar


def choose(scorer: Scorer, query: ImageLike, candidates: Sequence[ImageLike], k_shot: int = 1) -> int:
    """The class a scorer picks for one query: argmax of its mean score over each class's shots.

    ``candidates`` are class-major (``k_shot`` images of class 0, then class 1, ...). Ties go to the
    first class, so a constant scorer is right only by chance.
    """
    scores = score_matrix(scorer, [query], candidates)[0]
    if len(scores) % k_shot:
        raise ValueError(f"{len(scores)} candidates cannot be split into classes of {k_shot} shots.")
    return int(scores.reshape(-1, k_shot).mean(axis=1).argmax())


def evaluate_lake_runs(scorer: SiameseNet | Scorer, runs: list[OneShotRun] | None = None) -> dict:
    """Accuracy on Lake's 20 official within-alphabet 20-way one-shot runs (400 trials).

    Returns ``accuracy``, ``n_trials``, ``per_run`` (run name -> accuracy) and ``per_group``
    (alphabet -> accuracy over its two runs).
    """
    scorer = as_scorer(scorer)
    runs = load_lake_runs() if runs is None else runs
    prefetch(scorer, [image for run in runs for image in (*run.training, *run.test)])
    per_run: dict[str, float] = {}
    n_correct = n_trials = 0
    for run in progress_bar(runs, desc="Lake runs", leave=False):
        correct = [choose(scorer, item, run.training) == int(answer) for item, answer in zip(run.test, run.answers)]
        per_run[run.name] = float(np.mean(correct))
        n_correct, n_trials = n_correct + sum(correct), n_trials + len(correct)
    per_group = {alphabet: float(np.mean([per_run[run.name] for run in runs if run.alphabet == alphabet]))
                 for alphabet in sorted({run.alphabet for run in runs})}  # fmt: skip
    return {"accuracy": float(n_correct / max(n_trials, 1)), "n_trials": n_trials, "per_run": per_run, "per_group": per_group}


def evaluate_oneshot(
    scorer: SiameseNet | Scorer,
    data: ImageSet,
    n_way: int = 20,
    k_shot: int = 1,
    trials_per_group: int = 40,
    seed: int = 0,
    within_alphabet: bool = True,
    drawers: Sequence[int] | None = None,
) -> dict:
    """Accuracy on seeded N-way k-shot trials drawn by :class:`~siamese.data.TrialSampler`.

    With k shots the score of a class is the mean of the query's scores against its k images.
    Returns ``accuracy``, its ``standard_error``, ``n_trials``, ``per_group`` (group name -> accuracy, by the query's
    group) and the ``settings`` that reproduce the number.
    """
    scorer = as_scorer(scorer)
    sampler = TrialSampler(data, n_way, k_shot, trials_per_group, seed, within_alphabet, drawers)
    trials = list(sampler)
    needed = np.unique([i for trial in trials for i in (trial.query, *trial.support.reshape(-1))])
    prefetch(scorer, [data.images[i] for i in needed])
    hits: dict[str, list[bool]] = defaultdict(list)
    for trial in progress_bar(trials, desc=f"{n_way}-way {k_shot}-shot", leave=False):
        candidates = [data.images[i] for i in trial.support.reshape(-1)]
        picked = choose(scorer, data.images[trial.query], candidates, k_shot)
        hits[data.group_names[data.groups[trial.query]]].append(picked == trial.answer)
    every = [hit for group in hits.values() for hit in group]
    accuracy = float(np.mean(every))
    return {
        "accuracy": accuracy,
        "standard_error": float(np.sqrt(accuracy * (1 - accuracy) / len(every))),  # binomial, over trials
        "group_interval": group_bootstrap_interval(list(hits.values())),
        "n_trials": len(every),
        "per_group": {name: float(np.mean(group)) for name, group in sorted(hits.items())},
        "settings": {
            "data": data.name,
            "n_way": n_way,
            "k_shot": k_shot,
            "trials_per_group": trials_per_group,
            "seed": seed,
            "within_alphabet": within_alphabet,
            "drawers": None if drawers is None else [int(d) for d in drawers],
        },
    }


def group_bootstrap_interval(groups: Sequence[Sequence[bool]], level: float = 0.95, draws: int = 2000, seed: int = 0) -> list[float]:
    """A ``level`` interval for the accuracy over trials of these groups (alphabets), resampling the
    groups and then the trials within each: it counts how much the figure would move on other
    alphabets, which the binomial standard error over trials does not."""
    rng = np.random.default_rng(seed)
    hits = [np.asarray(group, dtype=float) for group in groups if len(group)]
    if not hits:
        return [float("nan"), float("nan")]
    means = np.empty(draws)
    for d in range(draws):
        picked = rng.integers(len(hits), size=len(hits))
        means[d] = np.mean(np.concatenate([rng.choice(hits[g], size=len(hits[g])) for g in picked]))
    tail = (1 - level) / 2
    return [float(np.quantile(means, tail)), float(np.quantile(means, 1 - tail))]
