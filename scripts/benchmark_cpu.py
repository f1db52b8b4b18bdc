"""Speed and cost on CPU: the default model against KochNet, measured in one process, interleaved.

    python scripts/benchmark_cpu.py [--threads 2] [--repeats 20] [--json] [--training-only]

Prints, for both models (the bundled default checkpoint and a KochNet with the paper's layers):

1. inference: images/s embedding batches of 1 and 64; ``match`` latency (p50/p95) of one drawing
   against a 26-, a 55- and the 1,623-character Omniglot gallery (preprocessing, embedding and
   ranking, as the web app runs it); pair ``compare`` throughput;
2. training: images/s of training steps (batch augmentation, forward, backward, AdamW) on
   prototypical episodes, in fp32 and on the fast path that ``scripts/train.py`` takes on this CPU
   (bf16 autocast + channels_last where the CPU has native bf16), for the default network, the
   widest one ranked (64-128-256-256) and KochNet, with the ratio ``training_fast_over_fp32``; and
   the CPU-minutes the bundled single network (``compact-omniglot``) took to reach 90% and 93%
   validation one-shot accuracy, from its ``metrics.jsonl`` (the default ensemble's members have
   their own runs);
3. FLOPs per image (``torch.utils.flop_counter``) against this CPU's achievable GFLOP/s, measured
   with a large matmul in the same run.

Every timing alternates between the models, so both see the same machine load, and the ratios
(default / Koch) are what to read on a noisy machine.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any, Callable

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from siamese.data import load_omniglot  # noqa: E402
from siamese.hub import CHECKPOINTS_DIR, load_model  # noqa: E402
from siamese.utils import percentile  # noqa: E402
from siamese.losses import prototypical_objective  # noqa: E402
from siamese.matching import SupportSet  # noqa: E402
from siamese.models import SiameseNet, build_model, model_kwargs_from_config  # noqa: E402
from siamese.training.execution import Execution, execution_for  # noqa: E402
from siamese.transforms import training_augmentation  # noqa: E402

GALLERIES = {"Latin (26)": "Latin", "Tifinagh (55)": "Tifinagh", "all (1,623)": None}
EPISODE = (20, 1, 5)  # way, shot, query: 120 images per training step, as the default model trains
WIDE = (64, 128, 256, 256)  # the widest network the accuracy ablations rank
#: The bundled single network trained by scripts/train.py, whose learning curve the report reads.
SINGLE_NETWORK = CHECKPOINTS_DIR / "compact-omniglot"


def interleaved(tasks: dict[Any, Callable[[], object]], repeats: int) -> dict[Any, list[float]]:
    """Seconds per call of each task, alternating between tasks after one warm-up call each."""
    for task in tasks.values():
        task()
    times: dict[Any, list[float]] = {name: [] for name in tasks}
    for _ in range(repeats):
        for name, task in tasks.items():
            start = time.perf_counter()
            task()
            times[name].append(time.perf_counter() - start)
    return times


def embedding_speed(models: dict[str, SiameseNet], repeats: int) -> dict[str, dict[str, float]]:
    result: dict[str, dict[str, float]] = {name: {} for name in models}
    for batch in (1, 64):
        inputs = {name: torch.rand(batch, *_input_shape(m)) for name, m in models.items()}
        times = interleaved({name: (lambda m=m, x=inputs[name]: m.embed(x)) for name, m in models.items()},
                            repeats if batch == 1 else max(3, repeats // 4))  # fmt: skip
        for name in models:
            result[name][f"images_per_s_batch{batch}"] = batch / statistics.median(times[name])
    return result


def match_latency(models: dict[str, SiameseNet], repeats: int) -> dict[str, dict[str, dict[str, float]]]:
    """One drawing (a PIL image, as the app gets it) against each gallery: p50/p95 in ms."""
    gallery = load_omniglot("all", drawers=(1,))
    drawings = load_omniglot("test", drawers=(2,)).images[:repeats]
    alphabets = [gallery.group_names[g] for g in gallery.groups]
    result: dict[str, dict[str, dict[str, float]]] = {name: {} for name in models}
    for label, alphabet in GALLERIES.items():
        index = [i for i, a in enumerate(alphabets) if alphabet is None or a == alphabet]
        supports = {}
        for name, model in models.items():
            supports[name] = SupportSet(model)
            supports[name].process_support_set([gallery.images[i] for i in index], [str(i) for i in index])
        cursor = {name: iter(drawings * 2) for name in models}
        times = interleaved({name: (lambda s=supports[name], c=cursor[name]: s.top_k(next(c), 5)) for name in models}, len(drawings) - 1)
        for name in models:
            result[name][label] = {"p50_ms": 1000 * statistics.median(times[name]), "p95_ms": 1000 * percentile(times[name], 0.95)}
    return result


def compare_throughput(models: dict[str, SiameseNet], repeats: int, pairs: int = 64) -> dict[str, float]:
    """Pairs/s scoring preprocessed pairs in batches (both sides embedded, then the head)."""
    inputs = {name: (torch.rand(pairs, *_input_shape(m)), torch.rand(pairs, *_input_shape(m))) for name, m in models.items()}

    @torch.inference_mode()
    def score(model: SiameseNet, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        features = model.embed(torch.cat([a, b]))
        return torch.sigmoid(model.pair_logits(features[:pairs], features[pairs:]))

    times = interleaved({name: (lambda m=m, x=inputs[name]: score(m, *x)) for name, m in models.items()}, max(3, repeats // 4))
    return {name: pairs / statistics.median(times[name]) for name in models}


def training_speed(models: dict[str, SiameseNet], repeats: int) -> dict[str, dict[str, float]]:
    """Training images/s of each network in fp32 and on this CPU's fast path: prototypical episodes of
    120 images, augmented as a batch from uint8 (as ``scripts/train.py`` does), forward, backward, AdamW."""
    way, shot, query = EPISODE
    n_images = way * (shot + query)
    cpu = torch.device("cpu")
    paths = {"fp32": execution_for(cpu, amp=False), "fast": execution_for(cpu, amp=True)}
    steps = {}
    for name, model in models.items():
        for path, execution in paths.items():
            steps[(name, path)] = _training_step(model, execution, n_images, (way, shot, query))
    times = interleaved(steps, max(3, repeats // 4))
    result: dict[str, dict[str, float]] = {name: {} for name in models}
    for (name, path), seconds in times.items():
        result[name][path] = n_images / statistics.median(seconds)
    for name in models:
        result[name]["fast_path"] = paths["fast"].describe()
    return result


def _training_step(model: SiameseNet, execution: Execution, n_images: int, episode: tuple[int, int, int]) -> Callable[[], None]:
    way, shot, query = episode
    cls, kwargs = model_kwargs_from_config(model.config())
    torch.manual_seed(0)
    trainee = cls(**kwargs).train().to(memory_format=execution.memory_format)
    optimizer = torch.optim.AdamW(trainee.parameters(), lr=1e-4)
    channels, size, _ = _input_shape(model)
    stored = (torch.rand(n_images, channels, size, size) > 0.8).to(torch.uint8) * 255  # training keeps uint8 images
    augment = training_augmentation(size)
    generator = torch.Generator().manual_seed(0)

    def step() -> None:
        images = augment(stored.float().div_(255.0), generator).contiguous(memory_format=execution.memory_format)
        with execution.autocast():
            features = trainee(images).float()
        support = features[: way * shot].reshape(way, shot, -1)
        loss = prototypical_objective(trainee, support, features[way * shot :].reshape(way, query, -1))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    return step


def matmul_gflops(size: int = 2048, repeats: int = 5) -> float:
    """Achievable fp32 GFLOP/s of this CPU: the best of a few large matrix products."""
    a, b = torch.rand(size, size), torch.rand(size, size)
    a @ b
    best = min(_seconds(lambda: a @ b) for _ in range(repeats))
    return 2 * size**3 / best / 1e9


def minutes_to_reach(metrics: Path, targets: tuple[float, ...] = (0.90, 0.93)) -> dict[str, float | None]:
    """CPU-minutes of training until validation one-shot accuracy first reached each target."""
    rows = [json.loads(line) for line in metrics.read_text().splitlines() if line.strip()]
    clock = {row["step"]: row["seconds"] for row in rows if "seconds" in row}
    reached: dict[str, float | None] = {}
    for target in targets:
        hits = [row["step"] for row in rows if row.get("val_accuracy", 0.0) >= target]
        seconds = [clock[s] for s in clock if hits and s <= hits[0]]
        reached[f"{target:.0%}"] = round(max(seconds) / 60, 1) if hits and seconds else None
    best = max((row.get("val_accuracy", 0.0) for row in rows), default=0.0)
    reached["best_val_accuracy"] = best
    return reached


def _input_shape(model: SiameseNet) -> tuple[int, int, int]:
    config = model.preprocess_config
    return (config.channels, config.input_size, config.input_size)


def _seconds(task: Callable[[], object]) -> float:
    start = time.perf_counter()
    task()
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--repeats", type=int, default=20, help="timed calls per measurement (default: 20)")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of tables")
    parser.add_argument("--training-only", action="store_true", help="measure training images/s only (fp32 against the fast path)")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    models = {"default": load_model(), "koch": build_model("koch").eval()}
    # Training is timed for one network of the default recipe (the default model's members are such networks).
    network, wide = build_model("compact").eval(), build_model("compact", widths=WIDE).eval()

    peak = matmul_gflops()
    flops = {name: m.flops_per_image() for name, m in models.items()}
    embedding = embedding_speed(models, args.repeats)
    training = training_speed({"default": network, "wide": wide, "koch": models["koch"]}, args.repeats)
    if args.training_only:
        ratios = {name: row["fast"] / row["fp32"] for name, row in training.items()}
        report = {"threads": args.threads, "training_images_per_s": training, "training_fast_over_fp32": ratios, "wide_widths": list(WIDE)}
        print(json.dumps(report, indent=2) if args.json else "\n".join(format_training(report)))
        return 0
    report = {
        "threads": args.threads,
        "embedding": embedding,
        "match": match_latency(models, args.repeats),
        "compare_pairs_per_s": compare_throughput(models, args.repeats),
        "training_images_per_s": training,
        "training_fast_over_fp32": {name: row["fast"] / row["fp32"] for name, row in training.items()},
        "wide_widths": list(WIDE),
        "flops_per_image": flops,
        "matmul_gflops": peak,
        "fraction_of_matmul_peak_batch64": {
            name: flops[name] * embedding[name]["images_per_s_batch64"] / 1e9 / peak for name in models
        },
        "single_network_minutes_to_val_accuracy": minutes_to_reach(SINGLE_NETWORK / "metrics.jsonl"),
    }
    report["ratio_default_over_koch"] = {
        "embedding_batch1": embedding["default"]["images_per_s_batch1"] / embedding["koch"]["images_per_s_batch1"],
        "embedding_batch64": embedding["default"]["images_per_s_batch64"] / embedding["koch"]["images_per_s_batch64"],
        "compare": report["compare_pairs_per_s"]["default"] / report["compare_pairs_per_s"]["koch"],
        "training": training["default"]["fast"] / training["koch"]["fast"],
    }
    print(json.dumps(report, indent=2) if args.json else format_report(report))
    return 0


def format_training(r: dict) -> list[str]:
    training = r["training_images_per_s"]
    lines = [f"training images/s, 120-image episodes ({training['default']['fast_path']} against fp32):"]
    for name, row in training.items():
        label = f"{name} ({'-'.join(map(str, r['wide_widths']))})" if name == "wide" else name
        lines.append(f"  {label:30s} fp32 {row['fp32']:8.1f}   fast {row['fast']:8.1f}   "
                     f"fast/fp32 {r['training_fast_over_fp32'][name]:.2f}x")  # fmt: skip
    return lines


def format_report(r: dict) -> str:
    names = list(r["embedding"])
    lines = [f"CPU benchmark ({r['threads']} threads; medians of interleaved runs)", ""]
    lines.append(f"{'':34s}" + "".join(f"{n:>14s}" for n in names) + f"{'default/koch':>14s}")

    def row(label: str, values: list[float], fmt: str, ratio: float | None = None) -> None:
        cells = "".join(f"{v:>14{fmt}}" for v in values)
        lines.append(f"{label:34s}{cells}" + (f"{ratio:>13.1f}x" if ratio is not None else ""))

    ratio = r["ratio_default_over_koch"]
    row("embed images/s, batch 1", [r["embedding"][n]["images_per_s_batch1"] for n in names], ".1f", ratio["embedding_batch1"])
    row("embed images/s, batch 64", [r["embedding"][n]["images_per_s_batch64"] for n in names], ".1f", ratio["embedding_batch64"])
    for gallery in GALLERIES:
        row(f"match p50 ms, {gallery}", [r["match"][n][gallery]["p50_ms"] for n in names], ".1f")
        row(f"match p95 ms, {gallery}", [r["match"][n][gallery]["p95_ms"] for n in names], ".1f")
    row("compare pairs/s (batches of 64)", [r["compare_pairs_per_s"][n] for n in names], ".1f", ratio["compare"])
    row("training images/s (fast path)", [r["training_images_per_s"][n]["fast"] for n in names], ".1f", ratio["training"])
    row("MFLOPs per image", [r["flops_per_image"][n] / 1e6 for n in names], ".1f")
    row("fraction of matmul peak (b64)", [100 * r["fraction_of_matmul_peak_batch64"][n] for n in names], ".1f")
    lines.append(f"(percent; this CPU's fp32 matmul: {r['matmul_gflops']:.1f} GFLOP/s)")
    lines += ["", *format_training(r)]
    reach = r["single_network_minutes_to_val_accuracy"]
    lines.append("")
    lines.append(f"bundled single network, CPU-minutes to validation one-shot 90%: {reach['90%'] or 'not reached'}, "
                 f"93%: {reach['93%'] or 'not reached'} (best {100 * reach['best_val_accuracy']:.2f}%; {SINGLE_NETWORK.name}/metrics.jsonl)")  # fmt: skip
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
