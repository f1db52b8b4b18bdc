"""A full disk while a checkpoint is written never corrupts the previous one, and the run resumes from it exactly.

The disk is "filled" by making the writer write part of the file and then raise ``OSError(ENOSPC)``, as a real
full disk does. The other training faults are in test_loop.py: kill -9 then resume gives the same weights and
metrics (``test_kill_then_resume_gives_identical_weights``, slow), a NaN/inf loss stops with a message and keeps
the last good checkpoint (``test_nan_loss_stops_with_message_and_keeps_checkpoint``).
"""

from __future__ import annotations

import errno
import io
import json
from pathlib import Path

import pytest
import torch

import siamese
from siamese.training import TrainConfig, train
from siamese.training import state as state_module
from siamese.training.state import STATE_FILE, load_state, read_metrics, save_model_atomically, save_state

SMALL = {"input_size": 28, "widths": [16, 32, 32, 32], "embedding_dim": 32}
DISK_FULL = OSError(errno.ENOSPC, "No space left on device")
REAL_SAVE = torch.save


def _fill_disk_after(nbytes: int):
    """A ``torch.save`` that writes ``nbytes`` of the real file, then fails as a full disk does."""

    def save(obj, f, *args, **kwargs):
        buffer = io.BytesIO()
        REAL_SAVE(obj, buffer, *args, **kwargs)
        f.write(buffer.getvalue()[:nbytes])
        raise DISK_FULL

    return save


def test_a_full_disk_while_saving_the_state_keeps_the_previous_state(tmp_path: Path, monkeypatch) -> None:
    previous = {"model": {"w": torch.arange(1000.0)}, "step": 10}
    save_state(tmp_path, previous)
    before = (tmp_path / STATE_FILE).read_bytes()

    monkeypatch.setattr(state_module.torch, "save", _fill_disk_after(500))
    with pytest.raises(OSError, match="No space left"):
        save_state(tmp_path, {"model": {"w": torch.zeros(1000)}, "step": 20})
    monkeypatch.undo()

    assert (tmp_path / STATE_FILE).read_bytes() == before
    loaded = load_state(tmp_path)
    assert loaded["step"] == 10 and torch.equal(loaded["model"]["w"], previous["model"]["w"])
    assert sorted(p.name for p in tmp_path.iterdir()) == [STATE_FILE]  # the partial temporary file is gone


def test_a_full_disk_while_saving_the_best_model_keeps_the_previous_one(tmp_path: Path, monkeypatch) -> None:
    torch.manual_seed(0)
    first, second = siamese.build_model("compact", **SMALL), siamese.build_model("compact", **SMALL)
    best = tmp_path / "best"
    save_model_atomically(first, best)
    files = {p.name: p.read_bytes() for p in best.iterdir()}

    def full_disk(folder, *args, **kwargs):
        Path(folder).mkdir(parents=True, exist_ok=True)
        (Path(folder) / "config.json").write_text(json.dumps(second.config()))
        (Path(folder) / "model.safetensors").write_bytes(b"\x00" * 100)  # cut short
        raise DISK_FULL

    monkeypatch.setattr(second, "save_pretrained", full_disk)
    with pytest.raises(OSError, match="No space left"):
        save_model_atomically(second, best)

    assert {p.name: p.read_bytes() for p in best.iterdir()} == files
    x = torch.rand(2, 1, 28, 28)
    assert torch.equal(siamese.load_model(best).embed(x), first.eval().embed(x))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["best"]  # no half-written .best.tmp left


def test_a_kill_between_the_two_renames_is_repaired_by_the_next_save(tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = siamese.build_model("compact", **SMALL)
    best = tmp_path / "best"
    save_model_atomically(model, best)
    best.rename(tmp_path / ".best.old")  # what a kill -9 right after the first rename leaves
    save_model_atomically(siamese.build_model("compact", **SMALL), best)
    assert siamese.load_model(best) is not None
    assert sorted(p.name for p in tmp_path.iterdir()) == ["best"]


def test_a_full_disk_during_training_keeps_the_last_checkpoint_and_the_run_resumes_exactly(tmp_path: Path, monkeypatch) -> None:
    base = dict(model_args=SMALL, steps=6, batch_size=16, eval_every=1000, checkpoint_every=2, log_every=1,
                val_trials_per_alphabet=1, seed=5, lr=1e-3, final_eval=False)  # fmt: skip
    train(TrainConfig(out_dir=str(tmp_path / "straight"), **base))

    run = tmp_path / "disk-full"
    calls = []

    def full_at_the_second_checkpoint(obj, f, *args, **kwargs):
        if isinstance(obj, dict) and "optimizer" in obj:
            calls.append(obj["step"])
            if len(calls) == 2:
                return _fill_disk_after(4096)(obj, f, *args, **kwargs)
        return REAL_SAVE(obj, f, *args, **kwargs)

    monkeypatch.setattr(state_module.torch, "save", full_at_the_second_checkpoint)
    with pytest.raises(OSError, match="No space left"):
        train(TrainConfig(out_dir=str(run), **base))
    monkeypatch.undo()
    assert calls == [2, 4]
    kept = load_state(run)
    assert kept["step"] == 2  # the checkpoint before the failed one, whole
    assert not [p for p in run.iterdir() if p.name.startswith(".state-")]

    train(TrainConfig(out_dir=str(run), **base))  # the disk has room again: resume from step 2

    a, b = load_state(tmp_path / "straight"), load_state(run)
    assert a["step"] == b["step"] == 6
    for name, tensor in a["model"].items():
        assert torch.equal(tensor, b["model"][name]), name
    strip = lambda rows: [{k: v for k, v in r.items() if k != "seconds"} for r in rows]  # noqa: E731
    assert strip(read_metrics(tmp_path / "straight")) == strip(read_metrics(run))
