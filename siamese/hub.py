"""Load a model from a local folder or a Hugging Face Hub repo; the bundled default when none is named."""

from __future__ import annotations

import re
from pathlib import Path

from siamese.models import CheckpointError, SiameseNet, model_kwargs_from_config, read_config
from siamese.models.base import fetch_from_hub

CHECKPOINTS_DIR = Path(__file__).resolve().parents[1] / "checkpoints"
#: The bundled default model, used when ``load_model()`` is called without a source.
DEFAULT_CHECKPOINT = CHECKPOINTS_DIR / "compact-omniglot"
_REPO_ID = re.compile(r"[A-Za-z0-9][\w.-]*(/[A-Za-z0-9][\w.-]*)?")


def load_model(source: str | Path | None = None, *, device: str = "cpu", revision: str | None = None) -> SiameseNet:
    """A model ready for ``compare`` / ``embed``, in eval mode.

    ``source`` is a local folder holding ``config.json`` and ``model.safetensors``, or a Hub repo id
    (``"user/name"``). ``None`` loads the bundled default checkpoint. Only safetensors weights are
    read, strictly: a checkpoint that does not match its config raises :class:`CheckpointError`.
    """
    source = DEFAULT_CHECKPOINT if source is None else source
    folder = Path(source)
    if folder.is_dir():
        config = read_config(folder)
    elif _looks_like_path(str(source)):
        raise CheckpointError(f"No checkpoint folder at {source}.")
    else:  # a Hub repo: both files land in one snapshot folder of the local cache
        folder = Path(fetch_from_hub(str(source), "config.json", revision=revision)).parent
        fetch_from_hub(str(source), "model.safetensors", revision=revision)
        config = read_config(folder)
    cls, kwargs = model_kwargs_from_config(config)
    model = cls.from_pretrained(str(folder), map_location=device, **kwargs)
    return model.to(device).eval()


def _looks_like_path(source: str) -> bool:
    """Anything but ``name`` or ``owner/name`` is meant as a folder."""
    return source.startswith(".") or _REPO_ID.fullmatch(source) is None
