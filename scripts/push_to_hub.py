"""Publish a trained checkpoint to the Hugging Face Hub, for ``SIAMESE_HUB_REPO`` / ``SIAMESE_MODEL``.

    python scripts/push_to_hub.py CHECKPOINT_DIR REPO_ID [--private] [--revision BRANCH] [--token TOKEN]
                                  [--commit-message TEXT] [--allow-no-card] [--dry-run OUT_DIR]

The folder is checked first: ``config.json`` and ``model.safetensors`` must load strictly through
``siamese.load_model`` (a broken checkpoint is never uploaded), and the model card ``README.md`` that
``scripts/train.py`` writes must be there (``--allow-no-card`` to upload without one). Only these files
go up: ``config.json``, ``model.safetensors``, ``README.md``, ``metrics.jsonl``, ``evaluation.json`` and any ``*.png`` plot;
a card without YAML front matter gets it. ``--dry-run OUT_DIR`` writes exactly those files, with the
same bytes, to OUT_DIR and uploads nothing. The token: ``--token``, else ``HF_TOKEN`` or ``hf auth login``.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from siamese.cli import push_main  # noqa: E402

if __name__ == "__main__":
    sys.exit(push_main())
