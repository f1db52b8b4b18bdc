"""Command lines generated from configuration dataclasses, nanoGPT-style: one flag per field.

``main`` trains (:class:`TrainConfig`); ``study_main`` runs the loss study (:class:`LossStudyConfig`).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from typing import Any, Callable
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


def train_command(config: TrainConfig, program: str = "python scripts/train.py") -> str:
    """``config`` as the command that trains it: ``program`` and a flag for each field that differs from the default."""
    default, parts = TrainConfig(), [program]
    for f in dataclasses.fields(TrainConfig):
        value = getattr(config, f.name)
        if value == getattr(default, f.name):
            continue
        flag = "--" + f.name.replace("_", "-")
        if isinstance(value, bool):
            parts.append(flag if value else f"--no-{f.name.replace('_', '-')}")
        elif isinstance(value, dict):
            parts.append(f"{flag} '{json.dumps(value)}'")
        else:
            parts.append(f"{flag} {value:g}" if isinstance(value, float) else f"{flag} {value}")
    return " ".join(parts)


def main(argv: list[str] | None = None) -> int:
    config = TrainConfig(**vars(build_parser().parse_args(argv)))
    status, summary = _run(train, config, f"resume from the last checkpoint in {config.out_dir}")
    if status == 0:
        print(json.dumps(summary))
    return status


def study_main(argv: list[str] | None = None) -> int:
    parser = dataclass_parser(LossStudyConfig, "Train the same network with each objective for the same CPU budget and "
                                               "compare them (see siamese/training/loss_study.py).")  # fmt: skip
    config = LossStudyConfig(**vars(parser.parse_args(argv)))
    status, report = _run(run_loss_study, config, f"continue the study in {config.out_dir}")
    if status == 0:
        print((Path(config.docs_dir) / f"{report['data'].split(':')[0]}.md").read_text(encoding="utf-8"))
    return status


def _run(work: Callable[[Any], Any], config: Any, again: str) -> tuple[int, Any]:
    """``work(config)`` with the command line's answers to failure: a one-line error (status 2), or after
    Ctrl-C what re-running the same command does (status 130)."""
    try:
        return 0, work(config)
    except (DataError, CheckpointError, TrainingError, ValueError) as error:
        print(f"error: {one_line(error, limit=2000)}", file=sys.stderr)
        return 2, None
    except KeyboardInterrupt:
        print(f"\ninterrupted; run the same command again to {again}", file=sys.stderr)
        return 130, None
