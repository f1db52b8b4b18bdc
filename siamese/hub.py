"""Checkpoint I/O: find, read, check, fingerprint, load, and publish ``config.json`` + ``model.safetensors``
and, when a checkpoint has one, its ``calibration.json`` (:class:`Calibration`, :func:`read_calibration`,
:func:`write_calibration`).

:func:`load_model` loads exactly what it is given (a folder, a Hub repo id, or the bundled default) and
:func:`push_to_hub` publishes a trained folder. This module makes no choices about what to serve; that is
:mod:`siamese.serving`.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import shutil
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch

from siamese.models import CheckpointError, SiameseNet, model_kwargs_from_config, read_config
from siamese.utils import one_line, replacing
from siamese.models.base import CONFIG_FILE, WEIGHTS_FILE, fetch_from_hub, load_weights

CHECKPOINTS_DIR = Path(__file__).resolve().parent / "checkpoints"
#: The bundled default model, used when ``load_model()`` is called without a source.
DEFAULT_CHECKPOINT = CHECKPOINTS_DIR / "ensemble-omniglot"
#: A checkpoint's calibration of P(character | drawing) (:class:`Calibration`), beside its ``config.json``.
CALIBRATION_FILE = "calibration.json"
#: A checkpoint's Omniglot prototypes, precomputed for the page's few-shot switch (siamese.matching.gallery.write_prototypes).
PROTOTYPES_FILE = "prototypes.safetensors"
_REPO_ID = re.compile(r"[A-Za-z0-9][\w.-]*(/[A-Za-z0-9][\w.-]*)?")
Located = tuple[Path, "str | None"]  # a checkpoint folder and the Hub commit it holds (None: not from the Hub)


def load_model(source: str | Path | None = None, *, device: str = "cpu", revision: str | None = None) -> SiameseNet:
    """A model ready for ``compare`` / ``embed``, in eval mode.

    ``source`` is a local folder holding ``config.json`` and ``model.safetensors``, or a Hub repo id
    (``"user/name"``). ``None`` loads the bundled default checkpoint. Only safetensors weights are
    read, strictly: a checkpoint that does not match its config raises :class:`CheckpointError`.
    """
    folder, _ = locate(DEFAULT_CHECKPOINT if source is None else source, revision)
    return load_folder(folder, device)


def checkpoint_fingerprint(folder_or_model: str | Path | SiameseNet) -> str:
    """First 16 hex digits of the sha256 of a checkpoint's ``model.safetensors`` bytes (a cache key).

    A folder (or the weights file itself) is hashed as it is on disk; a model loaded by this module gives
    the fingerprint of the file it was loaded from; any other model, that of its weights saved as safetensors.
    """
    if isinstance(folder_or_model, SiameseNet):
        recorded = getattr(folder_or_model, "_checkpoint_fingerprint", None)
        if recorded is not None:
            return recorded
        from safetensors.torch import save

        state = {name: tensor.detach().cpu().clone() for name, tensor in folder_or_model.state_dict().items()}
        return _short_sha256(save(state))
    path = Path(folder_or_model)
    weights = path / WEIGHTS_FILE if path.is_dir() else path
    if not weights.is_file():
        raise CheckpointError(f"{path} has no {WEIGHTS_FILE}.")
    return _short_sha256(weights.read_bytes())


def locate(
    source: str | Path, revision: str | None, *, offline: bool = False, timeout: float | None = None
) -> Located:
    """A local folder holding the checkpoint of ``source`` and, for a Hub repo, the commit it came from."""
    folder = Path(source)
    if folder.is_dir():
        return folder, None
    if looks_like_path(str(source)):
        raise CheckpointError(f"No checkpoint folder at {source}.")
    # A Hub repo: its files land in one snapshot folder (named after the commit) of the local cache. The
    # endpoint and cache are read once, so a download that outlives its caller stays where it started.
    from huggingface_hub import constants

    kwargs: dict = {"revision": revision, "endpoint": constants.ENDPOINT, "cache_dir": constants.HF_HUB_CACHE}
    if offline:
        kwargs["local_files_only"] = True
    if timeout is not None:  # per HTTP metadata call (four: config, weights, calibration, prototypes); with a cached
        kwargs["etag_timeout"] = max(timeout / 5, 0.1)  # copy the client falls back to it after this
    folder = Path(fetch_from_hub(str(source), CONFIG_FILE, **kwargs)).parent
    fetch_from_hub(str(source), WEIGHTS_FILE, **kwargs)
    _fetch_optional(str(source), CALIBRATION_FILE, folder.name, **kwargs)
    _fetch_optional(str(source), PROTOTYPES_FILE, folder.name, **kwargs)
    return folder, folder.name


def _fetch_optional(repo_id: str, filename: str, commit: str, **kwargs) -> None:
    """Download a file that a checkpoint may lack, at the commit its other files came from.

    The cache answers first (a file, or its note that the commit has none): a commit never changes, so a
    Hub that stopped answering costs nothing here. A repo without the file, or offline a cached copy
    without it, is fine; any other failure is not, so a calibrated checkpoint is never served uncalibrated
    by accident.
    """
    from huggingface_hub import try_to_load_from_cache
    from huggingface_hub.errors import EntryNotFoundError

    if try_to_load_from_cache(repo_id, filename, cache_dir=kwargs["cache_dir"], revision=commit) is not None:
        return
    try:
        fetch_from_hub(repo_id, filename, **{**kwargs, "revision": commit})
    except CheckpointError as error:
        if not isinstance(error.__cause__, EntryNotFoundError):
            raise


def load_folder(folder: Path, device: str = "cpu") -> SiameseNet:
    """Strictly load the checkpoint in ``folder``: ``config.json`` read once, the weights read once (their
    bytes give the fingerprint the model remembers)."""
    cls, kwargs = model_kwargs_from_config(read_config(folder))
    try:
        model = cls(**kwargs)
    except (TypeError, ValueError, RuntimeError) as error:  # e.g. an input too small for the layers
        raise CheckpointError(f"{CONFIG_FILE} does not describe a valid {cls.__name__}: {error}") from error
    weights = folder / WEIGHTS_FILE
    if not weights.is_file():
        raise CheckpointError(f"{folder} has no {WEIGHTS_FILE} (only safetensors weights are loaded).")
    data = weights.read_bytes()
    load_weights(model, data, str(weights))
    model._checkpoint_fingerprint = _short_sha256(data)
    return model.to(device).eval()


def looks_like_path(source: str) -> bool:
    """Anything but ``name`` or ``owner/name`` is meant as a folder."""
    return source.startswith(".") or _REPO_ID.fullmatch(source) is None


def _short_sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:16]


# --- publishing ------------------------------------------------------------------------------------

REQUIRED = (CONFIG_FILE, WEIGHTS_FILE)
CARD = "README.md"
#: And every *.png next to them (curves.png, ...); evaluation.json: the card's figures; calibration.json: the page's
#: posterior; prototypes.safetensors: the page's few-shot prototypes.
OPTIONAL = (CARD, "metrics.jsonl", "evaluation.json", CALIBRATION_FILE, PROTOTYPES_FILE)
#: Given to a card that has no front matter (a card written by training has its own, with its figures).
FRONT_MATTER = "---\nlibrary_name: pytorch\nlicense: mit\ntags: [siamese, one-shot]\npipeline_tag: image-feature-extraction\n---\n"


class PushError(Exception):
    """Why nothing was uploaded, in one line for the admin."""


@dataclass
class Upload:
    """What went, or would go, to the Hub."""

    repo_id: str
    files: dict[str, int]  # name -> size in bytes, as uploaded
    skipped: list[str] = field(default_factory=list)  # files in the folder that are not uploaded
    warnings: list[str] = field(default_factory=list)
    commit_url: str | None = None  # None for a dry run


def push_to_hub(
    checkpoint_dir: str | Path,
    repo_id: str,
    *,
    private: bool = False,
    revision: str | None = None,
    token: str | None = None,
    commit_message: str | None = None,
    allow_no_card: bool = False,
    dry_run: str | Path | None = None,
) -> Upload:
    """Check ``checkpoint_dir``, then upload its files to ``repo_id`` (for a dry run: write them to ``dry_run``).

    Raises :class:`PushError` before anything is uploaded or written if the checkpoint is unusable.
    """
    from huggingface_hub.errors import HFValidationError
    from huggingface_hub.utils import validate_repo_id

    folder = Path(checkpoint_dir)
    try:
        validate_repo_id(repo_id)
    except HFValidationError as error:
        raise PushError(f"{repo_id!r} is not a Hub repo id: {error}") from error
    upload = Upload(repo_id, {})
    names = _files_to_upload(folder, allow_no_card, upload)
    if dry_run is not None:
        out = Path(dry_run)
        if out.exists() and (not out.is_dir() or any(out.iterdir())):
            raise PushError(f"--dry-run needs an empty or new folder; {out} is not one.")
        upload.files = _stage(folder, names, out)
        return upload
    token = token or _saved_token()
    with tempfile.TemporaryDirectory(prefix="push-to-hub-") as staging:
        upload.files = _stage(folder, names, Path(staging))
        message = commit_message or f"Upload {_architecture(folder)} checkpoint {checkpoint_fingerprint(folder)}"
        upload.commit_url = _upload(Path(staging), repo_id, private, revision, token, message)
    return upload


def _files_to_upload(folder: Path, allow_no_card: bool, upload: Upload) -> list[str]:
    """The names to upload from ``folder``, once it has proved a loadable checkpoint."""
    if not folder.is_dir():
        raise PushError(f"No checkpoint folder at {folder}.")
    missing = [name for name in REQUIRED if not (folder / name).is_file()]
    if missing:
        raise PushError(f"{folder} is not a checkpoint: it has no {' and no '.join(missing)}.")
    try:
        load_model(folder)
        read_calibration(folder)  # a calibration the Hub would serve must be readable too
    except CheckpointError as error:
        raise PushError(f"Refusing to upload a broken checkpoint: {error}") from error
    if not (folder / CARD).is_file():
        warning = f"{folder} has no model card ({CARD}); scripts/train.py writes it next to the weights."
        if not allow_no_card:
            raise PushError(f"{warning} Upload a folder that has it, or pass --allow-no-card.")
        upload.warnings.append(warning)
    allowed = {*REQUIRED, *OPTIONAL}
    names = sorted(p.name for p in folder.iterdir() if p.is_file() and (p.name in allowed or p.suffix == ".png"))
    upload.skipped = sorted(p.name for p in folder.iterdir() if p.name not in names)
    return names


def _stage(folder: Path, names: list[str], out: Path) -> dict[str, int]:
    """Write exactly what is uploaded into ``out``: the files as they are, the card with front matter."""
    out.mkdir(parents=True, exist_ok=True)
    for name in names:
        if name == CARD:
            text = (folder / name).read_text(encoding="utf-8")
            if text.lstrip("\ufeff").splitlines()[:1] != ["---"]:  # no YAML front matter
                (out / name).write_text(FRONT_MATTER + text, encoding="utf-8")
                continue
        shutil.copyfile(folder / name, out / name)
    return {name: (out / name).stat().st_size for name in names}


def _upload(staging: Path, repo_id: str, private: bool, revision: str | None, token: str, message: str) -> str:
    from huggingface_hub import HfApi, constants
    from huggingface_hub.errors import HfHubHTTPError

    api = HfApi(token=token)
    try:
        api.create_repo(repo_id, private=private, exist_ok=True)
        if revision not in (None, constants.DEFAULT_REVISION):
            api.create_branch(repo_id, branch=revision, exist_ok=True)
        info = api.upload_folder(repo_id=repo_id, folder_path=staging, revision=revision, commit_message=message)
    except HfHubHTTPError as error:
        raise PushError(f"The Hub at {api.endpoint} refused the upload to {repo_id}: {one_line(error)}") from error
    except Exception as error:  # network failures and whatever else the client raises: one line, no traceback
        reason = f"{type(error).__name__}: {one_line(error)}"
        raise PushError(f"Upload to {repo_id} at {api.endpoint} failed: {reason}") from error
    return info.commit_url


def _saved_token() -> str:
    from huggingface_hub import get_token

    token = get_token()
    if not token:
        raise PushError("No Hugging Face token: pass --token, set HF_TOKEN, or run `hf auth login`.")
    return token


def _architecture(folder: Path) -> str:
    return str(read_config(folder).get("architecture", "siamese"))


# --- calibration.json: how a checkpoint's logits become P(character | drawing) ------------------------------------
#
# P(character | drawing) is a softmax over the candidates' logits of *same*, with a fitted temperature. A pair's
# P(same) answers "do these two show the same character?", each pair on its own, so a ranking of them can read 100%,
# 97%, 95%... A visitor asks "which of these characters is it?": exactly one is, so the answer is a distribution over
# the candidates. ``softmax(logits / temperature)`` is one, and the temperature is fitted on validation trials
# (:mod:`siamese.evaluation.calibration`) so that "62%" is right about 62% of the time. The fit and the "no confident
# match" threshold travel with the checkpoint, in ``calibration.json`` beside ``config.json``.


@dataclass(frozen=True)
class Calibration:
    """How a checkpoint's logits become P(character | drawing), and when the best answer is trusted.

    ``fitted`` is False for the defaults (temperature 1, threshold 0.5), which a checkpoint without
    ``calibration.json`` gets: its percentages are then a plain softmax, and say so.
    """

    temperature: float = 1.0
    threshold: float = 0.5  #: the best candidate's posterior below which the page says "no confident match"
    fitted: bool = False
    details: dict[str, Any] = field(default_factory=dict, compare=False)  #: what it was fitted on, and its figures

    def __post_init__(self) -> None:
        if not (self.temperature > 0 and math.isfinite(self.temperature)):
            raise ValueError(f"The temperature must be a positive number, got {self.temperature}.")
        if not 0.0 <= self.threshold <= 1.0:
            raise ValueError(f"The threshold must be from 0 to 1, got {self.threshold}.")

    def posterior(self, logits: torch.Tensor) -> torch.Tensor:
        """Logits of *same* ``[..., candidates]`` -> P(character | drawing), summing to 1 over the last axis."""
        return torch.softmax(logits.double() / self.temperature, dim=-1).to(logits.dtype)


def read_calibration(folder: str | Path) -> Calibration:
    """The calibration saved in a checkpoint folder, or the unfitted defaults when it has none.

    A file that is there but unusable is a :class:`CheckpointError` (one line: the file and what is
    wrong), never the defaults: a checkpoint that was calibrated must not quietly be served without it.
    """
    path = Path(folder) / CALIBRATION_FILE
    if not path.is_file():
        return Calibration()
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(data, dict):
            raise TypeError("it must hold a JSON object")
        missing = [key for key in ("temperature", "threshold") if key not in data]
        if missing:
            raise KeyError(f"it has no {' and no '.join(missing)}")
        details = data.get("details", {})
        if not isinstance(details, dict):
            raise TypeError("its details must be a JSON object")
        return Calibration(float(data["temperature"]), float(data["threshold"]), True, details)
    except (ValueError, KeyError, TypeError) as error:
        reason = error.args[0] if isinstance(error, KeyError) else error
        raise CheckpointError(f"{path} is not a valid calibration file: {one_line(reason)}") from error


def write_calibration(folder: str | Path, calibration: Calibration) -> Path:
    """Save ``calibration`` beside the checkpoint (atomically)."""
    path = Path(folder) / CALIBRATION_FILE
    data = asdict(calibration)
    data.pop("fitted")
    with replacing(path) as temporary:
        temporary.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    return path
