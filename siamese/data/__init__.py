"""Data sets, the place they are prepared, and seeded samplers."""

from siamese.data.base import DataError, ImageSet, to_tensor
from siamese.data.omniglot import TEST_ALPHABETS, VALIDATION_ALPHABETS, OneShotRun, load_lake_runs, load_omniglot
from siamese.data.prepare import dataset_dir, prepare
from siamese.data.samplers import Episode, EpisodeSampler, PairSampler, Trial, TrialSampler

__all__ = [
    "DataError",
    "Episode",
    "EpisodeSampler",
    "ImageSet",
    "OneShotRun",
    "PairSampler",
    "TEST_ALPHABETS",
    "Trial",
    "TrialSampler",
    "VALIDATION_ALPHABETS",
    "dataset_dir",
    "load_lake_runs",
    "load_omniglot",
    "prepare",
    "to_tensor",
]
