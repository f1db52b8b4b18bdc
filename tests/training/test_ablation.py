"""The ablation rows: their documented commands train what the rows say, and a trained row is judged on its final weights."""

from __future__ import annotations

import json
import shlex
import subprocess
import sys
from dataclasses import asdict
from pathlib import Path

import pytest

import torch

from siamese.hub import load_model
from siamese.training import TrainConfig, train
from siamese.training.state import load_state
from siamese.training.ablation import DEFAULT_ROOT, ROWS, command_line, judge_row, markdown_document, markdown_table, row_config
from siamese.training.cli import build_parser

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("name", list(ROWS))
def test_each_rows_command_parses_back_to_its_config(name: str) -> None:
    config = row_config(name, 45.0, Path("runs/ablate"))
    words = shlex.split(command_line(config))
    assert words[:3] == ["OMP_NUM_THREADS=1", "python", "scripts/train.py"]
    parsed = TrainConfig(**vars(build_parser().parse_args(words[3:])))
    assert asdict(parsed) == asdict(config)
    assert config.budget_clock == "cpu" and config.max_minutes == 45.0 and not config.final_eval


def test_unknown_rows_are_refused() -> None:
    with pytest.raises(ValueError, match="Unknown ablation row 'wider'"):
        row_config("wider", 45.0, Path("runs"))


def test_a_row_is_judged_on_its_final_averaged_weights(tmp_path: Path) -> None:
    small = {"input_size": 28, "widths": [8, 16, 16, 16], "embedding_dim": 16}
    train(TrainConfig(model_args=small, loss="prototypical", steps=4, eval_every=2, log_every=1, ema=0.5,
                      val_trials_per_alphabet=2, out_dir=str(tmp_path / "tiny"), final_eval=False))  # fmt: skip
    judged = judge_row(tmp_path / "tiny", trials_per_alphabet=4)
    assert judged["step"] == 4 and judged["trials_per_alphabet"] == 4
    assert 0.0 <= judged["group_interval"][0] <= judged["val_accuracy"] <= judged["group_interval"][1] <= 1.0
    assert len(judged["per_alphabet"]) == 10 and set(judged["curve"]) == {"2", "4"}
    assert judged["ms_per_image"]["batch1"] > 0 and "--ema 0.5" in judged["command"]
    assert json.loads((tmp_path / "tiny" / "ablation.json").read_text()) == judged  # kept, not measured again
    final = load_model(tmp_path / "tiny" / "final")  # the judged weights, as a checkpoint
    assert torch.equal(final.state_dict()["project.weight"], load_state(tmp_path / "tiny")["ema"]["module.project.weight"])
    table = markdown_table([judged])
    assert "| tiny |" in table and f"{100 * judged['val_accuracy']:.2f}%" in table


def test_the_command_refuses_unknown_rows_in_one_line() -> None:
    result = subprocess.run([sys.executable, str(ROOT / "scripts" / "ablate.py"), "run", "--rows", "base-56,bigger"],
                            capture_output=True, text=True, timeout=120)  # fmt: skip
    assert result.returncode == 2
    assert result.stderr.strip() == f"error: unknown rows bigger; choose from {', '.join(ROWS)}."


def test_a_difference_is_judged_paired_over_alphabets() -> None:
    from siamese.training.ablation import paired_difference

    base = {"per_alphabet": {f"a{i}": 0.6 + 0.03 * i for i in range(10)}}  # alphabets from 60% to 87%
    better = {"per_alphabet": {a: v + 0.02 for a, v in base["per_alphabet"].items()}}  # 2 points on every one
    noisy = {"per_alphabet": {a: v + (0.04 if i % 2 else -0.04) for i, (a, v) in enumerate(base["per_alphabet"].items())}}
    difference, (low, high) = paired_difference(better, base)
    assert difference == pytest.approx(0.02) and low == pytest.approx(0.02) and high == pytest.approx(0.02)
    difference, (low, high) = paired_difference(noisy, base)
    assert abs(difference) < 1e-9 and low < 0 < high  # a tie, however far apart the alphabets are


def test_an_ensemble_of_rows_is_judged_as_a_row_and_kept_as_a_checkpoint(tmp_path: Path) -> None:
    from siamese.models import EnsembleNet
    from siamese.training.ablation import report

    small = {"input_size": 28, "widths": [8, 16, 16, 16], "embedding_dim": 16}
    for name, seed in (("a", 0), ("b", 1)):
        train(TrainConfig(model_args=small, loss="prototypical", steps=2, eval_every=2, log_every=1, seed=seed,
                          val_trials_per_alphabet=2, out_dir=str(tmp_path / name), final_eval=False))  # fmt: skip
    with pytest.raises(ValueError, match="needs rows that have not trained: c"):
        report(tmp_path, ["a"], [["a", "c"]])
    a, b, both = report(tmp_path, ["a", "b"], [["a", "b"]])
    assert both["name"] == "a+b" and both["step"] == 4 and both["cpu_minutes"] == pytest.approx(a["cpu_minutes"] + b["cpu_minutes"])
    assert len(both["per_alphabet"]) == 10 and both["curve"] == {} and "scripts/ensemble.py" in both["command"]
    ensemble = load_model(tmp_path / "ensembles" / "a+b")
    assert isinstance(ensemble, EnsembleNet) and len(ensemble.members) == 2
    assert "| a+b | ensemble" in markdown_table([a, b, both])
    # a longer run of the same rows under another root is judged paired against these
    train(TrainConfig(model_args=small, loss="prototypical", steps=3, eval_every=3, log_every=1,
                      val_trials_per_alphabet=2, out_dir=str(tmp_path / "long" / "a"), final_eval=False))  # fmt: skip
    reference, longer = report(tmp_path / "long", ["a"], versus=tmp_path / "ensembles" / "a+b")
    assert reference["name"] == str(tmp_path / "ensembles" / "a+b") and reference["val_accuracy"] == both["val_accuracy"]
    assert longer["name"] == "a" and longer["step"] == 3
    table = markdown_table([reference, longer])
    assert f"| {tmp_path / 'ensembles' / 'a+b'} | ensemble: the mean of the members' cosines (the reference, from another root) |" in table
    document = markdown_document(table, tmp_path / "long")  # its docs page says where its rows trained
    assert document.startswith(f"# Ablations at equal CPU-minutes ({tmp_path / 'long'})") and table in document
    assert f"`python scripts/ablate.py report --root {tmp_path / 'long'}`" in document
    assert "--root" not in markdown_document(markdown_table([a]), DEFAULT_ROOT).split("| row |")[0]
    assert report(tmp_path / "long", [], versus=tmp_path / "b")[0]["step"] == 2  # a row folder is judged as a row
    with pytest.raises(ValueError, match="neither a trained row nor a judged ensemble"):
        report(tmp_path / "long", ["a"], versus=tmp_path / "ensembles")


def _children(pid: int) -> list[int]:
    """The processes whose parent is ``pid`` (from /proc: this suite runs on Linux)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


@pytest.mark.slow
def test_kill_stops_the_rows_training_in_the_background(tmp_path: Path) -> None:
    # A background job ignores SIGINT; `kill PID` must still stop the workers, not leave them training unowned.
    import os
    import signal
    import time

    command = [sys.executable, str(ROOT / "scripts" / "ablate.py"), "run", "--rows", "base-56", "--minutes", "30", "--jobs", "1",
               "--root", str(tmp_path)]  # fmt: skip
    parent = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN))  # as `&` in a script
    log = tmp_path / "base-56" / "train.log"
    deadline = time.monotonic() + 300
    while not (log.is_file() and "scripts/train.py" in log.read_text()):
        assert parent.poll() is None and time.monotonic() < deadline, parent.communicate()[1][-2000:]
        time.sleep(0.5)
    workers = [pid for pid in _children(parent.pid) if "spawn_main" in Path(f"/proc/{pid}/cmdline").read_text()]
    assert workers
    parent.send_signal(signal.SIGTERM)
    _, stderr = parent.communicate(timeout=120)
    assert parent.returncode == 130 and "run the same command again" in stderr and "Traceback" not in stderr, stderr[-2000:]
    time.sleep(1)
    assert not [pid for pid in workers if os.path.exists(f"/proc/{pid}")], "a worker outlived ablate.py"
