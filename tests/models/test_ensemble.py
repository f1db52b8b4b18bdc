"""EnsembleNet: the mean of its members' cosines, saved and loaded as one checkpoint, refused when the members disagree."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch

from siamese.hub import load_model
from siamese.models import EnsembleNet, build_model

ROOT = Path(__file__).resolve().parents[2]


def _members() -> list:
    torch.manual_seed(0)
    return [build_model("compact", input_size=28), build_model("compact", input_size=28, widths=[16, 32, 32, 32])]


def test_the_ensembles_cosine_is_the_mean_of_its_members() -> None:
    a, b = _members()
    ensemble = EnsembleNet.from_models([a, b])
    images = torch.rand(5, 1, 28, 28)
    fa, fb, fe = a.embed(images), b.embed(images), ensemble.embed(images)
    assert torch.allclose(fe.norm(dim=1), torch.ones(5), atol=1e-5)
    assert torch.allclose(fe @ fe.T, (fa @ fa.T + fb @ fb.T) / 2, atol=1e-5)
    assert ensemble.flops_per_image() == a.flops_per_image() + b.flops_per_image()


def test_an_ensemble_is_one_checkpoint(tmp_path: Path) -> None:
    ensemble = EnsembleNet.from_models(_members())
    ensemble.save_pretrained(tmp_path)
    loaded = load_model(tmp_path)
    assert isinstance(loaded, EnsembleNet) and len(loaded.members) == 2
    images = torch.rand(3, 1, 28, 28)
    assert torch.allclose(loaded.compare(images, images), ensemble.compare(images, images), atol=1e-6)


def test_members_must_share_their_preprocessing() -> None:
    with pytest.raises(ValueError, match="must share their preprocessing"):
        EnsembleNet.from_models([build_model("compact", input_size=28), build_model("compact", input_size=56)])
    with pytest.raises(ValueError, match="at least two members"):
        EnsembleNet([build_model("compact").config()])


def test_the_command_joins_checkpoints_and_refuses_a_mismatch(tmp_path: Path) -> None:
    for name, size in (("a", 28), ("b", 28), ("c", 56)):
        build_model("compact", input_size=size).save_pretrained(tmp_path / name)
    script = [sys.executable, str(ROOT / "scripts" / "ensemble.py")]
    ok = subprocess.run([*script, str(tmp_path / "a"), str(tmp_path / "b"), "--out", str(tmp_path / "ab")],
                        capture_output=True, text=True, timeout=120)  # fmt: skip
    assert ok.returncode == 0, ok.stderr
    assert isinstance(load_model(tmp_path / "ab"), EnsembleNet)
    bad = subprocess.run([*script, str(tmp_path / "a"), str(tmp_path / "c"), "--out", str(tmp_path / "ac")],
                         capture_output=True, text=True, timeout=120)  # fmt: skip
    assert bad.returncode == 2 and bad.stderr.startswith("error: The members of an ensemble must share their preprocessing")
    assert "Traceback" not in bad.stderr and not (tmp_path / "ac").exists()
