"""Stroke-to-ranking latency of the page in headless Chromium, timed in the page (the harness is harness/page_benchmark.py).

    python scripts/benchmark_page.py           # 20 strokes against all alphabets; --json PATH for JSON
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from harness.page_benchmark import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
