"""Precompute a checkpoint's Omniglot prototypes, so that the page's few-shot switch answers at once.

    python scripts/prototypes.py siamese/checkpoints/ensemble-omniglot

Each of the 1,623 characters' prototype is the mean embedding of its 20 drawings (32,460 images: minutes
on a CPU). They are written to CHECKPOINT/prototypes.safetensors, marked with the weights' fingerprint:
the page reads them only for those weights (other weights compute their own once and cache them), and
scripts/push_to_hub.py uploads them with the checkpoint.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from siamese.data import DataError  # noqa: E402
from siamese.hub import PROTOTYPES_FILE, checkpoint_fingerprint, load_model  # noqa: E402
from siamese.matching.gallery import write_prototypes  # noqa: E402
from siamese.models import CheckpointError  # noqa: E402
from siamese.utils import one_line  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("checkpoint", type=Path, help="a checkpoint folder (config.json + model.safetensors)")
    args = parser.parse_args(argv)
    try:
        model = load_model(args.checkpoint)
        features = write_prototypes(model, checkpoint_fingerprint(model), args.checkpoint / PROTOTYPES_FILE)
    except (CheckpointError, DataError) as error:
        print(f"error: {one_line(error)}", file=sys.stderr)
        return 2
    print(f"wrote {args.checkpoint / PROTOTYPES_FILE}: {features.shape[0]} prototypes of {features.shape[1]} numbers")
    return 0


if __name__ == "__main__":
    sys.exit(main())
