"""Join trained models into one checkpoint whose embedding concatenates theirs (siamese.models.EnsembleNet).

    python scripts/ensemble.py runs/ablate/base-56/final runs/ablate/way-60/final --out runs/ensembles/two
    python scripts/evaluate.py oneshot --split validation --trials-per-group 500 --model runs/ensembles/two

Each MODEL is a checkpoint folder or a Hub repo id; the members must share their preprocessing.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from siamese.hub import load_model  # noqa: E402
from siamese.models import CheckpointError, EnsembleNet  # noqa: E402
from siamese.utils import one_line  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("models", nargs="+", metavar="MODEL", help="two or more checkpoint folders or Hub repo ids")
    parser.add_argument("--out", type=Path, required=True, help="the folder to write the ensemble's checkpoint to")
    args = parser.parse_args(argv)
    try:
        ensemble = EnsembleNet.from_models([load_model(source) for source in args.models])
    except (CheckpointError, ValueError) as error:
        print(f"error: {one_line(error)}", file=sys.stderr)
        return 2
    ensemble.save_pretrained(args.out)
    (args.out / "members.json").write_text(json.dumps({"members": args.models}, indent=2))
    print(f"wrote {args.out}: {len(args.models)} members, {ensemble.num_parameters():,} parameters")
    return 0


if __name__ == "__main__":
    sys.exit(main())
