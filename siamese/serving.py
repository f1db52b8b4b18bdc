"""What an application serves, chosen from its environment (the checkpoint I/O is :mod:`siamese.hub`):

1. ``SIAMESE_MODEL`` (a folder or a Hub repo id): the admin named this model, so failing to load it is an
   error, never a silent fallback;
2. ``SIAMESE_HUB_REPO`` (at ``SIAMESE_HUB_REVISION``, default ``main``), through ``huggingface_hub`` and its
   cache, offline too (``HF_HUB_OFFLINE``), within a deadline; anything wrong with it falls back, with a warning, to
3. the bundled checkpoint :data:`siamese.hub.DEFAULT_CHECKPOINT`.
"""

from __future__ import annotations

import itertools
import logging
import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Literal, Mapping

from siamese.hub import (CHECKPOINTS_DIR, DEFAULT_CHECKPOINT, Calibration, Located, checkpoint_fingerprint, load_folder, locate,
                         looks_like_path, read_calibration)  # fmt: skip
from siamese.models import CheckpointError, SiameseNet
from siamese.utils import one_line

#: What is left of ``timeout`` for the local work once the Hub has been given up (the bundled model is
#: already loaded by then, so this only covers bookkeeping on a busy machine).
_FINISH_MARGIN_S = 0.3

log = logging.getLogger("siamese")
Origin = Literal["env", "hub", "bundled"]


@dataclass
class LoadedModel:
    """The model :func:`resolve_model` chose, where it came from and why."""

    model: SiameseNet
    source: str  #: a folder path or a Hub repo id
    origin: Origin  #: "env" (SIAMESE_MODEL), "hub" (SIAMESE_HUB_REPO) or "bundled"
    fingerprint: str  #: :func:`checkpoint_fingerprint` of the loaded weights
    folder: Path  #: the local folder it was read from (for a Hub repo, its snapshot in the cache)
    revision: str | None = None  #: the Hub revision asked for (None for folders)
    commit: str | None = None  #: the Hub commit actually loaded (None for folders)
    warnings: list[str] = field(default_factory=list)  #: why a configured Hub repo was not used
    #: how the model's logits become P(character | drawing): the checkpoint's ``calibration.json``, else the defaults
    calibration: Calibration = field(default_factory=Calibration)

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
            fetch = _Fetch(timeout, lambda: locate(requested, None, offline=offline, timeout=timeout))
            folder, commit = fetch.result(deadline)
            loaded = _loaded(load_folder(folder, device), folder, requested, "env", commit, None)
        except Exception as error:  # noqa: BLE001 - any failure is reported as what it is: this model is unusable
            raise CheckpointError(f"SIAMESE_MODEL={requested!r} could not be loaded: {error}") from error
        return _announce(loaded)

    warnings: list[str] = []
    bundled: SiameseNet | None = None
    if repo := env.get("SIAMESE_HUB_REPO", "").strip():
        revision = env.get("SIAMESE_HUB_REVISION", "").strip() or None
        if looks_like_path(repo):
            warnings.append(f"SIAMESE_HUB_REPO={repo!r} is not a Hub repo id (owner/name)")
        else:
            fetch = _Fetch(timeout, lambda: locate(repo, revision, offline=offline, timeout=timeout))
            bundled = load_folder(DEFAULT_CHECKPOINT, device)  # meanwhile: the fallback then costs no time
            try:
                folder, commit = fetch.result(deadline - _FINISH_MARGIN_S)
                return _announce(_loaded(load_folder(folder, device), folder, repo, "hub", commit, revision))
            except Exception as error:  # noqa: BLE001 - whatever it is, the bundled model is served instead
                warnings.append(_hub_reason(repo, error, offline))
        log.warning("%s; falling back to the bundled checkpoint.", warnings[-1])

    model = bundled if bundled is not None else load_folder(DEFAULT_CHECKPOINT, device)
    loaded = _loaded(model, DEFAULT_CHECKPOINT, str(DEFAULT_CHECKPOINT), "bundled", None, None)
    loaded.warnings = warnings
    return _announce(loaded)


def load_bundled(folder: str | Path, *, device: str = "cpu") -> LoadedModel:
    """A checkpoint shipped in ``siamese/checkpoints/`` (e.g. the faces model), described as such."""
    return _announce(_loaded(load_folder(Path(folder), device), Path(folder), str(folder), "bundled", None, None))


def _loaded(model: SiameseNet, folder: Path, source: str, origin: Origin, commit: str | None, revision: str | None) -> LoadedModel:
    """``model``, loaded from ``folder``, with the calibration saved beside it."""
    is_repo = commit is not None
    return LoadedModel(
        model=model,
        source=source if is_repo else str(Path(source).resolve()),
        origin=origin,
        fingerprint=checkpoint_fingerprint(model),
        folder=Path(folder),
        revision=(revision or "main") if is_repo else None,
        commit=commit,
        calibration=read_calibration(folder),
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

    def __init__(self, seconds: float, work: Callable[[], Located]) -> None:
        self.seconds = seconds  # only for the message
        self.outcome: dict = {}
        self.errors: list[str] = []
        name = f"siamese-hub-{next(self._numbers)}"
        self.thread = threading.Thread(target=self._run, args=(work,), name=name, daemon=True)
        self.recorder = _ThreadLog(self.thread.name, self.errors)
        logging.getLogger("huggingface_hub").addHandler(self.recorder)
        self.thread.start()

    def _run(self, work: Callable[[], Located]) -> None:
        try:
            self.outcome["value"] = work()
        except BaseException as error:  # noqa: BLE001 - handed to the waiting thread
            self.outcome["error"] = error
        finally:
            logging.getLogger("huggingface_hub").removeHandler(self.recorder)

    def result(self, deadline: float) -> Located:
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
            else f"unreachable and not cached: {one_line(cause)}"
        )
    elif isinstance(cause, RepositoryNotFoundError):
        reason = f"not found (HTTP {status}; a private repo needs a token)"
    elif isinstance(cause, RevisionNotFoundError):
        reason = f"has no such revision (HTTP {status})"
    elif isinstance(cause, EntryNotFoundError):
        reason = f"is incomplete: {one_line(error)}"
    elif isinstance(cause, HfHubHTTPError):
        reason = f"failed with HTTP {status}: {one_line(cause)}"
    elif isinstance(cause, OSError) and "Consistency check failed" in str(cause):
        reason = f"download was truncated: {one_line(cause)}"
    else:  # a corrupt file, a config that does not fit the weights, ...
        reason = f"is not a usable checkpoint: {one_line(error)}"
    return f"Hub repo {repo} {reason}"


def _offline(env: Mapping[str, str]) -> bool:
    from huggingface_hub import constants

    value = env.get("HF_HUB_OFFLINE", "").strip().upper()
    return value in {"1", "ON", "YES", "TRUE"} or constants.is_offline_mode()


def _display_path(path: str) -> str:
    """Bundled checkpoints relative to the package (``checkpoints/ensemble-omniglot``)."""
    try:
        return Path(path).resolve().relative_to(CHECKPOINTS_DIR.parent).as_posix()
    except ValueError:
        return path
