"""CPU embedding speed of the default model against KochNet, measured interleaved in one process.

    python scripts/benchmark_cpu.py [--threads 2] [--repeats 20] [--json]

Prints images per second at batch 1 and batch 64 for each model and the ratio default / Koch.
Interleaving the two models' timings makes the ratio robust to a noisy machine.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from siamese.models import build_model  # noqa: E402


def time_once(model: torch.nn.Module, batch: torch.Tensor) -> float:
    start = time.perf_counter()
    model(batch)
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    models = {"default (compact)": build_model("compact").eval(), "koch": build_model("koch").eval()}
    results: dict[str, dict[str, float]] = {name: {} for name in models}
    with torch.inference_mode():
        for batch_size in (1, 64):
            inputs = {name: torch.rand(batch_size, 1, m.preprocess_config.size, m.preprocess_config.size) for name, m in models.items()}
            times: dict[str, list[float]] = {name: [] for name in models}
            for name, model in models.items():  # warm-up
                time_once(model, inputs[name])
            for _ in range(args.repeats if batch_size == 1 else max(3, args.repeats // 4)):
                for name, model in models.items():  # interleaved
                    times[name].append(time_once(model, inputs[name]))
            for name in models:
                results[name][f"images_per_s_batch{batch_size}"] = batch_size / statistics.median(times[name])
    ratio = {k: results["default (compact)"][k] / results["koch"][k] for k in results["koch"]}
    report = {"threads": args.threads, "models": results, "speedup_default_over_koch": ratio}
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    print(f"CPU embedding speed ({args.threads} threads, median of interleaved runs)")
    print(f"{'model':20s} {'img/s @1':>10s} {'img/s @64':>10s}")
    for name, r in results.items():
        print(f"{name:20s} {r['images_per_s_batch1']:10.1f} {r['images_per_s_batch64']:10.1f}")
    print(f"{'default / koch':20s} {ratio['images_per_s_batch1']:9.1f}x {ratio['images_per_s_batch64']:9.1f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
