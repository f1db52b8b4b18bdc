"""The accuracy ablations at equal CPU-minutes (see siamese/training/ablation.py and docs/ablations.md).

    python scripts/ablate.py run --rows base-56,way-60 --minutes 45 --jobs 2     # train (resumes; finished rows are kept)
    python scripts/ablate.py report                                              # judge every trained row, write the tables
    python scripts/ablate.py report --ensembles base-56+ema,base-56+ema+way-60    # ... and ensembles of finished rows
    python scripts/ablate.py report --root runs/long --versus runs/ablate/ensembles/a+b  # ... first, a row of another root
    python scripts/ablate.py list                                                # the rows and their commands

Ctrl-C or `kill PID` stops every row (each keeps its checkpoint of the last 250 steps).
Runs live in runs/ablate/NAME (train.log, metrics.jsonl, state.pt); the report writes
docs/ablations.md and docs/ablations.json.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from siamese.training.ablation import DEFAULT_ROOT, ROWS, command_line, markdown_document, markdown_table, report, row_config, run_rows  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("action", choices=("run", "report", "list"))
    parser.add_argument("--rows", default=",".join(ROWS), help="comma-separated row names (default: all)")
    parser.add_argument("--ensembles", default="", help="report: comma-separated ensembles of rows joined by +, e.g. base-56+ema")
    parser.add_argument("--versus", type=Path, help="report: a row or ensemble folder of another root, judged first as the reference")
    parser.add_argument("--minutes", type=float, default=45.0, help="CPU-minutes of training per row (default: 45)")
    parser.add_argument("--jobs", type=int, default=2, help="rows trained at once, one thread each (default: 2)")
    parser.add_argument("--root", type=Path, default=DEFAULT_ROOT, help=f"where the runs live (default: {DEFAULT_ROOT})")
    parser.add_argument("--docs", type=Path, default=ROOT / "docs" / "ablations")
    args = parser.parse_args(argv)
    names = [name.strip() for name in args.rows.split(",") if name.strip()]
    ensembles = [[name.strip() for name in group.split("+")] for group in args.ensembles.split(",") if group.strip()]
    unknown = [name for name in names + [n for group in ensembles for n in group] if name not in ROWS]
    if unknown:
        print(f"error: unknown rows {', '.join(unknown)}; choose from {', '.join(ROWS)}.", file=sys.stderr)
        return 2
    if any(len(group) < 2 for group in ensembles):
        print("error: an ensemble joins two or more rows with +, e.g. base-56+ema.", file=sys.stderr)
        return 2
    if args.action == "list":
        for name in names:
            print(f"{name:12s} {ROWS[name][1]}\n             {command_line(row_config(name, args.minutes, args.root))}")
        return 0
    if args.action == "run":
        try:
            run_rows(names, args.minutes, args.root, args.jobs)
        except KeyboardInterrupt:
            print("\ninterrupted; run the same command again to resume the rows from their last checkpoints", file=sys.stderr)
            return 130
        return 0
    try:
        judged = report(args.root, names, ensembles, args.versus)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if not judged:
        print(f"error: no row has trained yet under {args.root}; run `python scripts/ablate.py run` first.", file=sys.stderr)
        return 2
    table = markdown_table(judged)
    args.docs.with_suffix(".json").write_text(json.dumps(judged, indent=2))
    args.docs.with_suffix(".md").write_text(markdown_document(table, args.root))
    print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
