"""The evaluation command line: JSON on stdout, one-line errors with exit code 2, figures."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import siamese
from siamese.evaluate import main
from siamese.evaluation import plot_learning_curves

REPO = Path(__file__).resolve().parents[2]
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory) -> Path:
    torch.manual_seed(0)
    folder = tmp_path_factory.mktemp("untrained-compact")
    siamese.build_model("compact").save_pretrained(folder)
    return folder


def test_lake_runs_json(model_dir, capsys):
    assert main(["lake-runs", "--model", str(model_dir), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert {"mode", "model", "accuracy", "n_trials", "per_run"} <= set(result)
    assert result["mode"] == "lake-runs" and result["n_trials"] == 400
    assert 0.0 <= result["accuracy"] <= 1.0
    assert len(result["per_run"]) == 20


def test_missing_model_is_a_one_line_error(tmp_path, capsys):
    assert main(["lake-runs", "--model", str(tmp_path / "missing"), "--json"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert len(captured.err.strip().splitlines()) == 1 and captured.err.startswith("error:")
    assert "Traceback" not in captured.err


def test_impossible_trials_are_a_one_line_error(model_dir, capsys):
    assert main(["oneshot", "--model", str(model_dir), "--split", "validation", "--way", "500"]) == 2
    assert len(capsys.readouterr().err.strip().splitlines()) == 1


def test_plot_writes_a_png_and_the_table_is_readable(model_dir, tmp_path, capsys):
    figure = tmp_path / "figures" / "pairs.png"
    assert main(["verification", "--model", str(model_dir), "--pairs", "40", "--plot", str(figure)]) == 0
    assert figure.read_bytes()[:8] == PNG_MAGIC
    table = capsys.readouterr().out
    assert "roc_auc" in table and "accuracy" in table and not table.lstrip().startswith("{")


def test_plot_learning_curves_writes_a_png(tmp_path):
    metrics = [{"step": s, "train_loss": 1.0 / s} for s in range(1, 50)]
    metrics += [{"step": 25, "val_loss": 0.5, "val_accuracy": 0.6}, {"step": 49, "val_loss": 0.4, "val_accuracy": 0.7}]
    metrics += [{"step": 50, "val_loss": 0.35}]  # a row without accuracy
    path = plot_learning_curves(metrics, tmp_path / "curves.png")
    assert Path(path).read_bytes()[:8] == PNG_MAGIC


def test_script_wrapper_runs_from_anywhere(tmp_path):
    script = REPO / "scripts" / "evaluate.py"
    completed = subprocess.run(
        [sys.executable, str(script), "lake-runs", "--model", str(tmp_path / "missing"), "--json"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert completed.returncode == 2, completed.stderr
    assert completed.stdout == "" and len(completed.stderr.strip().splitlines()) == 1


def test_oneshot_and_verification_on_a_folder_of_classes(model_dir, tmp_path, capsys):
    """Any root/<class>/<image> folder is evaluated on the classes its training split held out."""
    import numpy as np
    from PIL import Image, ImageDraw

    root = tmp_path / "symbols"
    for c in range(10):
        (root / f"symbol{c}").mkdir(parents=True)
        for i in range(4):
            image = Image.new("L", (64, 64), 255)
            ImageDraw.Draw(image).line([(8 + 4 * c, 8), (56 - 4 * i, 56)], fill=0, width=5)
            image.save(root / f"symbol{c}" / f"{i}.png")
    assert main(["oneshot", "--model", str(model_dir), "--data", f"folder:{root}", "--way", "2", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["n_trials"] == 40 and 0.0 <= result["accuracy"] <= 1.0
    assert main(["verification", "--model", str(model_dir), "--data", f"folder:{root}", "--pairs", "20", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["n_pairs"] == 20
    assert np.isfinite(result["accuracy"])


def test_ranking_within_and_across_alphabets(model_dir, capsys):
    assert main(["ranking", "--model", str(model_dir), "--queries", "30", "--json"]) == 0
    within = json.loads(capsys.readouterr().out)
    assert main(["ranking", "--model", str(model_dir), "--queries", "30", "--no-within-alphabet", "--json"]) == 0
    across = json.loads(capsys.readouterr().out)
    assert within["evaluated_on"]["split"] == across["evaluated_on"]["split"] == "evaluation"
    assert across["candidates"] == 659 and within["candidates"] < 659
    assert 0 <= within["accuracy"] <= within["top_k_accuracy"] <= 1


def test_rejection_chooses_a_threshold_on_validation_that_keeps_the_coverage(model_dir, capsys):
    assert main(["rejection", "--model", str(model_dir), "--trials-per-alphabet", "10", "--coverage", "0.9", "--json"]) == 0
    chosen = json.loads(capsys.readouterr().out)
    assert chosen["evaluated_on"]["split"] == "validation" and chosen["n_trials"] == 100
    assert chosen["coverage"] >= 0.9 and 0 <= chosen["absent_rejected"] <= 1
    argv = ["rejection", "--model", str(model_dir), "--trials-per-alphabet", "10", "--threshold", str(chosen["threshold"]), "--json"]
    assert main(argv) == 0
    checked = json.loads(capsys.readouterr().out)
    assert checked["coverage"] == chosen["coverage"] and checked["absent_rejected"] == chosen["absent_rejected"]


def test_calibration_saves_what_it_fitted_and_plots_the_reliability(model_dir, tmp_path, capsys):
    import shutil

    from siamese.hub import read_calibration

    folder = Path(shutil.copytree(model_dir, tmp_path / "model"))
    figure = tmp_path / "calibration.png"
    argv = ["calibration", "--model", str(folder), "--queries", "20", "--precision", "0.9", "--plot", str(figure), "--save", "--json"]
    assert main(argv) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["saved"] == str(folder / "calibration.json") and figure.read_bytes()[:8] == PNG_MAGIC
    saved = read_calibration(folder)
    assert (saved.temperature, saved.threshold, saved.fitted) == (result["temperature"], result["threshold"], True)
    assert saved.details["command"] == "python scripts/evaluate.py calibration --model MODEL_DIR --queries 20 --precision 0.9 " \
                                      f"--plot {figure} --save"
    assert result["evaluated_on"]["split"] == "test" and set(result["per_split"]) == {"validation", "test"}


def test_calibration_save_needs_a_checkpoint_folder(capsys):
    assert main(["calibration", "--model", "someone/some-model", "--save"]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and len(captured.err.strip().splitlines()) == 1
    assert "--save writes calibration.json into a checkpoint folder" in captured.err
