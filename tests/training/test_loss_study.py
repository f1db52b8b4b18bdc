"""The loss study command: end to end on a tiny budget, idempotent, and one-line errors for what cannot run."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from siamese.data.demo import make_demo_folder
from siamese.training.loss_study import LossStudyConfig, StudyError, train_config

ROOT = Path(__file__).resolve().parents[2]
TINY = ["--seeds", "1", "--steps", "4", "--eval-every", "2", "--trials-per-group", "20", "--pairs", "40", "--shown-pairs", "4",
        "--margins", "0.5,1", "--extra", json.dumps({"batch_size": 16, "episode_way": 4, "per_class": 4})]  # fmt: skip


def _study(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "TQDM_DISABLE": "1"}
    return subprocess.run([sys.executable, str(ROOT / "scripts" / "compare_losses.py"), *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=600)  # fmt: skip


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.mark.slow
def test_the_study_writes_its_table_and_figures_and_a_second_run_changes_nothing(tmp_path: Path) -> None:
    data = f"folder:{make_demo_folder(tmp_path / 'shapes')}"
    args = ["--data", data, *TINY, "--out-dir", str(tmp_path / "runs"), "--docs-dir", str(tmp_path / "docs")]
    first = _study(*args)
    assert first.returncode == 0, first.stderr[-3000:]
    docs = tmp_path / "docs"
    assert {p.name for p in docs.iterdir()} == {"folder.md", "folder.json", "folder-loss-curves.png", "folder-validation.png",
                                                "folder-pairs.png"}  # fmt: skip
    report = json.loads((docs / "folder.json").read_text())
    assert list(report["table"]) == ["bce", "contrastive", "prototypical", "cosface", "koch"]
    assert report["contrastive_margin"] in (0.5, 1.0) and set(report["margins"]) == {"0.5", "1.0"}
    table = (docs / "folder.md").read_text()
    for objective in report["table"]:
        row = next(line for line in table.splitlines() if line.startswith(f"| {objective}"))
        accuracy = report["table"][objective]["oneshot.accuracy"]["mean"]
        assert f"| {100 * accuracy:.1f} ± 0.0 |" in row
        assert report["table"][objective]["steps"]["mean"] == 4
    assert report["flops_per_image"]["koch"] > 50 * report["flops_per_image"]["bce"]  # the paper's net at 105 x 105
    assert all((docs / f"folder-{n}.png").stat().st_size > 5000 for n in ("loss-curves", "validation", "pairs"))

    before = {**_snapshot(docs), **_snapshot(tmp_path / "runs")}
    second = _study(*args)
    assert second.returncode == 0, second.stderr[-3000:]
    assert {**_snapshot(docs), **_snapshot(tmp_path / "runs")} == before


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--objectives", "bce,triplet"], "error: Unknown objective triplet; choose from bce, contrastive, prototypical, cosface, koch."),
        (["--cpu-minutes", "0"], "error: The budget is empty: give --cpu-minutes or --steps a positive value."),
        (["--seeds", "0"], "error: --seeds must be at least 1, got 0."),
        (["--margins", "-1"], "error: --margins must be positive numbers, got '-1'."),
    ],
)
def test_what_cannot_run_gets_a_one_line_error_before_any_training(tmp_path: Path, args: list[str], message: str) -> None:
    result = _study(*args, "--out-dir", str(tmp_path / "runs"), "--docs-dir", str(tmp_path / "docs"))
    assert result.returncode == 2
    assert result.stderr.strip() == message
    assert not (tmp_path / "runs").exists() and not (tmp_path / "docs").exists()


def test_every_objective_trains_the_same_network_on_the_same_data_and_budget() -> None:
    config = LossStudyConfig(cpu_minutes=2.5)
    runs = {o: train_config(config, o, seed=1) for o in ("bce", "contrastive", "prototypical", "cosface")}
    shared = ("data", "architecture", "model_args", "augment", "within_alphabet", "seed", "max_minutes", "budget_clock", "optimizer", "lr")
    for field in shared:
        assert len({json.dumps(getattr(c, field)) for c in runs.values()}) == 1, field
    assert runs["bce"].budget_clock == "cpu" and runs["bce"].max_minutes == 2.5
    assert [c.loss for c in runs.values()] == ["bce", "contrastive", "prototypical", "cosface"]
    koch = train_config(config, "koch", seed=1)
    assert (koch.architecture, koch.optimizer, koch.loss, koch.model_args) == ("koch", "koch-sgd", "bce", {})
    with pytest.raises(StudyError):
        LossStudyConfig(extra={"no_such_setting": 1}).check()
