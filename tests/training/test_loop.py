"""Training: it learns, it resumes bit-exactly after kill -9, and it runs under torchrun."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from siamese.training import TrainConfig, TrainingError, train
from siamese.training.state import load_state, read_metrics

ROOT = Path(__file__).resolve().parents[2]
SMALL = {"input_size": 28, "widths": [16, 32, 32, 32], "embedding_dim": 32}
QUICK = ["--model-args", json.dumps(SMALL), "--batch-size", "32", "--eval-every", "10", "--checkpoint-every", "5",
         "--log-every", "5", "--val-trials-per-alphabet", "4", "--seed", "3", "--no-final-eval"]  # fmt: skip


def _train_cli(out: Path, steps: int, *extra: str) -> subprocess.Popen:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
    cmd = [sys.executable, str(ROOT / "scripts" / "train.py"), *QUICK, "--steps", str(steps), "--out-dir", str(out), *extra]
    return subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def test_short_run_lowers_loss_and_beats_chance(tmp_path: Path) -> None:
    config = TrainConfig(model_args=SMALL, steps=80, batch_size=64, eval_every=80, log_every=10, lr=3e-3,
                         val_trials_per_alphabet=10, out_dir=str(tmp_path), seed=1, final_eval=False)  # fmt: skip
    summary = train(config)
    rows = [r for r in read_metrics(tmp_path) if "train_loss" in r]
    assert rows[-1]["train_loss"] < rows[0]["train_loss"] * 0.9
    assert summary["best_val_accuracy"] > 0.15  # chance is 1/20 on 20-way trials
    assert (tmp_path / "best" / "model.safetensors").is_file()
    assert (tmp_path / "curves.png").stat().st_size > 1000


@pytest.mark.slow
def test_kill_then_resume_gives_identical_weights(tmp_path: Path) -> None:
    steps = 150  # long enough that the poll below catches the run between two checkpoints
    reference = _train_cli(tmp_path / "straight", steps, "--eval-every", "50")
    assert reference.wait(timeout=300) == 0, reference.stdout.read()

    interrupted = tmp_path / "killed"
    process = _train_cli(interrupted, steps, "--eval-every", "50")
    deadline = time.time() + 240
    while time.time() < deadline:  # kill -9 once a checkpoint exists and training went past it
        state = load_state(interrupted) if (interrupted / "state.pt").exists() else None
        if state is not None and state["step"] >= 10:
            break
        time.sleep(0.2)
    process.send_signal(signal.SIGKILL)
    process.wait()
    killed_at = load_state(interrupted)["step"]
    assert 10 <= killed_at < steps, "the run finished before it could be killed"

    resumed = _train_cli(interrupted, steps, "--eval-every", "50")
    output, _ = resumed.communicate(timeout=300)
    assert resumed.returncode == 0, output
    assert f"resuming {interrupted} at step {killed_at}" in output

    a, b = load_state(tmp_path / "straight"), load_state(interrupted)
    assert a["step"] == b["step"] == steps
    for name, tensor in a["model"].items():
        assert torch.equal(tensor, b["model"][name]), name
    assert a["best"] == b["best"]
    strip = lambda rows: [{k: v for k, v in r.items() if k != "seconds"} for r in rows]  # noqa: E731
    assert strip(read_metrics(tmp_path / "straight")) == strip(read_metrics(interrupted))


@pytest.mark.slow
def test_torchrun_two_processes_on_cpu(tmp_path: Path) -> None:
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", "29533",
           str(ROOT / "scripts" / "train.py"), *QUICK, "--steps", "10", "--device", "cpu", "--out-dir", str(tmp_path)]  # fmt: skip
    result = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=400, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert result.returncode == 0, result.stderr[-3000:]
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["steps"] == 10
    assert load_state(tmp_path)["step"] == 10


def test_nan_loss_stops_with_message_and_keeps_checkpoint(tmp_path: Path) -> None:
    config = TrainConfig(model_args=SMALL, steps=200, batch_size=16, lr=1e6, optimizer="koch-sgd", eval_every=1000,
                         checkpoint_every=1, val_trials_per_alphabet=2, out_dir=str(tmp_path))  # fmt: skip
    with pytest.raises(TrainingError, match="last good checkpoint"):
        train(config)
    state = load_state(tmp_path)
    assert state is not None and all(torch.isfinite(t).all() for t in state["model"].values() if t.is_floating_point())


def test_resuming_with_other_settings_is_refused(tmp_path: Path) -> None:
    base = dict(model_args=SMALL, batch_size=16, eval_every=1000, checkpoint_every=1, val_trials_per_alphabet=1, out_dir=str(tmp_path),
                final_eval=False)
    train(TrainConfig(steps=2, **base))
    with pytest.raises(ValueError, match="--loss 'bce' -> 'contrastive'"):
        train(TrainConfig(steps=4, loss="contrastive", **base))
    assert load_state(tmp_path)["step"] == 2  # the saved run is untouched


def _straight_and_resumed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, **base) -> tuple[dict, dict]:
    """The final states of a run trained straight through and of the same run stopped after the
    checkpoint of step 3 (at step 4, as a Ctrl-C would) and resumed by the same call."""
    train(TrainConfig(out_dir=str(tmp_path / "straight"), **base))

    from siamese.training import loop

    schedule = loop.apply_schedule

    def interrupt_at_step_4(optimizer, config, step, *args):
        if step == 4:
            raise KeyboardInterrupt
        return schedule(optimizer, config, step, *args)

    monkeypatch.setattr(loop, "apply_schedule", interrupt_at_step_4)
    with pytest.raises(KeyboardInterrupt):
        train(TrainConfig(out_dir=str(tmp_path / "resumed"), **base))
    monkeypatch.setattr(loop, "apply_schedule", schedule)
    assert load_state(tmp_path / "resumed")["step"] == 3
    train(TrainConfig(out_dir=str(tmp_path / "resumed"), **base))
    return load_state(tmp_path / "straight"), load_state(tmp_path / "resumed")


def test_cosface_run_resumes_exactly_with_its_classifier(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    a, b = _straight_and_resumed(tmp_path, monkeypatch, model_args=SMALL, loss="cosface", batch_size=32, per_class=2,
                                 eval_every=1000, checkpoint_every=3, log_every=1, val_trials_per_alphabet=2,
                                 stroke_jitter=True, seed=5, steps=6, final_eval=False)  # fmt: skip
    assert a["classifier"]["weight"].shape[0] == 964  # one class vector per background character
    assert torch.equal(a["classifier"]["weight"], b["classifier"]["weight"])
    for name, tensor in a["model"].items():
        assert torch.equal(tensor, b["model"][name]), name
    assert "classifier" not in {k.split(".")[0] for k in a["model"]}  # the checkpoint keeps the embedding only


def test_the_cpu_fast_path_resumes_exactly(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    from siamese.training import execution

    monkeypatch.setattr(execution, "cpu_supports_bf16", lambda: True)  # bf16 autocast runs (emulated) on any CPU
    a, b = _straight_and_resumed(tmp_path, monkeypatch, model_args=SMALL, loss="prototypical", episode_way=8,
                                 episode_query=3, eval_every=1000, checkpoint_every=3, log_every=1,
                                 val_trials_per_alphabet=2, elastic=True, ema=0.9, seed=2, steps=6, device="cpu",
                                 final_eval=False)  # fmt: skip
    assert "training on cpu: bf16 autocast, channels_last" in capsys.readouterr().out
    for name, tensor in a["model"].items():
        assert torch.equal(tensor, b["model"][name]), name
    for name, tensor in a["ema"].items():  # the moving average resumes too
        assert torch.equal(tensor, b["ema"][name]), name
    assert not torch.equal(a["ema"]["module.project.weight"], a["model"]["project.weight"])
    strip = lambda rows: [{k: v for k, v in r.items() if k != "seconds"} for r in rows]  # noqa: E731
    assert strip(read_metrics(tmp_path / "straight")) == strip(read_metrics(tmp_path / "resumed"))


def test_ema_keeps_the_averaged_weights_in_best(tmp_path: Path) -> None:
    from safetensors.torch import load_file

    config = TrainConfig(model_args=SMALL, steps=4, batch_size=16, eval_every=4, log_every=1, ema=0.5, lr=1e-2,
                         val_trials_per_alphabet=2, out_dir=str(tmp_path), final_eval=False)  # fmt: skip
    train(config)
    state, best = load_state(tmp_path), load_file(tmp_path / "best" / "model.safetensors")
    assert torch.equal(best["project.weight"], state["ema"]["module.project.weight"])
    assert not torch.equal(best["project.weight"], state["model"]["project.weight"])
    with pytest.raises(ValueError, match="--ema must be a decay between 0 and 1"):
        train(TrainConfig(model_args=SMALL, steps=1, ema=1.5, out_dir=str(tmp_path / "bad"), final_eval=False))


def test_keep_final_delivers_the_last_averaged_weights_with_their_card(tmp_path: Path) -> None:
    from safetensors.torch import load_file

    config = TrainConfig(model_args=SMALL, steps=6, batch_size=16, eval_every=2, log_every=1, ema=0.5, lr=1e-2, keep="final",
                         val_trials_per_alphabet=2, out_dir=str(tmp_path), final_eval=False)  # fmt: skip
    summary = train(config)
    state, final = load_state(tmp_path), load_file(tmp_path / "final" / "model.safetensors")
    assert state["step"] == 6 and torch.equal(final["project.weight"], state["ema"]["module.project.weight"])
    last = [row for row in read_metrics(tmp_path) if "val_accuracy" in row][-1]
    assert last["step"] == 6 and summary["final_val_accuracy"] == last["val_accuracy"]
    card = (tmp_path / "final" / "README.md").read_text()
    assert "the final weights are kept" in card and f"at the end: **{100 * last['val_accuracy']:.1f}%**" in card
    with pytest.raises(ValueError, match="Unknown --keep 'last'; choose best"):
        train(TrainConfig(model_args=SMALL, steps=1, keep="last", out_dir=str(tmp_path / "bad"), final_eval=False))


def test_the_fast_path_is_chosen_by_the_hardware_and_no_amp_forces_fp32(monkeypatch: pytest.MonkeyPatch) -> None:
    from siamese.training import execution

    cpu = torch.device("cpu")
    for native in (True, False):
        monkeypatch.setattr(execution, "cpu_supports_bf16", lambda native=native: native)
        fast = execution.execution_for(cpu)
        assert (fast.bf16, fast.channels_last, fast.compile) == (native, native, False)
    assert execution.execution_for(cpu, amp=False).describe() == "cpu: fp32"
    cuda = execution.execution_for(torch.device("cuda"), amp=False, compile=True)
    assert (cuda.bf16, cuda.channels_last, cuda.compile) == (False, True, True)


def test_a_training_batch_depends_only_on_seed_and_step() -> None:
    from siamese.data import EpisodeSampler, load_omniglot
    from siamese.training.loop import TrainingBatches
    from siamese.transforms import training_augmentation

    data = load_omniglot("background", drawers=(1, 2, 3))
    images = (torch.rand(len(data), 1, 28, 28) > 0.7).to(torch.uint8) * 255
    make = lambda: TrainingBatches(images, EpisodeSampler(data, 5, 1, 2, seed=4), training_augmentation(28), 0, 1, seed=4)  # noqa: E731
    first, second = make(), make()
    in_order = [first[s][0] for s in range(3)]
    torch.manual_seed(99)  # the global generator plays no part
    assert torch.equal(second[2][0], in_order[2]) and torch.equal(second[0][0], in_order[0])
    assert not torch.equal(in_order[0], in_order[1])


def test_cosface_batch_must_split_into_classes(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="multiple of per_class"):
        train(TrainConfig(model_args=SMALL, loss="cosface", batch_size=33, per_class=2, out_dir=str(tmp_path), final_eval=False))


def test_a_student_learns_its_teachers_similarities(tmp_path: Path) -> None:
    from siamese.models import build_model

    torch.manual_seed(0)
    build_model("compact", **SMALL).save_pretrained(tmp_path / "teacher")
    base = dict(model_args=SMALL, loss="prototypical", episode_way=8, episode_query=3, eval_every=1000, log_every=1,
                val_trials_per_alphabet=2, final_eval=False, lr=3e-3)  # fmt: skip
    train(TrainConfig(steps=20, out_dir=str(tmp_path / "student"), teacher=str(tmp_path / "teacher"), distill_weight=50.0, **base))
    rows = [r["train_loss"] for r in read_metrics(tmp_path / "student") if "train_loss" in r]
    assert sum(rows[-5:]) < 0.8 * sum(rows[:5])
    with pytest.raises(ValueError, match="distillation needs the same preprocessing"):
        train(TrainConfig(steps=1, out_dir=str(tmp_path / "other"), teacher=str(tmp_path / "teacher"),
                          **{**base, "model_args": {**SMALL, "input_size": 32}}))  # fmt: skip
