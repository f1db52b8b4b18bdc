"""``match``'s latency over the HTTP API beside Gradio's floor, interleaved (the harness is harness/api_benchmark.py).

    python scripts/benchmark_app.py            # 50 rounds against Tengwar; --profile for where the time goes, --json PATH
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from harness.api_benchmark import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
