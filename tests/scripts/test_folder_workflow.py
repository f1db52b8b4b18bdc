"""Any folder of classes, end to end: train with scripts/train.py, evaluate with scripts/evaluate.py, on RGB images.

The folder is built on the fly by ``siamese.data.demo.make_demo_folder`` (coloured shapes, 20 classes of 6
RGB pictures), the same folder that the walk-through in the documentation uses.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import siamese
from siamese.data.demo import make_demo_folder
from siamese.evaluate import main as evaluate_main
from siamese.training.card import EVALUATION_FILE
from siamese.training.cli import main as train_main

ROOT = Path(__file__).resolve().parents[2]
MODEL_ARGS = {"input_size": 28, "channels": 3, "kind": "photo", "widths": [16, 32, 32, 32], "embedding_dim": 32}
TRAIN = ["--model-args", json.dumps(MODEL_ARGS), "--loss", "prototypical", "--episode-way", "8", "--episode-query", "3",
         "--steps", "60", "--lr", "3e-3", "--eval-every", "30", "--checkpoint-every", "30", "--val-trials-per-alphabet", "50"]  # fmt: skip


def _run(script: str, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
    return subprocess.run([sys.executable, str(ROOT / "scripts" / script), *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=600)  # fmt: skip


def test_train_then_evaluate_a_folder_of_rgb_images(tmp_path: Path) -> None:
    root = make_demo_folder(tmp_path / "shapes")
    assert len(list(root.iterdir())) == 20 and Image.open(next(root.glob("red-star/*.png"))).mode == "RGB"
    out = tmp_path / "run"

    trained = _run("train.py", "--data", f"folder:{root}", *TRAIN, "--out-dir", str(out))

    assert trained.returncode == 0, trained.stderr[-3000:]
    summary = json.loads(trained.stdout.strip().splitlines()[-1])
    best = out / "best"
    assert summary["val_way"] == 4  # 20 classes: 16 train, 4 held out
    assert json.loads((best / "config.json").read_text())["channels"] == 3
    recorded = {e["argv"][0]: e for e in json.loads((best / EVALUATION_FILE).read_text())["evaluations"]}
    card = (best / "README.md").read_text()
    assert f"--data folder:{root}" in card

    for mode, extra in (("oneshot", ["--way", "4", "--trials-per-group", "400"]), ("verification", ["--pairs", "1000"])):
        evaluated = _run("evaluate.py", mode, "--model", str(best), "--data", f"folder:{root}", *extra, "--json")
        assert evaluated.returncode == 0, evaluated.stderr[-3000:]
        result = json.loads(evaluated.stdout)
        assert result["evaluated_on"]["split"] == "test" and result["settings"]["data"] == "shapes-validation"
        assert result["accuracy"] == recorded[mode]["result"]["accuracy"]  # the card's figure, exactly
        assert f"accuracy **{100 * result['accuracy']:.2f}%**" in card
    assert recorded["oneshot"]["result"]["accuracy"] > 0.45  # chance: 25% on 4-way trials
    assert recorded["verification"]["result"]["roc_auc"] > 0.65

    model = siamese.load_model(best)  # and the model takes the user's pictures as they are
    pictures = [Image.open(p) for p in sorted(root.glob("*/0.png"))[:3]]
    scores = model.compare(pictures, [np.asarray(p) for p in pictures])
    assert scores.shape == (3, 3) and torch.allclose(scores.diagonal(), scores.max(dim=1).values)


def _folder(root: Path, images_per_class: dict[str, int]) -> Path:
    root.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for name, count in images_per_class.items():
        (root / name).mkdir()
        for i in range(count):
            Image.fromarray(rng.integers(0, 255, (12, 12, 3), dtype=np.uint8), "RGB").save(root / name / f"{i}.png")
    return root


BAD_FOLDERS = {
    "empty": ({}, ["no class folders", "root/<class>/<image>"]),
    "single-class": ({"cats": 4}, ["only one class folder (cats)", "at least 2 classes"]),
    "one-image-class": ({"cats": 3, "dogs": 3, "owls": 3, "newts": 3, "yak": 1}, ["fewer than 2 images", "yak"]),
}


@pytest.mark.parametrize("case", list(BAD_FOLDERS))
def test_unusable_folder_is_one_clear_line_from_both_scripts(case: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    classes, words = BAD_FOLDERS[case]
    root = _folder(tmp_path / case, classes)
    spec = f"folder:{root}"
    calls = {
        "train": lambda: train_main(["--data", spec, "--steps", "2", "--out-dir", str(tmp_path / "run")]),
        "evaluate oneshot": lambda: evaluate_main(["oneshot", "--data", spec, "--way", "2", "--json"]),
        "evaluate verification": lambda: evaluate_main(["verification", "--data", spec]),
    }
    for name, call in calls.items():
        assert call() == 2, name
        captured = capsys.readouterr()
        assert captured.out == "", name
        lines = captured.err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in captured.err, (name, captured.err)
        for word in words:
            assert word in lines[0], (name, lines[0])
    assert not (tmp_path / "run").exists()  # nothing was started


def test_the_scripts_themselves_print_the_line_and_exit_2(tmp_path: Path) -> None:
    root = _folder(tmp_path / "one-image", {"a": 2, "b": 2, "c": 2, "d": 1})
    for script, args in (("train.py", ["--steps", "2", "--out-dir", str(tmp_path / "run")]), ("evaluate.py", [])):
        argv = [*args, "--data", f"folder:{root}"] if script == "train.py" else ["oneshot", "--data", f"folder:{root}", "--json"]
        completed = _run(script, *argv)
        assert completed.returncode == 2 and completed.stdout == "", completed.stderr
        assert completed.stderr.strip().splitlines() == [completed.stderr.strip()]
        assert completed.stderr.startswith("error: 1 class(es) of one-image have fewer than 2 images") and "d" in completed.stderr
