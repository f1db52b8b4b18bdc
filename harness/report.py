"""How the load test and the benchmarks hand over a report: a table for people, or JSON for tools (or both)."""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict
from typing import Any

from siamese.utils import replacing


def add_json_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", nargs="?", const="-", metavar="PATH", help="write the report as JSON (to stdout: -)")


def emit(report: Any, table: str, json_target: str | None) -> None:
    """Print the report's JSON (``json_target`` "-") or its ``table``, and write the JSON to a path when one is given."""
    text = json.dumps(asdict(report), indent=2)
    if json_target == "-":
        print(text)
        return
    print(table)
    if json_target:
        with replacing(json_target) as temporary:
            temporary.write_text(text + "\n")
