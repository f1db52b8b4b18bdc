"""Join trained models into one checkpoint whose embedding concatenates theirs (siamese.models.EnsembleNet).

    python scripts/ensemble.py runs/ablate/base-56/final runs/ablate/way-60/final --out runs/ensembles/two
    python scripts/ensemble.py runs/a/final runs/b/final runs/c/final --out runs/ensembles/three --evaluate

Each MODEL is a checkpoint folder or a Hub repo id; the members must share their preprocessing. With
--evaluate the ensemble is measured as training measures a model (validation, then the final evaluation
of its data set, whose calibration it keeps) and gets its model card, listing each member with the
command that trained it.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from siamese.data import DataError  # noqa: E402
from siamese.models import CheckpointError  # noqa: E402
from siamese.training.ensemble import join_models  # noqa: E402
from siamese.utils import one_line  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("models", nargs="+", metavar="MODEL", help="two or more checkpoint folders or Hub repo ids")
    parser.add_argument("--out", type=Path, required=True, help="the folder to write the ensemble's checkpoint to")
    parser.add_argument("--evaluate", action="store_true", help="measure it, fit its calibration and write its model card")
    args = parser.parse_args(argv)
    try:
        record = join_models(args.models, args.out, evaluate=args.evaluate)
    except (CheckpointError, DataError, ValueError) as error:
        print(f"error: {one_line(error)}", file=sys.stderr)
        return 2
    print(f"wrote {args.out}: {len(record['members'])} members" +
          (f", validation {100 * record['validation']['accuracy']:.2f}%" if "validation" in record else ""))  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
