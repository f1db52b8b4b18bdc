"""``python scripts/evaluate.py MODE [--model SOURCE] [--json]``: the same as ``python -m siamese.evaluate``."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from siamese.evaluate import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
