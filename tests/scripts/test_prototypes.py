"""scripts/prototypes.py: a checkpoint gets the page's few-shot prototypes, marked with its weights' fingerprint."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors import safe_open

from siamese.hub import PROTOTYPES_FILE, checkpoint_fingerprint, load_model
from siamese.matching.gallery import load_gallery
from siamese.models import build_model
from siamese.training.state import save_model_atomically

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "prototypes.py"


def test_a_missing_checkpoint_is_a_clear_error(tmp_path):
    done = subprocess.run([sys.executable, str(SCRIPT), str(tmp_path / "nowhere")], capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and done.stderr.startswith("error: No checkpoint folder at"), done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.slow
def test_the_prototypes_written_are_the_ones_the_page_reads(tmp_path, monkeypatch):
    torch.manual_seed(0)
    folder = tmp_path / "tiny"
    save_model_atomically(build_model("compact", widths=[8, 8, 8, 8], embedding_dim=16), folder)
    done = subprocess.run([sys.executable, str(SCRIPT), str(folder)], capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "1623 prototypes of 16 numbers" in done.stdout
    with safe_open(folder / PROTOTYPES_FILE, framework="pt") as file:
        assert file.metadata()["fingerprint"] == checkpoint_fingerprint(folder)
        written = file.get_tensor("features")
    model = load_model(folder)
    gallery = load_gallery(model, checkpoint_fingerprint(model), tmp_path / "cache", precomputed=folder / PROTOTYPES_FILE)
    monkeypatch.setattr(model, "embed", lambda *a, **k: (_ for _ in ()).throw(AssertionError("must be read, not computed")))
    assert torch.equal(gallery.prototypes(model, checkpoint_fingerprint(model)), written)
