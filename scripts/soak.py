"""The app for a set time under a steady mix of visitors and bad uploads (the harness is harness/soak.py).

    python scripts/soak.py --duration 600 --json docs/soak.json --plot docs/soak-rss.png
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from harness.soak import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
