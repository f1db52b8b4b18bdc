"""Training throughput on one GPU: fp32 eager against the fast path, for both models, in one run.

    python scripts/benchmark_gpu.py [--seconds 20] [--batch 120] [--json]

For the default model and KochNet, times training steps (forward, backward, AdamW) on batches
already on the device (the training loop keeps the preprocessed data set there too), in two modes:

- ``fp32-eager``: float32, NCHW, no compilation;
- ``fast``: bfloat16 autocast, channels_last and ``torch.compile``, the training script's default on CUDA.

It reports images/s, the speed-up of ``fast`` over ``fp32-eager``, the achieved TFLOP/s (FLOPs per
training image from ``torch.utils.flop_counter``) and its fraction of the GPU's bf16 matmul peak,
measured in the same run with a large matrix product. On a machine without CUDA only
``fp32-eager`` runs (on the CPU), so the script can be tried anywhere.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Callable

import torch
from torch.utils.flop_counter import FlopCounterMode

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from siamese.models import SiameseNet, build_model  # noqa: E402
from siamese.training.execution import Execution, execution_for  # noqa: E402

MODELS = ("compact", "koch")


def make_step(model: SiameseNet, batch: torch.Tensor, execution: Execution) -> Callable[[], torch.Tensor]:
    """One training step on ``batch`` (a BCE pair loss on the head: both halves of the batch), run as ``execution`` says."""
    model = model.to(memory_format=execution.memory_format)
    batch = batch.contiguous(memory_format=execution.memory_format)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
    forward = torch.compile(model) if execution.compile else model
    targets = (torch.arange(len(batch) // 2, device=batch.device) % 2).float()

    def step() -> torch.Tensor:
        with execution.autocast():
            features = forward(batch).float()
        left, right = features.chunk(2)
        loss = torch.nn.functional.binary_cross_entropy_with_logits(model.pair_logits(left, right), targets)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        return loss

    return step


def images_per_second(step: Callable[[], torch.Tensor], batch_size: int, seconds: float, device: torch.device) -> float:
    for _ in range(3):  # warm-up (and compilation)
        step()
    _sync(device)
    done, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds or done < 3:
        step()
        done += 1
        if done % 10 == 0:
            _sync(device)
    _sync(device)
    return done * batch_size / (time.perf_counter() - start)


def training_flops_per_image(model: SiameseNet, batch: torch.Tensor) -> float:
    """FLOPs of one training image: forward and backward, counted on a copy of the model."""
    counter = FlopCounterMode(display=False)
    with counter:
        model(batch[:2]).float().sum().backward()
    model.zero_grad(set_to_none=True)
    return counter.get_total_flops() / 2


def bf16_matmul_tflops(device: torch.device, size: int = 8192, repeats: int = 10) -> float | None:
    """The bf16 dense matmul rate this GPU achieves (the practical peak); None on CPU."""
    if device.type != "cuda":
        return None
    a = torch.randn(size, size, device=device, dtype=torch.bfloat16)
    b = torch.randn(size, size, device=device, dtype=torch.bfloat16)
    a @ b
    _sync(device)
    start = time.perf_counter()
    for _ in range(repeats):
        a @ b
    _sync(device)
    return 2 * size**3 * repeats / (time.perf_counter() - start) / 1e12


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=20.0, help="timed seconds per model and mode (default: 20)")
    parser.add_argument("--batch", type=int, default=128, help="images per training step (default: 128)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    torch.backends.cudnn.benchmark = True
    modes = ("fp32-eager", "fast") if device.type == "cuda" else ("fp32-eager",)
    peak = bf16_matmul_tflops(device)
    report: dict = {"device": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
                    "bf16_matmul_tflops": peak, "models": {}}  # fmt: skip
    for arch in MODELS:
        torch.manual_seed(0)
        probe = build_model(arch)
        size = probe.preprocess_config.input_size
        batch = torch.rand(args.batch, probe.preprocess_config.channels, size, size, device=device)
        flops = training_flops_per_image(probe.to(device), batch)
        row: dict = {"training_gflops_per_image": flops / 1e9}
        for mode in modes:
            torch.manual_seed(0)
            model = build_model(arch).to(device).train()
            execution = execution_for(device, amp=mode == "fast", compile=mode == "fast")  # what scripts/train.py runs
            rate = images_per_second(make_step(model, batch, execution), args.batch, args.seconds, device)
            row[mode] = {"images_per_s": rate, "tflops": rate * flops / 1e12}
            if peak:
                row[mode]["fraction_of_bf16_peak"] = rate * flops / 1e12 / peak
        if "fast" in row:
            row["speedup"] = row["fast"]["images_per_s"] / row["fp32-eager"]["images_per_s"]
        report["models"][arch] = row
    print(json.dumps(report, indent=2) if args.json else format_report(report))
    return 0


def format_report(report: dict) -> str:
    lines = [f"training throughput on {report['device']}"
             + (f" (bf16 matmul: {report['bf16_matmul_tflops']:.0f} TFLOP/s)" if report["bf16_matmul_tflops"] else "")]  # fmt: skip
    lines.append(f"{'model':10s}{'mode':12s}{'images/s':>12s}{'TFLOP/s':>10s}{'of peak':>9s}{'speed-up':>10s}")
    for arch, row in report["models"].items():
        for mode in ("fp32-eager", "fast"):
            if mode not in row:
                continue
            cell = row[mode]
            share = f"{100 * cell['fraction_of_bf16_peak']:8.1f}%" if "fraction_of_bf16_peak" in cell else f"{'-':>9s}"
            speedup = f"{row['speedup']:9.2f}x" if mode == "fast" else f"{'':10s}"
            lines.append(f"{arch:10s}{mode:12s}{cell['images_per_s']:12.1f}{cell['tflops']:10.3f}{share}{speedup}")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
