"""This repository built and served as a Hugging Face Space builds and serves it, offline (the harness is
harness/space_rehearsal.py): a fresh folder of the committed files, a fresh environment from requirements.txt, the
official data URLs served from a loopback mirror, `python app.py` with SPACE_ID set on 0.0.0.0:7860, one match
through the API; the seconds to a usable page on the first start and on a restart.

    python scripts/space_rehearsal.py
    python scripts/space_rehearsal.py --json -
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from harness.space_rehearsal import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
