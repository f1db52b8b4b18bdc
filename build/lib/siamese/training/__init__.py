"""Training: the loop (``loop.py``), optimisers and schedules, and the on-disk training state."""

from siamese.training.loop import TrainConfig, TrainingError, train

__all__ = ["TrainConfig", "TrainingError", "train"]
