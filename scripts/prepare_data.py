"""Prepare the data sets in the project's data folder (see siamese/data/prepare.py for the search order).

    python scripts/prepare_data.py                      # all: omniglot, mnist, att_faces
    python scripts/prepare_data.py omniglot --source ~/datasets/omniglot
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from siamese.data.prepare import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
