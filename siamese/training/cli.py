"""Command-line flags generated from :class:`TrainConfig`, nanoGPT-style: one flag per field."""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys

from siamese.data import DataError
from siamese.models import CheckpointError
from siamese.training.loop import TrainConfig, TrainingError, train


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description="Train a Siamese network (see siamese/training/loop.py).")
    for f in dataclasses.fields(TrainConfig):
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
        print(f"error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"\ninterrupted; run the same command again to resume from the last checkpoint in {config.out_dir}", file=sys.stderr)
        return 130
    print(json.dumps(summary))
    return 0
