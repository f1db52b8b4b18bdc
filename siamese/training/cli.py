"""Command lines generated from configuration dataclasses, nanoGPT-style: one flag per field.

``main`` trains (:class:`TrainConfig`); ``study_main`` runs the loss study (:class:`LossStudyConfig`).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path

from siamese.data import DataError
from siamese.models import CheckpointError
from siamese.utils import one_line
from siamese.training.loop import TrainConfig, TrainingError, train
from siamese.training.loss_study import LossStudyConfig, run_loss_study


def build_parser() -> argparse.ArgumentParser:
    return dataclass_parser(TrainConfig, "Train a Siamese network (see siamese/training/loop.py).")


def dataclass_parser(config_class: type, description: str) -> argparse.ArgumentParser:
    """One ``--flag`` per field of a configuration dataclass, typed and defaulted by the field."""
    parser = argparse.ArgumentParser(description=description)
    for f in dataclasses.fields(config_class):
        flag = "--" + f.name.replace("_", "-")
        default = f.default if f.default is not dataclasses.MISSING else f.default_factory()  # type: ignore[misc]
        if isinstance(default, bool):
            parser.add_argument(flag, action=argparse.BooleanOptionalAction, default=default)
        elif isinstance(default, dict):
            parser.add_argument(flag, type=json.loads, default=default, help="JSON object, e.g. '{\"input_size\": 64}'")
        else:
            parser.add_argument(flag, type=type(default), default=default)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    config = TrainConfig(**vars(args))
    try:
        summary = train(config)
    except (DataError, CheckpointError, TrainingError, ValueError) as error:
        print(f"error: {one_line(error, limit=2000)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"\ninterrupted; run the same command again to resume from the last checkpoint in {config.out_dir}", file=sys.stderr)
        return 130
    print(json.dumps(summary))
    return 0


def study_main(argv: list[str] | None = None) -> int:
    parser = dataclass_parser(LossStudyConfig, "Train the same network with each objective for the same CPU budget and "
                                               "compare them (see siamese/training/loss_study.py).")  # fmt: skip
    config = LossStudyConfig(**vars(parser.parse_args(argv)))
    try:
        report = run_loss_study(config)
    except (DataError, CheckpointError, TrainingError, ValueError) as error:
        print(f"error: {one_line(error, limit=2000)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"\ninterrupted; run the same command again to continue the study in {config.out_dir}", file=sys.stderr)
        return 130
    name = report["data"].split(":")[0]
    print((Path(config.docs_dir) / f"{name}.md").read_text(encoding="utf-8"))
    return 0
