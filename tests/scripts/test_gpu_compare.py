"""scripts/gpu_compare.sh, the admin's one-GPU comparison, runs end to end (here on CPU, briefly)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_gpu_compare_trains_and_evaluates_both_models(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHON": sys.executable, "WORKERS": "0", "PYTHONUNBUFFERED": "1"}
    result = subprocess.run(["bash", str(ROOT / "scripts" / "gpu_compare.sh"), str(tmp_path), "0.05"], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=1200)  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads((tmp_path / "report.json").read_text())
    assert set(report) == {"compact", "koch"}
    for arch in ("compact", "koch"):
        assert report[arch]["lake-runs"]["n_trials"] == 400
        assert report[arch]["oneshot"]["n_trials"] == 400
        assert 0.0 <= report[arch]["mnist-transfer"]["accuracy"] <= 1.0
    assert "lake-runs" in result.stdout  # the printed comparison table
