"""Evaluate a model from the command line.

    python -m siamese.evaluate lake-runs                  # Lake's 20 official 20-way runs (400 trials)
    python -m siamese.evaluate oneshot                    # Koch's protocol: fresh 20-way within-alphabet trials
    python -m siamese.evaluate verification --pairs 2000  # same/different pairs: accuracy, ROC AUC, ECE
    python -m siamese.evaluate mnist-transfer --baseline  # 10-way one-shot MNIST, and the pixel 1-NN baseline
    python -m siamese.evaluate sketches                   # Lake's runs with the test items re-drawn as sketches
    python -m siamese.evaluate ranking                    # the page's task: a drawing against every character of its alphabet
    python -m siamese.evaluate ranking --across-alphabets # ... against all 659 evaluation characters at once
    python -m siamese.evaluate rejection                  # choose the "no confident match" threshold on validation
    python -m siamese.evaluate oneshot --data att_faces --way 5                       # faces: 5-way on subjects s36-s40
    python -m siamese.evaluate oneshot --data att_faces --split held-out --way 10     # faces: 10-way on s31-s40
    python -m siamese.evaluate verification --data att_faces                          # faces: pairs of s36-s40
    python -m siamese.evaluate oneshot --data mnist --way 4                           # digits 6-9 of the MNIST test set
    python -m siamese.evaluate verification --data mnist --split all                  # all ten digits of the test set

``--data`` names a protocol of ``siamese.data.splits`` (omniglot, mnist, att_faces, folder:PATH) and
``--split`` one of its splits (default: ``test``; for Omniglot verification, ``validation``).

Every mode takes ``--model SOURCE`` (a folder or a Hub repo id; default: the bundled model) and
``--json`` (exactly one JSON object on stdout; progress and messages go to stderr).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import shlex
import sys
import time
from pathlib import Path
from typing import Any

from siamese.data import DataError, ImageSet, PairSampler, load_lake_runs
from siamese.data.omniglot import RUN_DRAWERS
from siamese.data.splits import SPLITS, describe_split, load_split, protocol
from siamese.evaluation import (
    Scorer,
    evaluate_lake_runs,
    evaluate_mnist_transfer,
    evaluate_oneshot,
    evaluate_ranking,
    evaluate_rejection,
    evaluate_sketch_styles,
    evaluate_verification,
    model_scorer,
    pixel_nearest_neighbour_scorer,
    plot_pair_scores,
)
from siamese.hub import load_model
from siamese.models import CheckpointError

MODES = ("lake-runs", "oneshot", "verification", "mnist-transfer", "sketches", "ranking", "rejection")
#: Fresh test-split trials use the drawers that the official runs do not (9-20), so they are new images.
FRESH_DRAWERS = tuple(d for d in range(1, 21) if d not in RUN_DRAWERS)


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--model", metavar="SOURCE", help="checkpoint folder or Hub repo id (default: bundled model)")
    common.add_argument("--device", default="cpu", help="torch device to run the model on (default: cpu)")
    common.add_argument("--json", action="store_true", help="print one JSON object on stdout instead of a table")
    common.add_argument("--seed", type=int, default=0, help="seed of the sampled trials or pairs (default: 0)")
    baseline = argparse.ArgumentParser(add_help=False)
    baseline.add_argument("--baseline", action="store_true", help="also score the same trials with pixel 1-NN")
    plot = argparse.ArgumentParser(add_help=False)
    plot.add_argument("--plot", metavar="PATH", help="save a PNG of scored example pairs")

    parser = argparse.ArgumentParser(
        prog="python -m siamese.evaluate", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    modes = parser.add_subparsers(dest="mode", required=True, metavar="MODE")
    modes.add_parser("lake-runs", parents=[common, baseline, plot], help="Lake's 20 official one-shot runs")

    data = argparse.ArgumentParser(add_help=False)
    data.add_argument("--data", default="omniglot", metavar="SPEC", help="omniglot (default), mnist, att_faces or folder:PATH")
    data.add_argument("--split", default=None, metavar="SPLIT", help="which classes: " + "; ".join(
        f"{name}: {', '.join(splits)}" for name, splits in SPLITS.items()) + " (default: test; Omniglot verification: validation)")  # fmt: skip

    oneshot = modes.add_parser("oneshot", parents=[common, data, baseline], help="sampled N-way k-shot trials")
    oneshot.add_argument("--way", type=_positive, default=20, help="classes per trial (default: 20)")
    oneshot.add_argument("--shot", type=_positive, default=1, help="support images per class (default: 1)")
    oneshot.add_argument("--trials-per-alphabet", "--trials-per-group", type=_positive, default=40, dest="trials_per_alphabet",
                         help="trials per alphabet (per group: MNIST, the faces and folders have one; default: 40)")  # fmt: skip
    oneshot.add_argument("--across-alphabets", action="store_true", help="draw a trial's classes from all alphabets")

    verification = modes.add_parser("verification", parents=[common, data, plot], help="same/different pairs")
    verification.add_argument("--pairs", type=_positive, default=1000, help="pairs, half same (default: 1000)")
    verification.add_argument("--across-alphabets", action="store_true", help="different pairs from any two alphabets")

    ranking = modes.add_parser("ranking", parents=[common, data], help="a drawing against every character of a gallery")
    ranking.add_argument("--queries", type=_positive, default=1000, help="queries, drawn from drawers 2-20 (default: 1000)")
    ranking.add_argument("--top-k", type=_positive, default=5, help="also count the answer within the first K (default: 5)")
    ranking.add_argument("--across-alphabets", action="store_true", help="rank every character of the split, not the query's alphabet")

    rejection = modes.add_parser("rejection", parents=[common, data], help='the "no confident match" threshold')
    rejection.add_argument("--coverage", type=float, default=0.95, help="share of present characters to accept (default: 0.95)")
    rejection.add_argument("--threshold", type=float, default=None, help="check this threshold instead of choosing one")
    rejection.add_argument("--trials-per-alphabet", type=_positive, default=200, help="20-way trials per alphabet (default: 200)")

    transfer = modes.add_parser("mnist-transfer", parents=[common, baseline], help="Koch's 10-way one-shot MNIST")
    transfer.add_argument("--trials", type=_positive, default=400, help="number of trials (default: 400)")
    modes.add_parser("sketches", parents=[common], help="Lake's runs with the test items re-drawn as sketches")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    stdout = sys.stdout
    try:
        # With --json nothing but the result may reach stdout, whatever a library prints.
        with contextlib.redirect_stdout(sys.stderr) if args.json else contextlib.nullcontext():
            result = {"mode": args.mode, "model": args.model or "default", **run(args)}
    except (CheckpointError, DataError, ValueError) as error:
        message = " ".join(str(error).split())  # one line, even for multi-line messages
        print(f"error: {message}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(result), file=stdout)
    else:
        print(format_table(result), file=stdout)
    return 0


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Load the model and data that the mode needs and evaluate."""
    scorer = model_scorer(load_model(args.model, device=args.device))
    baseline = pixel_nearest_neighbour_scorer() if getattr(args, "baseline", False) else None
    if args.mode == "lake-runs":
        return _lake_runs(scorer, baseline, args.plot)
    if args.mode == "oneshot":
        return _oneshot(scorer, baseline, args)
    if args.mode == "verification":
        return _verification(scorer, args)
    if args.mode == "ranking":
        data, which = _data(args)
        result = evaluate_ranking(scorer, data, n_queries=args.queries, seed=args.seed, within_group=not args.across_alphabets,
                                  top_k=args.top_k)  # fmt: skip
        return {**result, "evaluated_on": which}
    if args.mode == "rejection":
        data, which = _data(args)
        result = evaluate_rejection(scorer, data, trials_per_group=args.trials_per_alphabet, seed=args.seed,
                                    coverage=args.coverage, threshold=args.threshold)  # fmt: skip
        return {**result, "evaluated_on": which}
    if args.mode == "sketches":
        accuracy = evaluate_sketch_styles(scorer)
        return {"accuracy": accuracy["clean"], "n_trials": 400, "worst_style_accuracy": min(accuracy.values()), "per_style": accuracy}
    return evaluate_mnist_transfer(scorer, n_trials=args.trials, seed=args.seed, baseline=baseline is not None)


def _lake_runs(scorer: Scorer, baseline: Scorer | None, plot: str | None) -> dict[str, Any]:
    runs = load_lake_runs()
    result = evaluate_lake_runs(scorer, runs)
    if baseline is not None:
        result["baseline_accuracy"] = evaluate_lake_runs(baseline, runs)["accuracy"]
    if plot:
        # From each of the first runs: a test item with its own class and with the next class.
        pairs = []
        for run in runs[:6]:
            query, answer = run.test[0], int(run.answers[0])
            other = run.training[(answer + 1) % len(run.training)]
            pairs += [(query, run.training[answer], True), (query, other, False)]
        result["plot"] = str(plot_pair_scores(scorer, pairs, plot))
    return result


def _split_of(args: argparse.Namespace) -> str:
    """The split asked for, or the mode's default: Omniglot verification uses the validation alphabets."""
    if args.split is not None:
        return args.split
    return "validation" if args.mode == "verification" and protocol(args.data) == "omniglot" else "test"


def _data(args: argparse.Namespace) -> tuple[ImageSet, dict[str, str]]:
    """The images of ``--data`` / ``--split`` (``--seed`` also picks a folder's class split), and a note of what they are."""
    split = _split_of(args)
    if args.mode == "ranking" and args.split is None and protocol(args.data) == "omniglot":
        split = "evaluation"  # the page's gallery: every evaluation alphabet
    if args.mode == "rejection" and args.split is None:
        split = "validation"  # a threshold is chosen on validation, never on test
    description = describe_split(args.data, split)  # an unknown data set or split fails here, before loading anything
    data = load_split(args.data, split, args.seed)
    which = {"data": args.data, "split": split, "classes": description}
    if protocol(args.data) == "folder":  # which of the user's classes were held out
        which["class_names"] = list(data.class_names)
    return data, which


def _oneshot(scorer: Scorer, baseline: Scorer | None, args: argparse.Namespace) -> dict[str, Any]:
    data, which = _data(args)
    settings = dict(
        n_way=args.way,
        k_shot=args.shot,
        trials_per_group=args.trials_per_alphabet,
        seed=args.seed,
        within_group=not args.across_alphabets,
        drawers=FRESH_DRAWERS if which["data"] == "omniglot" and which["split"] == "test" else None,
    )
    result = evaluate_oneshot(scorer, data, **settings)
    if baseline is not None:
        result["baseline_accuracy"] = evaluate_oneshot(baseline, data, **settings)["accuracy"]
    result["evaluated_on"] = which
    return result


def _verification(scorer: Scorer, args: argparse.Namespace) -> dict[str, Any]:
    data, which = _data(args)
    within_group = not args.across_alphabets
    result = evaluate_verification(scorer, data, n_pairs=args.pairs, seed=args.seed, within_group=within_group)
    result["evaluated_on"] = which
    if args.plot:
        pairs = _first_pairs(data, args.pairs, args.seed, within_group)
        result["plot"] = str(plot_pair_scores(scorer, pairs, args.plot))
    return result


def _first_pairs(data: ImageSet, n_pairs: int, seed: int, within_group: bool, shown: int = 12) -> list[tuple]:
    """The first pairs of the evaluated set (the same sampler call), for the figure."""
    left, right, same = PairSampler(data, n_pairs, seed=seed, within_group=within_group).batch(0)
    return [(data.images[a], data.images[b], bool(s)) for a, b, s in list(zip(left, right, same))[:shown]]


# --- the evaluations recorded in a trained checkpoint's model card ------------------------------------

#: Stands for the checkpoint's folder in the commands written into model cards.
MODEL_PLACEHOLDER = "MODEL_DIR"


def checkpoint_evaluations(spec: str, seed: int = 0) -> list[dict[str, Any]]:
    """The final evaluations of a model trained with ``--data spec``: title and ``evaluate`` arguments.

    The arguments (without ``--model``) are exactly what ``scripts/evaluate.py`` takes, so every figure in
    a model card can be reproduced by one command, and :func:`evaluate_checkpoint` runs them through
    the command line's own code. ``seed`` is the training seed (it picks a folder's class split).
    """
    kind = protocol(spec)
    if kind == "omniglot":
        plan = [
            ("Lake's 20 official 20-way one-shot runs (400 trials)", ["lake-runs"]),
            ("20-way one-shot, Koch's protocol: 2,000 fresh within-alphabet trials, test alphabets, drawers 9-20",
             ["oneshot", "--way", "20", "--trials-per-group", "200"]),
            ("the page's task: 1,000 drawings, each against every character of its alphabet (20 evaluation alphabets)", ["ranking"]),
            ("1,000 drawings, each against all 659 evaluation characters at once", ["ranking", "--across-alphabets"]),
            ("verification: 1,000 within-alphabet validation pairs", ["verification"]),
            ("Koch's MNIST transfer: 10-way one-shot digits, 400 trials", ["mnist-transfer"]),
            ("Lake's runs with the test items re-drawn as sketches (place, size, pen, anti-aliasing, transparency)", ["sketches"]),
        ]
    elif kind == "att_faces":
        plan = [
            ("verification: 1,000 pairs of the 5 test subjects", ["verification", "--data", spec, "--split", "test", "--pairs", "1000"]),
            ("5-way one-shot identification of the 5 test subjects (400 trials)",
             ["oneshot", "--data", spec, "--split", "test", "--way", "5", "--trials-per-group", "400"]),
            ("10-way one-shot identification across all 10 held-out subjects (400 trials)",
             ["oneshot", "--data", spec, "--split", "held-out", "--way", "10", "--trials-per-group", "400"]),
        ]  # fmt: skip
    elif kind == "mnist":
        plan = [
            ("4-way one-shot on the unseen digits 6-9 (400 trials)",
             ["oneshot", "--data", spec, "--split", "test", "--way", "4", "--trials-per-group", "400"]),
            ("verification: 1,000 pairs of all ten digits", ["verification", "--data", spec, "--split", "all", "--pairs", "1000"]),
        ]  # fmt: skip
    else:
        held_out = load_split(spec, "test", seed).num_classes
        way = min(5, held_out)
        plan = [
            (f"verification: 1,000 pairs of the {held_out} held-out classes", ["verification", "--data", spec, "--pairs", "1000"]),
            (f"{way}-way one-shot on the {held_out} held-out classes (400 trials)",
             ["oneshot", "--data", spec, "--way", str(way), "--trials-per-group", "400"]),
        ]  # fmt: skip
    seeded = ["--seed", str(seed)] if seed else []
    return [{"title": title, "argv": [*argv, *seeded]} for title, argv in plan]


def evaluation_command(argv: list[str], model: str = MODEL_PLACEHOLDER) -> str:
    """The shell command that runs one evaluation (``argv`` without ``--model``) on ``model``."""
    return shlex.join(["python", "scripts/evaluate.py", argv[0], "--model", model, *argv[1:]])


def evaluate_checkpoint(folder: str | Path, spec: str, seed: int = 0, device: str = "cpu") -> dict[str, Any]:
    """Run :func:`checkpoint_evaluations` on a saved model through the command line's own code.

    Returns ``{"data", "seed", "evaluations": [{"title", "argv", "command", "result", "seconds"}], "seconds"}``;
    each ``result`` is what ``scripts/evaluate.py ... --json`` prints for the same arguments. ``device``
    other than ``cpu`` is written into the commands.
    """
    started = time.perf_counter()
    done = []
    for item in checkpoint_evaluations(spec, seed):
        if device != "cpu":  # the command says where it ran (the figures can differ in the last digits elsewhere)
            item["argv"] += ["--device", device]
        args = build_parser().parse_args([*item["argv"], "--model", str(folder)])
        began = time.perf_counter()
        result = {"mode": args.mode, **run(args)}
        done.append({**item, "command": evaluation_command(item["argv"]), "result": result,
                     "seconds": round(time.perf_counter() - began, 2)})  # fmt: skip
    return {"data": spec, "seed": seed, "evaluations": done, "seconds": round(time.perf_counter() - started, 2)}


def format_table(result: dict[str, Any]) -> str:
    """A readable summary: the headline numbers first, then any per-run or per-alphabet breakdown."""
    lines = [f"{result['mode']} ({result['model']})"]
    for key, value in result.items():
        if key in ("mode", "model") or isinstance(value, dict):
            continue
        lines.append(f"  {key:<22} {_format(key, value)}")
    for key in ("per_run", "per_group", "per_style"):
        if key in result:
            lines.append(f"  {key.replace('_', ' ')}:")
            lines += [f"    {name:<32} {100 * acc:5.1f}%" for name, acc in result[key].items()]
    for key in ("paper", "settings", "evaluated_on"):
        if key in result:
            lines.append(f"  {key}: " + ", ".join(f"{k}={_format(k, v)}" for k, v in result[key].items()))
    return "\n".join(lines)


def _format(key: str, value: Any) -> str:
    if isinstance(value, float) and ("accuracy" in key or key in ("siamese", "pixel_1nn")):
        return f"{100 * value:.1f}%"
    if isinstance(value, float):
        return f"{value:.4f}"
    return "-" if value is None else str(value)


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text}")
    return value


if __name__ == "__main__":
    sys.exit(main())
