"""Many visitors at once against the app started in a child process (the harness is harness/load_test.py).

    python scripts/load_test.py            # 16 users, 60 s, the app's own queue settings; --json PATH for JSON
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from harness.load_test import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
