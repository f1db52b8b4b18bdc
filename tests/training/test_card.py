"""The generated model card: the honest figure leads, each anchor beside its own protocol."""

from __future__ import annotations

from pathlib import Path

import siamese
from siamese.training.card import headline, write_model_card


def _evaluation(data: str) -> dict:
    fresh = {"mode": "oneshot", "accuracy": 0.9, "standard_error": 0.0067, "n_trials": 2000,
             "evaluated_on": {"split": "test", "classes": "the 10 test alphabets"}}  # fmt: skip
    runs = {"mode": "lake-runs", "accuracy": 0.9775, "n_trials": 400}
    ranking = {"mode": "ranking", "accuracy": 0.8, "top_k_accuracy": 0.95, "n_queries": 1000, "candidates": 33.4,
               "settings": {"top_k": 5}, "evaluated_on": {"split": "evaluation", "classes": "all 20 evaluation alphabets"}}  # fmt: skip
    task = {"n_queries": 1000, "candidates": 40.0, "accuracy": 0.816, "ece_before": 0.146, "ece": 0.037, "coverage": 0.662,
            "accepted_accuracy": 0.923, "absent_rejected": 0.675}  # fmt: skip
    tasks = {"within_alphabet": task, "all_alphabets": {**task, "ece_before": 0.294, "ece": 0.063}}
    calibration = {"mode": "calibration", "temperature": 0.6295, "threshold": 0.7727, "precision_target": 0.95, "accuracy": 0.816,
                   "ece": 0.037, "candidates": 40.0, "n_queries": 1000, "per_split": {"validation": tasks, "test": tasks},
                   "evaluated_on": {"split": "test", "classes": "the 10 test alphabets"}}  # fmt: skip
    items = [("lake-runs", runs), ("oneshot", fresh), ("ranking", ranking), ("calibration", calibration)]
    return {"data": data, "seed": 0, "seconds": 1.0,
            "evaluations": [{"title": m, "argv": [m], "command": f"python scripts/evaluate.py {m} --model MODEL_DIR", "result": r}
                            for m, r in items]}  # fmt: skip


def _card(tmp_path: Path, data: str, keep: str = "best", **settings: object) -> str:
    siamese.build_model("compact", input_size=28).save_pretrained(tmp_path)
    config = {"data": data, "seed": 0, "loss": "cosface", "optimizer": "adamw", "lr": 0.001, **settings}
    summary = {"steps": 10, "best_step": 10, "minutes": 1.0, "best_val_accuracy": 0.5, "final_val_accuracy": 0.45, "keep": keep}
    return write_model_card(tmp_path, config, summary, None, _evaluation(data)).read_text()


def test_omniglot_card_leads_with_fresh_trials_and_their_standard_error(tmp_path: Path) -> None:
    card = _card(tmp_path, "omniglot")
    head = card[card.index("## Headline") : card.index("## Data")]
    lines = [line for line in head.splitlines() if line.startswith("- ")]
    assert lines[0].startswith("- **90.00% ± 0.67** (standard error) on 2,000 fresh") and "92.0%" in lines[0]
    assert "97.75% on Lake's 20 official runs" in lines[1] and "95.5%" in lines[1] and "96.7%" in lines[1]
    assert card.index("## Headline") < card.index("## Evaluation of this checkpoint")


def test_a_card_says_when_the_validation_alphabets_were_trained_on(tmp_path: Path) -> None:
    standard = _card(tmp_path, "omniglot")
    assert "- Validation (early stopping): the 10 evaluation alphabets that Lake's runs do not use" in standard
    kept_final = _card(tmp_path, "omniglot", keep="final")  # a fixed schedule: validation stopped nothing
    assert "- Validation (watched, not used to stop: the final weights are kept): the 10 evaluation" in kept_final
    assert "at the end: **45.0%** (best during training 50.0%, step 10)" in kept_final
    card = _card(tmp_path, "omniglot", train_on_validation=True)
    data = card[card.index("## Data") : card.index("## Training")]
    assert "drawers 1-12 of the 10 validation alphabets (`--train-on-validation`)" in data
    assert "- Validation: drawers 13-20 of the 10 validation alphabets" in data and "not one-shot" in data


def test_other_data_sets_have_no_omniglot_headline(tmp_path: Path) -> None:
    assert "## Headline" not in _card(tmp_path, "mnist")


def test_ranking_headline_shows_top_1_and_top_k() -> None:
    text = headline(_evaluation("omniglot")["evaluations"][2]["result"])
    assert text == "top-1 accuracy **80.00%**, top-5 95.00% (1,000 queries, 33 candidates each on average)"


def test_calibration_headline_leads_with_accuracy_and_gives_the_test_ece_before_and_after() -> None:
    text = headline(_evaluation("omniglot")["evaluations"][3]["result"])
    assert text.startswith("top-1 accuracy **81.60%**; P(character | drawing) at T = 0.629: ")
    assert "ECE 0.037 within an alphabet (T = 1: 0.146), 0.063 among all (T = 1: 0.294)" in text
    assert "threshold 0.77 accepts 66.20% and rejects 67.50% of drawings whose character is absent (1,000 test drawings)" in text


def test_the_card_has_a_row_for_the_calibration(tmp_path: Path) -> None:
    card = _card(tmp_path, "omniglot")
    row = next(line for line in card.splitlines() if "`python scripts/evaluate.py calibration --model MODEL_DIR`" in line)
    assert "top-1 accuracy **81.60%**" in row and "the 10 test alphabets" in row


def test_the_cards_metadata_is_what_the_hub_reads_with_every_figure_in_its_model_index(tmp_path: Path) -> None:
    from huggingface_hub import ModelCard

    _card(tmp_path, "omniglot")
    card = ModelCard.load(tmp_path / "README.md")
    data = card.data
    assert (data.license, data.pipeline_tag, data.library_name, data.datasets) == ("mit", "image-feature-extraction", "pytorch", ["omniglot"])
    results = {(r.metric_name, r.dataset_split): r.metric_value for r in data.eval_results}
    assert results == {("accuracy: lake-runs", "test"): 0.9775, ("accuracy: oneshot", "test"): 0.9, ("accuracy: ranking", "evaluation"): 0.8,
                       ("accuracy: calibration", "test"): 0.816}  # fmt: skip
    assert all(r.task_type == "image-classification" for r in data.eval_results)
