"""Train a Siamese network. Every field of siamese.training.TrainConfig is a flag.

    python scripts/train.py --steps 600 --out-dir runs/quick                 # the quick demo (CPU, minutes)
    python scripts/train.py --architecture koch --optimizer koch-sgd --lr 0.01       # the paper's network and optimiser
    torchrun --nproc_per_node 4 scripts/train.py --batch-size 512            # several GPUs (DDP)

Re-running the same command with the same --out-dir resumes from its last checkpoint.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from siamese.training.cli import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
