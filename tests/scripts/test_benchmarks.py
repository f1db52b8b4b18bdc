"""The benchmark scripts run and report what they claim (the figures themselves go in docs/results.md)."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

SCRIPTS = Path(__file__).resolve().parents[2] / "scripts"


def _script(name: str):
    spec = importlib.util.spec_from_file_location(name, SCRIPTS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def test_cpu_benchmark_counts_flops_and_reads_the_metrics_log(tmp_path):
    bench = _script("benchmark_cpu")
    from siamese.models import build_model

    compact, koch = build_model("compact"), build_model("koch")
    assert 10 * compact.flops_per_image() < koch.flops_per_image()
    log = tmp_path / "metrics.jsonl"
    rows = [{"step": 100, "train_loss": 1.0, "seconds": 60.0}, {"step": 100, "val_accuracy": 0.88},
            {"step": 200, "train_loss": 0.9, "seconds": 150.0}, {"step": 200, "val_accuracy": 0.91}]  # fmt: skip
    log.write_text("\n".join(json.dumps(r) for r in rows))
    assert bench.minutes_to_reach(log) == {"90%": 2.5, "93%": None, "best_val_accuracy": 0.91}


def test_gpu_benchmark_runs_its_cpu_part(capsys):
    bench = _script("benchmark_gpu")
    assert bench.main(["--seconds", "0.2", "--batch", "4", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    for arch in ("compact", "koch"):
        row = report["models"][arch]
        assert row["fp32-eager"]["images_per_s"] > 0 and row["training_gflops_per_image"] > 0
        if report["device"] == "cpu":
            assert "fast" not in row  # CUDA-only: bf16 autocast + channels_last + torch.compile
    assert report["models"]["koch"]["training_gflops_per_image"] > 10 * report["models"]["compact"]["training_gflops_per_image"]


@pytest.mark.slow
def test_cpu_benchmark_prints_every_figure(capsys):
    bench = _script("benchmark_cpu")
    assert bench.main(["--repeats", "3", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert set(report["match"]["default"]) == set(bench.GALLERIES)
    assert report["ratio_default_over_koch"]["embedding_batch64"] > 1
