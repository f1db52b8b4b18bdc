"""Saving and loading checkpoints: exact round trips, and clear errors for anything that does not fit."""

from __future__ import annotations

import json
import pickle
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw

import siamese
from siamese import CheckpointError, CompactNet, KochNet, SiameseNet


def _glyphs() -> list:
    bar = Image.new("L", (105, 105), 255)
    ImageDraw.Draw(bar).rectangle([45, 10, 60, 95], fill=0)
    ring = Image.new("L", (105, 105), 255)
    ImageDraw.Draw(ring).ellipse([15, 15, 90, 90], outline=0, width=10)
    return [bar, np.asarray(ring), 255 - np.asarray(bar)]


def _trained_looking(model: SiameseNet) -> SiameseNet:
    """Move every parameter and buffer away from a fresh initialisation, so a round trip that lost them fails."""
    generator = torch.Generator().manual_seed(123)
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.add_(0.01 * torch.randn(parameter.shape, generator=generator))
    model.train()
    size = model.preprocess_config.input_size
    with torch.no_grad():  # updates batch-norm running statistics
        model.features(torch.rand(4, model.preprocess_config.channels, size, size, generator=generator))
    return model.eval()


def _save(model: SiameseNet, folder: Path) -> Path:
    model.save_pretrained(folder)
    return folder


def _edit_config(folder: Path, **changes) -> None:
    path = folder / "config.json"
    config = json.loads(path.read_text())
    config.update(changes)
    path.write_text(json.dumps(config))


@pytest.fixture(scope="module")
def compact_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    torch.manual_seed(0)
    return _save(_trained_looking(CompactNet()), tmp_path_factory.mktemp("compact"))


@pytest.fixture(scope="module")
def koch_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    torch.manual_seed(0)
    return _save(_trained_looking(KochNet()), tmp_path_factory.mktemp("koch"))


@pytest.fixture
def compact_copy(compact_dir: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(compact_dir, tmp_path / "checkpoint"))


# --- round trips ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cls", "kwargs"),
    [
        (CompactNet, {}),
        (CompactNet, {"input_size": 28, "widths": (8, 16), "embedding_dim": 32, "fit_to_box": False}),
        (KochNet, {}),
    ],
    ids=["compact", "compact-custom", "koch"],
)
def test_round_trip_gives_identical_outputs(cls, kwargs, tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = _trained_looking(cls(**kwargs))
    model.save_pretrained(tmp_path)
    assert (tmp_path / "model.safetensors").is_file()
    config = json.loads((tmp_path / "config.json").read_text())
    assert config["architecture"] == cls.architecture

    torch.manual_seed(999)  # the loaded model starts from a different random initialisation
    loaded = siamese.load_model(tmp_path)
    assert type(loaded) is cls
    assert not loaded.training
    assert loaded.preprocess_config == model.preprocess_config
    for (name, a), (_, b) in zip(model.state_dict().items(), loaded.state_dict().items(), strict=True):
        assert torch.equal(a, b), name
    images = _glyphs()
    assert torch.equal(model.compare(images, images), loaded.compare(images, images))
    assert torch.equal(model.embed(images), loaded.embed(images))


def test_config_json_names_the_architecture_and_its_settings(compact_dir: Path, koch_dir: Path) -> None:
    compact = json.loads((compact_dir / "config.json").read_text())
    koch = json.loads((koch_dir / "config.json").read_text())
    assert compact["architecture"] == "compact" and koch["architecture"] == "koch"
    assert compact["embedding_dim"] == 128 and list(compact["widths"]) == [32, 64, 64, 64]
    assert koch["input_size"] == 105


def test_a_loaded_model_saves_again(compact_dir: Path, tmp_path: Path) -> None:
    loaded = siamese.load_model(compact_dir)
    loaded.save_pretrained(tmp_path)
    again = siamese.load_model(tmp_path)
    x = torch.rand(2, 1, 56, 56)
    assert torch.equal(loaded.embed(x), again.embed(x))
    assert json.loads((tmp_path / "config.json").read_text()) == json.loads((compact_dir / "config.json").read_text())


# --- checkpoints that do not fit ------------------------------------------------------------------


@pytest.mark.parametrize(
    "changes",
    [{"embedding_dim": 64}, {"widths": [16, 32, 32, 32]}, {"widths": [32, 64, 64]}, {"input_size": 28}],
    ids=["embedding_dim", "widths", "fewer blocks", "input_size"],
)
def test_config_that_does_not_fit_the_weights_is_an_error(compact_copy: Path, changes) -> None:
    _edit_config(compact_copy, **changes)
    with pytest.raises(CheckpointError, match="do not fit"):
        siamese.load_model(compact_copy)


def test_weights_of_another_architecture_are_an_error(compact_dir: Path, koch_dir: Path, tmp_path: Path) -> None:
    koch_with_compact_weights = Path(
        shutil.copytree(koch_dir, tmp_path / "a", ignore=shutil.ignore_patterns("*.safetensors"))
    )
    shutil.copy(compact_dir / "model.safetensors", koch_with_compact_weights / "model.safetensors")
    with pytest.raises(CheckpointError, match="KochNet"):
        siamese.load_model(koch_with_compact_weights)

    compact_with_koch_weights = Path(shutil.copytree(compact_dir, tmp_path / "b"))  # its config, Koch's weights
    (compact_with_koch_weights / "model.safetensors").unlink()
    (compact_with_koch_weights / "model.safetensors").symlink_to(koch_dir / "model.safetensors")
    with pytest.raises(CheckpointError, match="CompactNet"):
        siamese.load_model(compact_with_koch_weights)


@pytest.mark.parametrize(
    "config",
    [
        {"architecture": "koch"},
        {"architecture": "koch", "input_size": 56},  # too small for Koch's layers: no model at all
        {"architecture": "compact", "input_size": 8},  # four poolings of 8 pixels leave nothing
        {"architecture": "compact", "channels": 2},
        {"architecture": "compact", "embedding_dim": "large"},
    ],
    ids=["koch", "koch-56", "compact-8", "compact-2-channels", "compact-text-dim"],
)
def test_config_for_another_or_impossible_model_is_an_error(compact_copy: Path, config: dict) -> None:
    (compact_copy / "config.json").write_text(json.dumps(config))
    with pytest.raises(CheckpointError):
        siamese.load_model(compact_copy)


def test_unknown_architecture_is_named(compact_copy: Path) -> None:
    _edit_config(compact_copy, architecture="resnet9000")
    with pytest.raises(CheckpointError, match="resnet9000") as caught:
        siamese.load_model(compact_copy)
    assert "compact" in str(caught.value) and "koch" in str(caught.value)  # lists the known ones


def test_missing_architecture_is_an_error(compact_copy: Path) -> None:
    config = json.loads((compact_copy / "config.json").read_text())
    del config["architecture"]
    (compact_copy / "config.json").write_text(json.dumps(config))
    with pytest.raises(CheckpointError, match="architecture"):
        siamese.load_model(compact_copy)


def test_unknown_setting_is_named(compact_copy: Path) -> None:
    _edit_config(compact_copy, dropout_rate=0.3)
    with pytest.raises(CheckpointError, match="dropout_rate"):
        siamese.load_model(compact_copy)


# --- broken or missing files ----------------------------------------------------------------------


def test_missing_weights_are_an_error(compact_copy: Path) -> None:
    (compact_copy / "model.safetensors").unlink()
    with pytest.raises(CheckpointError, match="model.safetensors"):
        siamese.load_model(compact_copy)


@pytest.mark.parametrize(
    "garbage",
    [b"", b"\x00" * 16, b"this is not a safetensors file at all" * 10, b"\xff" * 8 + b"{}"],
    ids=["empty", "zeros", "text", "huge header length"],
)
def test_corrupt_weights_are_an_error(compact_copy: Path, garbage: bytes) -> None:
    (compact_copy / "model.safetensors").write_bytes(garbage)
    with pytest.raises(CheckpointError):
        siamese.load_model(compact_copy)


def test_truncated_weights_are_an_error(compact_copy: Path) -> None:
    weights = compact_copy / "model.safetensors"
    data = weights.read_bytes()
    weights.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError):
        siamese.load_model(compact_copy)


def test_missing_config_is_an_error(compact_copy: Path) -> None:
    (compact_copy / "config.json").unlink()
    with pytest.raises(CheckpointError, match="config.json"):
        siamese.load_model(compact_copy)


@pytest.mark.parametrize("text", ["{not json", "[1, 2]", '"compact"'], ids=["invalid", "list", "string"])
def test_broken_config_is_an_error(compact_copy: Path, text: str) -> None:
    (compact_copy / "config.json").write_text(text)
    with pytest.raises(CheckpointError, match="config.json"):
        siamese.load_model(compact_copy)


def test_non_existent_folder_is_an_error(tmp_path: Path) -> None:
    missing = tmp_path / "no" / "such" / "checkpoint"
    with pytest.raises(CheckpointError, match="checkpoint"):
        siamese.load_model(missing)
    with pytest.raises(CheckpointError):
        siamese.load_model(str(missing))


class _CreatesMarker:
    """Unpickling this creates ``path``: proof that a file was unpickled."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self):
        return (Path.touch, (self.path,))


def _pickle_checkpoint(folder: Path, marker: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text(json.dumps(CompactNet().config()))
    (folder / "pytorch_model.bin").write_bytes(pickle.dumps({"state_dict": _CreatesMarker(marker)}))


def test_the_marker_pickle_would_run_code(tmp_path: Path) -> None:
    """The trap used below works: loading it with pickle does create the marker."""
    marker = tmp_path / "unpickled"
    pickle.loads(pickle.dumps(_CreatesMarker(marker)))
    assert marker.exists()


def test_pickle_weights_alone_are_refused_without_unpickling(tmp_path: Path) -> None:
    folder, marker = tmp_path / "checkpoint", tmp_path / "unpickled"
    _pickle_checkpoint(folder, marker)
    with pytest.raises(CheckpointError, match="safetensors"):
        siamese.load_model(folder)
    with pytest.raises(CheckpointError):
        CompactNet.from_pretrained(str(folder))
    assert not marker.exists()


def test_pickle_beside_safetensors_is_ignored(compact_dir: Path, tmp_path: Path) -> None:
    folder, marker = Path(shutil.copytree(compact_dir, tmp_path / "checkpoint")), tmp_path / "unpickled"
    (folder / "pytorch_model.bin").write_bytes(pickle.dumps(_CreatesMarker(marker)))
    loaded = siamese.load_model(folder)
    assert isinstance(loaded, CompactNet)
    assert not marker.exists()
    reference = siamese.load_model(compact_dir)
    x = torch.rand(2, 1, 56, 56)
    assert torch.equal(loaded.embed(x), reference.embed(x))
