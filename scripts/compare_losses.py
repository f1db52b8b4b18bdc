"""The loss study: the default network trained with each objective for the same CPU budget, then compared.

    python scripts/compare_losses.py                                   # Omniglot: 5 objectives x 3 seeds x 3 CPU-minutes
    python scripts/compare_losses.py --data att_faces --cpu-minutes 1 --objectives bce,contrastive,prototypical,cosface
    python scripts/compare_losses.py --data mnist --cpu-minutes 1 --objectives bce,contrastive,prototypical,cosface

Every field of siamese.training.loss_study.LossStudyConfig is a flag. The table and figures go to
--docs-dir (docs/loss-study/); the runs to --out-dir. Re-running the same command continues a killed
study; a finished one only rewrites its report.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from siamese.training.cli import study_main  # noqa: E402

if __name__ == "__main__":
    sys.exit(study_main())
