"""Data sets, the place they are prepared, and seeded samplers."""

from siamese.data.att_faces import load_att_faces
from siamese.data.base import DataError, ImageSet, preprocess_dataset
from siamese.data.folder import check_trainable, load_image_folder
from siamese.data.mnist import load_mnist
from siamese.data.omniglot import TEST_ALPHABETS, VALIDATION_ALPHABETS, OneShotRun, load_lake_runs, load_omniglot
from siamese.data.prepare import dataset_dir, prepare_dataset
from siamese.data.samplers import ClassBatchSampler, Episode, EpisodeSampler, PairSampler, Trial, TrialSampler

__all__ = [
    "ClassBatchSampler",
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
    "check_trainable",
    "dataset_dir",
    "load_att_faces",
    "load_image_folder",
    "load_lake_runs",
    "load_mnist",
    "load_omniglot",
    "prepare_dataset",
    "preprocess_dataset",
]
