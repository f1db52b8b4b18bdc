"""Small helpers that several parts of the project share, written once."""

from __future__ import annotations

import os
import socket
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterable, Iterator, Sequence

from tqdm import tqdm


def one_line(error: BaseException | str, limit: int = 400) -> str:
    """An error's message on one line (for ``error: ...`` output and logs), cut to ``limit`` characters."""
    text = " ".join(str(error).split()) or (type(error).__name__ if isinstance(error, BaseException) else "")
    return text if len(text) <= limit else text[: limit - 1] + "…"


@contextmanager
def replacing(path: str | Path, suffix: str = ".tmp") -> Iterator[Path]:
    """A temporary path beside ``path`` to write to; it replaces ``path`` in one rename when the block ends
    without an error, so a crash never leaves a half-written file (and the temporary file is removed)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=suffix)
    os.close(handle)
    try:
        yield Path(temporary)
        os.replace(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)


def percentile(values: Sequence[float], q: float) -> float | None:
    """The ``q`` quantile (0-1) with linear interpolation between the closest ranks (numpy's default); None if empty."""
    if not values:
        return None
    ordered = sorted(values)
    position = (len(ordered) - 1) * q
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def free_port() -> int:
    """A TCP port on the loopback interface that nothing listens on now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def progress_bar(iterable: Iterable | None = None, *, quiet: bool = False, **options) -> tqdm:
    """A tqdm progress bar that follows tqdm's own rules: none when ``TQDM_DISABLE`` is set, none off a terminal
    (a redirected log), none when ``quiet`` (e.g. every process but the first under torchrun).

    tqdm reads ``TQDM_DISABLE`` as the default of ``disable``, so a ``disable=None`` passed explicitly would
    override it; here ``disable`` is True when the variable is set and None (tqdm checks for a terminal) otherwise.
    """
    disable = True if quiet or os.environ.get("TQDM_DISABLE") else None
    return tqdm(iterable, disable=disable, **options)
