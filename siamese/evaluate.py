"""Evaluate a model from the command line.

    python -m siamese.evaluate lake-runs                  # Lake's 20 official 20-way runs (400 trials)
    python -m siamese.evaluate oneshot                    # Koch's protocol: fresh 20-way within-alphabet trials
    python -m siamese.evaluate verification --pairs 2000  # same/different pairs: accuracy, ROC AUC, ECE
    python -m siamese.evaluate mnist-transfer --baseline  # 10-way one-shot MNIST, and the pixel 1-NN baseline
    python -m siamese.evaluate sketches                   # Lake's runs with the test items re-drawn as sketches
    python -m siamese.evaluate ranking                    # the page's task: a drawing against every character of its alphabet
    python -m siamese.evaluate ranking --no-within-alphabet # ... against all 659 evaluation characters at once
    python -m siamese.evaluate ranking --shots 5          # ... against each character's prototype of 5 drawings (few-shot)
    python -m siamese.evaluate rejection                  # choose the "no confident match" threshold on validation
    python -m siamese.evaluate calibration --save         # P(character | drawing): fit T and the threshold, write calibration.json
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
import dataclasses
import json
import sys
from pathlib import Path

from siamese.data import DataError
from siamese.data.splits import SPLITS
from siamese.evaluation.calibration import fitted_calibration
from siamese.evaluation.plan import MODEL_PLACEHOLDER, Evaluation, evaluation_command, format_table, run_evaluation
from siamese.hub import DEFAULT_CHECKPOINT, load_model
from siamese.hub import CALIBRATION_FILE, write_calibration
from siamese.models import CheckpointError
from siamese.utils import one_line

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
    oneshot.add_argument("--trials-per-group", "--trials-per-alphabet", type=_positive, default=None, dest="trials_per_group",
                         help="trials per alphabet (per group: MNIST, the faces and folders have one; default: 40)")  # fmt: skip
    oneshot.add_argument("--within-alphabet", action=argparse.BooleanOptionalAction, default=True,
                         help="draw a trial's classes from one alphabet (default); --no-within-alphabet: from all")  # fmt: skip

    verification = modes.add_parser("verification", parents=[common, data, plot], help="same/different pairs")
    verification.add_argument("--pairs", type=_positive, default=1000, help="pairs, half same (default: 1000)")
    verification.add_argument("--within-alphabet", action=argparse.BooleanOptionalAction, default=True,
                              help="different pairs from one alphabet (default); --no-within-alphabet: from any two")  # fmt: skip

    ranking = modes.add_parser("ranking", parents=[common, data], help="a drawing against every character of a gallery")
    ranking.add_argument("--queries", type=_positive, default=1000, help="queries, drawn from drawers 2-20 (default: 1000)")
    ranking.add_argument("--top-k", type=_positive, default=5, help="also count the answer within the first K (default: 5)")
    ranking.add_argument("--shots", type=_positive, default=1, help="compare with each character's prototype, the mean "
                         "embedding of this many drawings by other drawers than the query's (default: 1, one drawing)")
    ranking.add_argument("--within-alphabet", action=argparse.BooleanOptionalAction, default=True,
                         help="rank the query's alphabet (default); --no-within-alphabet: every character of the split")  # fmt: skip

    rejection = modes.add_parser("rejection", parents=[common, data], help='the "no confident match" threshold')
    rejection.add_argument("--coverage", type=float, default=0.95, help="share of present characters to accept (default: 0.95)")
    rejection.add_argument("--threshold", type=float, default=None, help="check this threshold instead of choosing one")
    rejection.add_argument("--trials-per-group", "--trials-per-alphabet", type=_positive, default=None, dest="trials_per_group",
                           help="20-way trials per alphabet (default: 200)")  # fmt: skip

    calibration = modes.add_parser("calibration", parents=[common], help="fit and measure P(character | drawing)")
    calibration.add_argument("--queries", type=_positive, default=1000,
                             help="drawings per split, each ranked within its alphabet and among all (default: 1000)")  # fmt: skip
    calibration.add_argument("--precision", type=float, default=0.95,
                             help='accepted answers on validation that must be right, for the "no confident match" threshold (default: 0.95)')  # fmt: skip
    calibration.add_argument("--split", default=None, choices=("validation", "validation-held-out"),
                             help="the Omniglot drawings the fit uses (default: validation; validation-held-out for a model "
                                  "trained with --train-on-validation)")  # fmt: skip
    calibration.add_argument("--plot", metavar="PATH", help="save the reliability diagrams as a PNG")
    calibration.add_argument("--save", action="store_true",
                             help=f"write {CALIBRATION_FILE} (the fitted temperature and threshold) into the --model folder")  # fmt: skip

    transfer = modes.add_parser("mnist-transfer", parents=[common, baseline], help="Koch's 10-way one-shot MNIST")
    transfer.add_argument("--trials", type=_positive, default=400, help="number of trials (default: 400)")
    modes.add_parser("sketches", parents=[common], help="Lake's runs with the test items re-drawn as sketches")
    return parser


def parse_evaluation(argv: list[str]) -> Evaluation:
    """The :class:`Evaluation` that a command line (without ``--model``) asks for."""
    return _evaluation(build_parser().parse_args(argv))


def _evaluation(args: argparse.Namespace) -> Evaluation:
    fields = {f.name for f in dataclasses.fields(Evaluation)}
    return Evaluation(**{k: v for k, v in vars(args).items() if k in fields})


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    stdout = sys.stdout
    try:
        # With --json nothing but the result may reach stdout, whatever a library prints.
        with contextlib.redirect_stdout(sys.stderr) if args.json else contextlib.nullcontext():
            folder = _folder_to_save_in(args) if getattr(args, "save", False) else None
            model = load_model(args.model, device=args.device)
            evaluation = _evaluation(args)
            result = run_evaluation(model, evaluation)
            result = {"mode": result.pop("mode"), "model": args.model or "default", **result}
            if folder is not None:
                command = evaluation_command(evaluation, MODEL_PLACEHOLDER) + " --save"
                result["saved"] = str(write_calibration(folder, fitted_calibration(result, command)))
    except (CheckpointError, DataError, ValueError) as error:
        print(f"error: {one_line(error, limit=2000)}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(result), file=stdout)
    else:
        print(format_table(result), file=stdout)
    return 0


def _folder_to_save_in(args: argparse.Namespace) -> Path:
    """The checkpoint folder that ``--save`` writes into: ``--model`` must be one (a Hub repo's cached copy is not)."""
    folder = DEFAULT_CHECKPOINT if args.model is None else Path(args.model)
    if not folder.is_dir():
        raise ValueError(f"--save writes {CALIBRATION_FILE} into a checkpoint folder; --model {args.model} is not a folder.")
    return folder


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text}")
    return value


if __name__ == "__main__":
    sys.exit(main())
