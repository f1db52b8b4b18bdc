"""Evaluation: one-shot accuracy (Lake's runs, sampled trials, MNIST transfer), verification, ranking, the
calibration of the page's posterior, figures,
and the plans that say which evaluations a trained checkpoint gets (``plan.py``).

Every evaluation takes a *scorer* (see :mod:`siamese.evaluation.scorers`) or a model directly.
"""

from siamese.evaluation.oneshot import choose, evaluate_lake_runs, evaluate_oneshot
from siamese.evaluation.ranking import evaluate_ranking
from siamese.evaluation.rejection import evaluate_rejection
from siamese.evaluation.plots import plot_learning_curves, plot_pair_scores
from siamese.evaluation.scorers import (
    CachedScorer,
    Scorer,
    as_scorer,
    logit_scorer,
    model_scorer,
    pixel_nearest_neighbour_scorer,
    prefetch,
    score_matrix,
)
from siamese.evaluation.sketches import SKETCH_STYLES, SketchStyle, evaluate_sketch_styles
from siamese.evaluation.transfer import evaluate_mnist_transfer
from siamese.evaluation.calibration import evaluate_calibration, expected_calibration_error, fit_temperature
from siamese.evaluation.verification import evaluate_verification, roc_auc
from siamese.evaluation.plan import Evaluation, checkpoint_plan, evaluation_command, run_evaluation, run_plan

__all__ = [
    "Evaluation",
    "checkpoint_plan",
    "evaluation_command",
    "run_evaluation",
    "run_plan",
    "SKETCH_STYLES",
    "SketchStyle",
    "evaluate_sketch_styles",
    "CachedScorer",
    "Scorer",
    "as_scorer",
    "choose",
    "evaluate_calibration",
    "evaluate_lake_runs",
    "evaluate_mnist_transfer",
    "evaluate_oneshot",
    "evaluate_ranking",
    "evaluate_rejection",
    "evaluate_verification",
    "expected_calibration_error",
    "fit_temperature",
    "logit_scorer",
    "model_scorer",
    "pixel_nearest_neighbour_scorer",
    "plot_learning_curves",
    "plot_pair_scores",
    "prefetch",
    "roc_auc",
    "score_matrix",
]
