"""How many visitors can draw at once on one server core (the harness is harness/live_client.py).

    python scripts/live_capacity.py               # step 10, 20, 30, ... visitors, 30 s each; --json PATH for JSON
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from harness.live_client import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
