"""Seeded samplers: same/different pairs, N-way k-shot trials and episodes.

Every sampler is *stateless*: batch ``step`` is drawn from a generator seeded with ``(seed, step)``.
Resuming at step ``s`` therefore continues the exact sequence, and the sampler's position is just
the step number that the training state already stores.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator, Sequence

import numpy as np

from siamese.data.base import ImageSet


def _rng(seed: int, step: int) -> np.random.Generator:
    return np.random.default_rng([seed, step])


class _ClassIndex:
    """Image indices per class and classes per group, built once."""

    def __init__(self, data: ImageSet, min_images: int = 1) -> None:
        order = np.argsort(data.labels, kind="stable")
        bounds = np.searchsorted(data.labels[order], np.arange(data.num_classes + 1))
        self.images = [order[bounds[c] : bounds[c + 1]] for c in range(data.num_classes)]
        usable = [c for c in range(data.num_classes) if len(self.images[c]) >= min_images]
        self.classes = np.array(usable, dtype=np.int64)
        class_group = np.zeros(data.num_classes, dtype=np.int64)
        class_group[data.labels] = data.groups
        self.class_group = class_group
        self.group_classes = [self.classes[class_group[self.classes] == g] for g in range(len(data.group_names))]


class PairSampler:
    """Balanced batches of same / different pairs (label 1 = same).

    With ``within_alphabet`` the different pairs come from the same group (alphabet), which makes
    them harder, as within-alphabet one-shot trials are.
    """

    def __init__(self, data: ImageSet, batch_size: int, seed: int = 0, within_alphabet: bool = False) -> None:
        if batch_size < 2:
            raise ValueError("batch_size must be at least 2")
        self.index = _ClassIndex(data, min_images=2)
        if len(self.index.classes) < 2:
            raise ValueError(f"{data.name or 'the data'} needs at least 2 classes with 2 or more images for pairs")
        self.batch_size, self.seed, self.within_alphabet = batch_size, seed, within_alphabet

    def batch(self, step: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Indices of the left and right images and the same-labels of batch ``step``."""
        rng = _rng(self.seed, step)
        n_same = self.batch_size // 2
        left, right = [], []
        for i in range(self.batch_size):
            a = int(rng.choice(self.index.classes))
            if i < n_same:
                x, y = rng.choice(self.index.images[a], size=2, replace=False)
            else:
                pool = self.index.group_classes[self.index.class_group[a]] if self.within_alphabet else self.index.classes
                if len(pool) < 2:
                    pool = self.index.classes
                b = a
                while b == a:
                    b = int(rng.choice(pool))
                x, y = rng.choice(self.index.images[a]), rng.choice(self.index.images[b])
            left.append(x)
            right.append(y)
        same = np.zeros(self.batch_size, dtype=np.float32)
        same[:n_same] = 1.0
        perm = rng.permutation(self.batch_size)
        return np.array(left)[perm], np.array(right)[perm], same[perm]

    def __iter__(self) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        step = 0
        while True:
            yield self.batch(step)
            step += 1


@dataclass(frozen=True)
class Trial:
    """One N-way k-shot trial: ``support`` is ``[n_way, k_shot]`` image indices, one row per
    candidate class; the answer is the row of the query's class."""

    support: np.ndarray
    query: int
    answer: int
    group: int


class TrialSampler:
    """N-way k-shot one-shot trials, seeded.

    Koch's protocol (the default of ``siamese.evaluate oneshot``): for each group (alphabet) and
    each trial, pick ``n_way`` characters of that alphabet and two drawers; the support is the
    first drawer's images, the query the second drawer's image of one of them.
    ``within_alphabet=False`` draws the classes from the whole set (across alphabets, easier).
    ``drawers`` limits which drawers may be used.
    """

    def __init__(
        self,
        data: ImageSet,
        n_way: int = 20,
        k_shot: int = 1,
        trials_per_group: int = 40,
        seed: int = 0,
        within_alphabet: bool = True,
        drawers: Sequence[int] | None = None,
    ) -> None:
        self.data, self.n_way, self.k_shot, self.seed = data, n_way, k_shot, seed
        self.trials_per_group, self.within_alphabet = trials_per_group, within_alphabet
        allowed = np.isin(data.drawers, np.asarray(drawers)) if drawers is not None else np.ones(len(data), bool)
        self.allowed = allowed
        self.index = _ClassIndex(data, min_images=k_shot + 1)
        pools = self.index.group_classes if within_alphabet else [self.index.classes]
        pools = [np.array([c for c in pool if len(self._images(c)) > k_shot], dtype=np.int64) for pool in pools]
        self.pools = [p for p in pools if len(p) >= n_way]
        if not self.pools:
            raise ValueError(f"No {'group' if within_alphabet else 'set'} has {n_way} classes with {k_shot + 1}+ images for {n_way}-way trials.")

    def __len__(self) -> int:
        return len(self.pools) * self.trials_per_group

    def __iter__(self) -> Iterator[Trial]:
        for t in range(len(self)):
            yield self.trial(t)

    def trial(self, t: int) -> Trial:
        rng = _rng(self.seed, t)
        pool = self.pools[t // self.trials_per_group]
        for _ in range(1000):
            classes = rng.choice(pool, size=min(self.n_way, len(pool)), replace=False)
            drawer_sets = [set(self.data.drawers[self._images(c)]) for c in classes]
            common = sorted(set.intersection(*drawer_sets))
            if len(common) >= self.k_shot + 1:  # the same drawers for every class, as in Koch's protocol
                chosen = rng.choice(common, size=self.k_shot + 1, replace=False)
                support = np.array([[self._by_drawer(c, d) for d in chosen[: self.k_shot]] for c in classes])
                answer = int(rng.integers(self.n_way))
                query = self._by_drawer(classes[answer], chosen[-1])
                return Trial(support=support, query=query, answer=answer, group=int(self.index.class_group[classes[0]]))
            # Fall back to any images of each class when drawers do not line up (generic data sets).
            images = [rng.choice(self._images(c), size=self.k_shot + 1, replace=False) for c in classes if len(self._images(c)) > self.k_shot]
            if len(images) == self.n_way:
                answer = int(rng.integers(self.n_way))
                support = np.array([row[: self.k_shot] for row in images])
                return Trial(support=support, query=int(images[answer][-1]), answer=answer, group=int(self.index.class_group[classes[0]]))
        raise ValueError("Could not draw a trial: too few images per class among the allowed drawers.")

    def _images(self, c: int) -> np.ndarray:
        images = self.index.images[c]
        return images[self.allowed[images]]

    def _by_drawer(self, c: int, drawer: int) -> int:
        images = self._images(c)
        return int(images[self.data.drawers[images] == drawer][0])


class ClassBatchSampler:
    """Seeded batches of ``n_classes`` classes with ``per_class`` images each, labelled by class.

    For classification objectives over every training class (:func:`~siamese.losses.cosface_objective`):
    the labels index ``data.class_names``, and ``per_class >= 2`` puts same pairs in every batch, which
    the head's calibration needs. With ``within_alphabet`` the classes come a whole group (alphabet) at a
    time, so most in-batch different pairs are of the hard, within-alphabet kind.
    """

    def __init__(self, data: ImageSet, n_classes: int, per_class: int = 2, seed: int = 0, within_alphabet: bool = False) -> None:
        if n_classes < 2 or per_class < 1:
            raise ValueError("a class batch needs at least 2 classes and 1 image per class")
        self.index = _ClassIndex(data, min_images=per_class)
        if len(self.index.classes) < n_classes:
            raise ValueError(f"Class batches of {n_classes} need {n_classes} classes with {per_class}+ images; "
                             f"{data.name or 'the data'} has {len(self.index.classes)}.")  # fmt: skip
        self.n_classes, self.per_class, self.seed, self.within_alphabet = n_classes, per_class, seed, within_alphabet
        self.groups = [g for g in self.index.group_classes if len(g)] if within_alphabet else [self.index.classes]

    def batch(self, step: int) -> tuple[np.ndarray, np.ndarray]:
        """Image indices and class labels of batch ``step``, class-major (``per_class`` images of each class)."""
        rng = _rng(self.seed, step)
        classes: list[int] = []
        for g in rng.permutation(len(self.groups)):  # whole groups, in a random order, until the batch is full
            classes += [int(c) for c in rng.permutation(self.groups[g])[: self.n_classes - len(classes)]]
            if len(classes) == self.n_classes:
                break
        index = np.concatenate([rng.choice(self.index.images[c], size=self.per_class, replace=False) for c in classes])
        return index, np.repeat(np.array(classes, dtype=np.int64), self.per_class)


@dataclass(frozen=True)
class Episode:
    """A few-shot episode: ``support`` ``[n_way, k_shot]`` and ``query`` ``[n_way, n_query]`` indices."""

    support: np.ndarray
    query: np.ndarray


class EpisodeSampler:
    """Seeded N-way episodes with k support and q query images per class (prototypical training).

    Within an alphabet, alphabets with fewer than N characters are left out, or with ``partial``
    give episodes of all their characters (so 60-way episodes are whole alphabets of 14 to 55)."""

    def __init__(
        self, data: ImageSet, n_way: int, k_shot: int = 1, n_query: int = 1, seed: int = 0, within_alphabet: bool = False,
        partial: bool = False,
    ) -> None:  # fmt: skip
        self.index = _ClassIndex(data, min_images=k_shot + n_query)
        self.n_way, self.k_shot, self.n_query, self.seed, self.within_alphabet = n_way, k_shot, n_query, seed, within_alphabet
        pools = self.index.group_classes if within_alphabet else [self.index.classes]
        self.pools = [p for p in pools if len(p) >= (2 if partial else n_way)]
        if not self.pools:
            raise ValueError(f"Not enough classes with {k_shot + n_query}+ images for {n_way}-way episodes.")

    def episode(self, step: int) -> Episode:
        rng = _rng(self.seed, step)
        pool = self.pools[int(rng.integers(len(self.pools)))]
        classes = rng.choice(pool, size=min(self.n_way, len(pool)), replace=False)
        picks = np.stack([rng.choice(self.index.images[c], size=self.k_shot + self.n_query, replace=False) for c in classes])
        return Episode(support=picks[:, : self.k_shot], query=picks[:, self.k_shot :])
