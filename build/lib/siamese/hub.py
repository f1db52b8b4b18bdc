"""Load a model from a local folder or a Hugging Face Hub repo; the bundled default when none is named.

:func:`load_model` loads exactly what it is given. :func:`resolve_model` picks the model an application
should serve, from its environment:

1. ``SIAMESE_MODEL`` (a folder or a Hub repo id): the admin named this model, so failing to load it is an
   error, never a silent fallback;
2. ``SIAMESE_HUB_REPO`` (at ``SIAMESE_HUB_REVISION``, default ``main``), through ``huggingface_hub`` and its
   cache, offline too (``HF_HUB_OFFLINE``); anything wrong with it falls back, with a warning, to
3. the bundled checkpoint :data:`DEFAULT_CHECKPOINT`.
"""

from __future__ import annotations

import hashlib
import itertools
import logging
import os
import re
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Literal, Mapping

from siamese.models import CheckpointError, SiameseNet, model_kwargs_from_config, read_config
from siamese.models.base import fetch_from_hub

CHECKPOINTS_DIR = Path(__file__).resolve().parent / "checkpoints"
#: The bundled default model, used when ``load_model()`` is called without a source.
DEFAULT_CHECKPOINT = CHECKPOINTS_DIR / "compact-omniglot"
_REPO_ID = re.compile(r"[A-Za-z0-9][\w.-]*(/[A-Za-z0-9][\w.-]*)?")
WEIGHTS_FILE = "model.safetensors"
#: What is left of ``timeout`` for the local work once the Hub has been given up (the bundled model is
#: already loaded by then, so this only covers bookkeeping on a busy machine).
_FINISH_MARGIN_S = 0.3

log = logging.getLogger("siamese")
Origin = Literal["env", "hub", "bundled"]
_Located = tuple[Path, str | None]  # a checkpoint folder and the Hub commit it holds (None: not from the Hub)


@dataclass
class LoadedModel:
    """The model :func:`resolve_model` chose, where it came from and why."""

    model: SiameseNet
    source: str  #: a folder path or a Hub repo id
    origin: Origin  #: "env" (SIAMESE_MODEL), "hub" (SIAMESE_HUB_REPO) or "bundled"
    fingerprint: str  #: :func:`checkpoint_fingerprint` of the loaded weights
    revision: str | None = None  #: the Hub revision asked for (None for folders)
    commit: str | None = None  #: the Hub commit actually loaded (None for folders)
    warnings: list[str] = field(default_factory=list)  #: why a configured Hub repo was not used

    def describe(self) -> str:
        """One sentence for people, e.g. ``compact model from Hub repo user/x (revision main)``."""
        what = f"{self.model.architecture} model from "
        if self.revision is not None:  # a Hub repo
            details = [f"revision {self.revision}"]
            if self.commit and self.commit != self.revision:
                details[0] += f", commit {self.commit[:7]}"
            what += f"Hub repo {self.source}"
        else:
            details = []
            kind = "bundled checkpoint" if self.origin == "bundled" else "folder"
            what += f"{kind} {_display_path(self.source)}"
        if self.origin == "env":
            details.append("set by SIAMESE_MODEL")
        if self.warnings:
            details.append("fallback: " + "; ".join(self.warnings))
        return what + (f" ({'; '.join(details)})" if details else "")


def load_model(source: str | Path | None = None, *, device: str = "cpu", revision: str | None = None) -> SiameseNet:
    """A model ready for ``compare`` / ``embed``, in eval mode.

    ``source`` is a local folder holding ``config.json`` and ``model.safetensors``, or a Hub repo id
    (``"user/name"``). ``None`` loads the bundled default checkpoint. Only safetensors weights are
    read, strictly: a checkpoint that does not match its config raises :class:`CheckpointError`.
    """
    folder, _ = _locate(DEFAULT_CHECKPOINT if source is None else source, revision)
    return _load_folder(folder, device)


def resolve_model(env: Mapping[str, str] | None = None, *, device: str = "cpu", timeout: float = 5.0) -> LoadedModel:
    """The model to serve, chosen from ``env`` (default ``os.environ``); see the module docstring.

    ``timeout`` bounds, in seconds, the whole call whenever the Hub is involved: a Hub that is slow,
    unreachable or answers but never finishes is given up in time to return the bundled model (with
    ``SIAMESE_MODEL`` naming a repo, to raise instead). A download given up keeps running in a daemon
    thread and may still complete into the cache. Raises :class:`CheckpointError` only for
    ``SIAMESE_MODEL``; everything else falls back to the bundled checkpoint.
    """
    env = os.environ if env is None else env
    deadline = time.monotonic() + timeout
    offline = _offline(env)

    if requested := env.get("SIAMESE_MODEL", "").strip():
        try:
            fetch = _Fetch(timeout, lambda: _locate(requested, None, offline=offline, timeout=timeout))
            folder, commit = fetch.result(deadline)
            loaded = _loaded(_load_folder(folder, device), requested, "env", commit, None)
        except Exception as error:  # noqa: BLE001 - any failure is reported as what it is: this model is unusable
            raise CheckpointError(f"SIAMESE_MODEL={requested!r} could not be loaded: {error}") from error
        return _announce(loaded)

    warnings: list[str] = []
    bundled: SiameseNet | None = None
    if repo := env.get("SIAMESE_HUB_REPO", "").strip():
        revision = env.get("SIAMESE_HUB_REVISION", "").strip() or None
        if _looks_like_path(repo):
            warnings.append(f"SIAMESE_HUB_REPO={repo!r} is not a Hub repo id (owner/name)")
        else:
            fetch = _Fetch(timeout, lambda: _locate(repo, revision, offline=offline, timeout=timeout))
            bundled = _load_folder(DEFAULT_CHECKPOINT, device)  # meanwhile: the fallback then costs no time
            try:
                folder, commit = fetch.result(deadline - _FINISH_MARGIN_S)
                return _announce(_loaded(_load_folder(folder, device), repo, "hub", commit, revision))
            except Exception as error:  # noqa: BLE001 - whatever it is, the bundled model is served instead
                warnings.append(_hub_reason(repo, error, offline))
        log.warning("%s; falling back to the bundled checkpoint.", warnings[-1])

    model = bundled if bundled is not None else _load_folder(DEFAULT_CHECKPOINT, device)
    loaded = _loaded(model, str(DEFAULT_CHECKPOINT), "bundled", None, None)
    loaded.warnings = warnings
    return _announce(loaded)


def load_bundled(folder: str | Path, *, device: str = "cpu") -> LoadedModel:
    """A checkpoint shipped in ``siamese/checkpoints/`` (e.g. the faces model), described as such."""
    return _announce(_loaded(_load_folder(Path(folder), device), str(folder), "bundled", None, None))


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


# --- finding and loading a checkpoint --------------------------------------------------------------


def _locate(
    source: str | Path, revision: str | None, *, offline: bool = False, timeout: float | None = None
) -> _Located:
    """A local folder holding the checkpoint of ``source`` and, for a Hub repo, the commit it came from."""
    folder = Path(source)
    if folder.is_dir():
        return folder, None
    if _looks_like_path(str(source)):
        raise CheckpointError(f"No checkpoint folder at {source}.")
    # A Hub repo: both files land in one snapshot folder (named after the commit) of the local cache. The
    # endpoint and cache are read once, so a download that outlives its caller stays where it started.
    from huggingface_hub import constants

    kwargs: dict = {"revision": revision, "endpoint": constants.ENDPOINT, "cache_dir": constants.HF_HUB_CACHE}
    if offline:
        kwargs["local_files_only"] = True
    if timeout is not None:  # per HTTP metadata call; with a cached copy the client falls back to it after this
        kwargs["etag_timeout"] = max(timeout / 3, 0.1)
    folder = Path(fetch_from_hub(str(source), "config.json", **kwargs)).parent
    fetch_from_hub(str(source), WEIGHTS_FILE, **kwargs)
    return folder, folder.name


def _load_folder(folder: Path, device: str) -> SiameseNet:
    """Strictly load the checkpoint in ``folder``; the model remembers its fingerprint."""
    cls, kwargs = model_kwargs_from_config(read_config(folder))
    weights = folder / WEIGHTS_FILE
    fingerprint = None
    if weights.is_file():  # else from_pretrained says that only safetensors weights are read
        _check_safetensors(weights)
        fingerprint = checkpoint_fingerprint(weights)
    model = cls.from_pretrained(str(folder), map_location=device, **kwargs)
    model._checkpoint_fingerprint = fingerprint
    return model.to(device).eval()


def _check_safetensors(weights: Path) -> None:
    """Tell a corrupt or truncated file apart from weights that do not fit the config."""
    from safetensors import safe_open

    try:
        with safe_open(str(weights), framework="pt"):
            pass
    except Exception as error:  # SafetensorError and OSError, depending on how the file is broken
        message = f"{weights} is not a readable safetensors file (corrupt or truncated): {error}"
        raise CheckpointError(message) from error


def _looks_like_path(source: str) -> bool:
    """Anything but ``name`` or ``owner/name`` is meant as a folder."""
    return source.startswith(".") or _REPO_ID.fullmatch(source) is None


def _loaded(model: SiameseNet, source: str, origin: Origin, commit: str | None, revision: str | None) -> LoadedModel:
    is_repo = commit is not None
    return LoadedModel(
        model=model,
        source=source if is_repo else str(Path(source).resolve()),
        origin=origin,
        fingerprint=checkpoint_fingerprint(model),
        revision=(revision or "main") if is_repo else None,
        commit=commit,
    )


def _announce(loaded: LoadedModel) -> LoadedModel:
    log.info("Using the %s", loaded.describe())
    return loaded


# --- the Hub, within a deadline ---------------------------------------------------------------------


class _Fetch:
    """``work`` running in a daemon thread; ``result`` waits for it until a deadline, and no longer.

    ``huggingface_hub`` retries a Hub that fails or hangs for a minute or more, whatever ``etag_timeout``
    says, so the only bound that holds is not to wait. Its warnings from this thread (e.g. ``HTTP Error
    500 thrown while requesting HEAD ...``) are kept, to say why the Hub did not answer in time.
    """

    _numbers = itertools.count(1)

    def __init__(self, seconds: float, work: Callable[[], _Located]) -> None:
        self.seconds = seconds  # only for the message
        self.outcome: dict = {}
        self.errors: list[str] = []
        name = f"siamese-hub-{next(self._numbers)}"
        self.thread = threading.Thread(target=self._run, args=(work,), name=name, daemon=True)
        self.recorder = _ThreadLog(self.thread.name, self.errors)
        logging.getLogger("huggingface_hub").addHandler(self.recorder)
        self.thread.start()

    def _run(self, work: Callable[[], _Located]) -> None:
        try:
            self.outcome["value"] = work()
        except BaseException as error:  # noqa: BLE001 - handed to the waiting thread
            self.outcome["error"] = error
        finally:
            logging.getLogger("huggingface_hub").removeHandler(self.recorder)

    def result(self, deadline: float) -> _Located:
        self.thread.join(max(deadline - time.monotonic(), 0.0))
        if self.thread.is_alive():
            logging.getLogger("huggingface_hub").removeHandler(self.recorder)
            errors = [message for message in self.errors if not message.startswith("Retrying in")]
            last = f" (last error: {errors[-1]})" if errors else ""
            raise _HubTimeout(f"the Hub gave no usable answer within {self.seconds:g} s{last}")
        if "error" in self.outcome:
            raise self.outcome["error"]
        return self.outcome["value"]


class _HubTimeout(CheckpointError):
    """The Hub did not answer in time; the download may still be running."""


class _ThreadLog(logging.Handler):
    """Keeps the messages that one thread logs at WARNING or above."""

    def __init__(self, thread_name: str, messages: list[str]) -> None:
        super().__init__(logging.WARNING)
        self.thread_name, self.messages = thread_name, messages

    def emit(self, record: logging.LogRecord) -> None:
        if record.threadName == self.thread_name:
            self.messages.append(record.getMessage().splitlines()[0])


def _hub_reason(repo: str, error: Exception, offline: bool) -> str:
    """One line naming what went wrong with the configured Hub repo."""
    from huggingface_hub.errors import (
        EntryNotFoundError,
        HfHubHTTPError,
        LocalEntryNotFoundError,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    cause = error.__cause__ if isinstance(error, CheckpointError) and error.__cause__ is not None else error
    status = getattr(getattr(cause, "response", None), "status_code", None)
    if isinstance(cause, _HubTimeout):
        reason = f"unreachable or not answering: {cause}"
    elif isinstance(cause, LocalEntryNotFoundError):  # raised when nothing usable is cached, before any other check
        reason = (
            "is not in the local cache and HF_HUB_OFFLINE is set"
            if offline
            else f"unreachable and not cached: {_one_line(cause)}"
        )
    elif isinstance(cause, RepositoryNotFoundError):
        reason = f"not found (HTTP {status}; a private repo needs a token)"
    elif isinstance(cause, RevisionNotFoundError):
        reason = f"has no such revision (HTTP {status})"
    elif isinstance(cause, EntryNotFoundError):
        reason = f"is incomplete: {_one_line(error)}"
    elif isinstance(cause, HfHubHTTPError):
        reason = f"failed with HTTP {status}: {_one_line(cause)}"
    elif isinstance(cause, OSError) and "Consistency check failed" in str(cause):
        reason = f"download was truncated: {_one_line(cause)}"
    else:  # a corrupt file, a config that does not fit the weights, ...
        reason = f"is not a usable checkpoint: {_one_line(error)}"
    return f"Hub repo {repo} {reason}"


def _offline(env: Mapping[str, str]) -> bool:
    from huggingface_hub import constants

    value = env.get("HF_HUB_OFFLINE", "").strip().upper()
    return value in {"1", "ON", "YES", "TRUE"} or constants.is_offline_mode()


# --- small helpers ----------------------------------------------------------------------------------


def _short_sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:16]


def _one_line(error: BaseException, limit: int = 400) -> str:
    """An error's message on one line, cut to ``limit`` characters."""
    text = " ".join(str(error).split()) or type(error).__name__
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _display_path(path: str) -> str:
    """Bundled checkpoints relative to the package (``checkpoints/compact-omniglot``)."""
    try:
        return Path(path).resolve().relative_to(CHECKPOINTS_DIR.parent).as_posix()
    except ValueError:
        return path
