"""P(character | drawing): the posterior, the temperature fit, ECE, the threshold, and calibration.json.

The measures are checked on synthetic sets whose calibration is known by construction; the whole
evaluation on the bundled model, with a bound for held-out ECE set by the validation ECE it measures.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

import siamese
from siamese import CheckpointError
from siamese.evaluation.calibration import (
    QueryLogits,
    choose_threshold,
    evaluate_calibration,
    expected_calibration_error,
    fit_temperature,
    fitted_calibration,
    negative_log_likelihood,
    reliability,
)
from siamese.evaluation.plan import format_table
from siamese.hub import DEFAULT_CHECKPOINT
from siamese.hub import CALIBRATION_FILE, Calibration, read_calibration, write_calibration

ROOT = Path(__file__).resolve().parents[2]


def _synthetic(temperature: float, n: int = 20000, candidates: int = 10, seed: int = 0) -> QueryLogits:
    """Logits whose true class is drawn from ``softmax(logits / temperature)``: calibrated at that temperature."""
    rng = np.random.default_rng(seed)
    logits = rng.normal(0.0, 3.0, size=(n, candidates))
    posterior = torch.softmax(torch.from_numpy(logits) / temperature, dim=-1).numpy()
    answer = np.minimum((posterior.cumsum(axis=1) < rng.uniform(size=(n, 1))).sum(axis=1), candidates - 1)
    return QueryLogits(logits, answer)


# --- the posterior --------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_the_posterior_sums_to_one_over_the_candidates(dtype: torch.dtype) -> None:
    logits = 20 * torch.randn(7, 40, generator=torch.Generator().manual_seed(0), dtype=dtype)
    for temperature in (0.3, 1.0, 4.0):
        posterior = Calibration(temperature).posterior(logits)
        assert posterior.dtype == dtype and (posterior >= 0).all()
        torch.testing.assert_close(posterior.sum(-1), torch.ones(7, dtype=dtype))


def test_the_posterior_tells_apart_candidates_whose_p_same_rounds_to_one() -> None:
    logits = torch.tensor([[40.0, 39.0, 20.0]])
    assert torch.sigmoid(logits)[0, 0] == torch.sigmoid(logits)[0, 1] == 1.0  # float32 P(same) cannot rank them
    posterior = Calibration(1.0).posterior(logits)[0]
    assert posterior[0] > posterior[1] > posterior[2]


def test_padding_takes_no_share_of_the_posterior() -> None:
    logits = QueryLogits.padded([np.array([2.0, 1.0]), np.array([0.5, 0.1, 3.0])], [0, 2])
    posterior = logits.posterior(0.7)
    assert posterior[0, 2] == 0.0 and np.allclose(posterior.sum(axis=1), 1.0)
    assert logits.candidates() == 2.5 and logits.correct().tolist() == [True, True]
    absent = logits.absent().posterior(0.7)
    assert absent[0, 0] == absent[1, 2] == 0.0 and np.allclose(absent.sum(axis=1), 1.0)


# --- the temperature ------------------------------------------------------------------------------


@pytest.mark.parametrize("temperature", [0.4, 1.0, 2.5])
def test_fit_temperature_recovers_the_temperature_that_generated_the_answers(temperature: float) -> None:
    logits = _synthetic(temperature)
    fitted = fit_temperature(logits)
    assert fitted == pytest.approx(temperature, rel=0.05)
    # It is the minimum of the likelihood: a step either way is worse.
    for step in (0.97, 1.03):
        assert negative_log_likelihood(logits, fitted) < negative_log_likelihood(logits, fitted * step)


def test_fit_temperature_needs_present_answers() -> None:
    with pytest.raises(ValueError, match="true character"):
        fit_temperature(_synthetic(1.0, n=50).absent())


# --- ECE and the reliability diagram --------------------------------------------------------------


def test_ece_of_a_calibrated_set_is_about_zero_and_of_an_overconfident_one_large() -> None:
    rng = np.random.default_rng(1)
    confidence = rng.uniform(0.0, 1.0, 100_000)
    correct = rng.uniform(0.0, 1.0, confidence.size) < confidence  # right exactly as often as it says
    assert expected_calibration_error(confidence, correct) < 0.01
    overconfident = np.clip(confidence + 0.3, 0.0, 1.0)
    assert expected_calibration_error(overconfident, correct) > 0.2


def test_a_temperature_fit_removes_the_miscalibration_of_synthetic_logits() -> None:
    logits = _synthetic(2.0)  # at T = 1 the posterior is too sharp
    before, after = (logits.posterior(t).max(axis=1) for t in (1.0, fit_temperature(logits)))
    assert expected_calibration_error(before, logits.correct()) > 0.1
    assert expected_calibration_error(after, logits.correct()) < 0.02


def test_the_reliability_bins_add_up_to_the_ece() -> None:
    rng = np.random.default_rng(2)
    confidence, correct = rng.uniform(0.0, 1.0, 500), rng.uniform(0.0, 1.0, 500) < 0.6
    bins = reliability(confidence, correct, bins=15)
    assert sum(b["count"] for b in bins) == 500 and all(b["low"] <= b["confidence"] <= b["high"] for b in bins)
    gap = sum(b["count"] * abs(b["accuracy"] - b["confidence"]) for b in bins) / 500
    assert gap == pytest.approx(expected_calibration_error(confidence, correct, bins=15))


# --- the threshold --------------------------------------------------------------------------------


@pytest.mark.parametrize("precision", [0.8, 0.95])
def test_the_threshold_is_the_lowest_whose_accepted_answers_meet_the_precision(precision: float) -> None:
    rng = np.random.default_rng(3)
    confidence = np.round(rng.uniform(0.0, 1.0, 400), 2)  # with ties
    correct = rng.uniform(0.0, 1.0, 400) < confidence
    meets = [t for t in np.unique(confidence) if correct[confidence >= t].mean() >= precision]
    assert choose_threshold(confidence, correct, precision) == min(meets)


def test_a_precision_no_threshold_reaches_accepts_only_certainties() -> None:
    assert choose_threshold(np.array([0.9, 0.8]), np.array([False, True]), 0.95) == 1.0


# --- calibration.json -----------------------------------------------------------------------------


def test_calibration_json_round_trips(tmp_path: Path) -> None:
    calibration = Calibration(0.63, 0.77, True, {"fitted_on": {"data": "omniglot-validation"}, "figures": {"ece": 0.04}})
    path = write_calibration(tmp_path, calibration)
    assert path == tmp_path / CALIBRATION_FILE and "fitted" not in json.loads(path.read_text())
    again = read_calibration(tmp_path)
    assert again == calibration and again.fitted and again.details == calibration.details


def test_a_folder_without_calibration_json_gets_the_unfitted_defaults(tmp_path: Path) -> None:
    calibration = read_calibration(tmp_path)
    assert (calibration.temperature, calibration.threshold, calibration.fitted) == (1.0, 0.5, False)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("{not json", "Expecting property name"),
        ("[0.6, 0.7]", "must hold a JSON object"),
        ('{"temperature": 0.6}', "it has no threshold"),
        ('{"temperature": 0, "threshold": 0.7}', "must be a positive number"),
        ('{"temperature": 0.6, "threshold": 1.5}', "must be from 0 to 1"),
        ('{"temperature": "hot", "threshold": 0.7}', "could not convert"),
        ('{"temperature": 0.6, "threshold": 0.7, "details": []}', "details must be a JSON object"),
    ],
    ids=["not-json", "not-an-object", "no-threshold", "zero-temperature", "threshold-above-1", "not-a-number", "bad-details"],
)
def test_an_invalid_calibration_json_is_a_one_line_checkpoint_error(tmp_path: Path, text: str, reason: str) -> None:
    (tmp_path / CALIBRATION_FILE).write_text(text)
    with pytest.raises(CheckpointError) as caught:
        read_calibration(tmp_path)
    message = str(caught.value)
    assert "\n" not in message and message.startswith(f"{tmp_path / CALIBRATION_FILE} is not a valid calibration file: ")
    assert reason in message


# --- the bundled model ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def bundled_result(omniglot_validation, omniglot_test) -> dict:
    return evaluate_calibration(siamese.load_model(), omniglot_validation, omniglot_test, n_queries=150, seed=0)


def test_held_out_ece_stays_within_a_bound_set_by_the_validation_ece(bundled_result: dict) -> None:
    validation, test = bundled_result["per_split"]["validation"], bundled_result["per_split"]["test"]
    for task in ("within_alphabet", "all_alphabets"):
        assert test[task]["ece"] <= validation[task]["ece"] + 0.05, (task, validation[task]["ece"], test[task]["ece"])
        assert test[task]["ece"] < test[task]["ece_before"], task  # the fitted temperature helps on held-out drawings too
        assert test[task]["n_queries"] == 150


def test_the_fit_and_threshold_are_what_their_validation_queries_say(bundled_result: dict) -> None:
    validation = bundled_result["per_split"]["validation"]
    pooled_queries = sum(validation[task]["n_queries"] for task in validation)
    assert bundled_result["fitted_on"]["n_queries"] == pooled_queries
    accepted = sum(validation[t]["coverage"] * validation[t]["n_queries"] for t in validation)
    right = sum(validation[t]["accepted_accuracy"] * validation[t]["coverage"] * validation[t]["n_queries"] for t in validation)
    assert right / accepted >= bundled_result["precision_target"]  # pooled over both tasks, as chosen
    for task, figures in validation.items():
        assert 0 < figures["absent_rejected"] <= 1 and 0 < figures["coverage"] < 1, task
    assert bundled_result["accuracy"] == bundled_result["per_split"]["test"]["within_alphabet"]["accuracy"]


def test_a_fitted_calibration_is_saved_and_read_back(bundled_result: dict, tmp_path: Path) -> None:
    command = "python scripts/evaluate.py calibration --model MODEL_DIR --save"
    write_calibration(tmp_path, fitted_calibration(bundled_result, command))
    calibration = read_calibration(tmp_path)
    assert (calibration.temperature, calibration.threshold) == (bundled_result["temperature"], bundled_result["threshold"])
    assert calibration.details["command"] == command
    assert calibration.details["figures"]["test"]["within_alphabet"]["ece"] == bundled_result["ece"]
    assert "reliability" not in calibration.details["figures"]["test"]["within_alphabet"]


def test_the_table_shows_every_split_and_task(bundled_result: dict) -> None:
    table = format_table({"mode": "calibration", **bundled_result})
    for row in ("validation within alphabet", "validation all alphabets", "test within alphabet", "test all alphabets"):
        assert row in table
    assert f"{bundled_result['temperature']:.4f}" in table


def test_the_docs_quote_the_bundled_calibration() -> None:
    """docs/calibration.md shows the figures of the committed calibration.json, and the command that wrote it."""
    calibration = read_calibration(DEFAULT_CHECKPOINT)
    docs = (ROOT / "docs" / "calibration.md").read_text()
    assert calibration.fitted and f"{calibration.temperature:.3f}" in docs and f"{calibration.threshold:.3f}" in docs
    for split, tasks in calibration.details["figures"].items():
        for task, figures in tasks.items():
            row = next(line for line in docs.splitlines() if line.startswith(f"| {split} | {task.replace('_', ' ')} |"))
            for key in ("accuracy", "coverage", "accepted_accuracy", "absent_rejected"):
                assert f"{100 * figures[key]:.1f}%" in row, (split, task, key)
            for key in ("ece_before", "ece"):
                assert f"{figures[key]:.3f}" in row, (split, task, key)
    assert calibration.details["command"].replace("MODEL_DIR", f"siamese/checkpoints/{DEFAULT_CHECKPOINT.name}") in docs
