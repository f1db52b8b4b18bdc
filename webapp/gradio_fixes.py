"""Workarounds for Gradio 6 behaviour that a public Space trips over, found by the load and bad-input tests.

They concern the web framework, not matching, so they live with the page (``app.py``, ``webapp/pen.js``) rather
than in the package. Nothing happens at import: ``app.main`` calls :func:`install_gradio_fixes`.
"""

from __future__ import annotations

import os
from pathlib import Path

from gradio import processing_utils

from siamese.utils import replacing


#: Gradio keeps the last ``GRADIO_ANALYTICS_MAX_EVENTS`` events (10,000 by default) for its monitoring view and,
#: after every ``GRADIO_ANALYTICS_CACHE_FREQUENCY`` events (1 by default), summarises them all in a pandas DataFrame:
#: after a few hours of strokes, every answer pays for a 10,000-row groupby, and the store holds about 10 MB. The
#: page keeps the last 500 and summarises every 100 (an administrator's own settings win).
ANALYTICS = {"GRADIO_ANALYTICS_MAX_EVENTS": "500", "GRADIO_ANALYTICS_CACHE_FREQUENCY": "100"}


def install_gradio_fixes() -> None:
    """Apply the process-wide fixes: atomic output-image writes, freed memory given back, and a small analytics
    store; call before the queue is made (``Blocks.queue``), which reads the analytics settings."""
    processing_utils.save_pil_to_cache = save_pil_to_cache
    return_freed_memory_to_the_system()
    for name, value in ANALYTICS.items():
        os.environ.setdefault(name, value)


def return_freed_memory_to_the_system() -> None:
    """Have glibc give freed memory back instead of keeping it per thread: large blocks at once, and two arenas.

    With its default, growing threshold, each of Gradio's worker threads kept the memory of the largest images it had
    decoded: four bursts of 16 visitors sending 16-megapixel images took the app from 0.65 to 3.6 GB, still growing;
    with blocks of 1 MB or more always mapped and unmapped, it stays at 1.7 GB (peak 1.9 GB). With an arena per
    thread (up to 8 per CPU), small blocks freed in one thread's arena are not reused by the next request, which runs
    in another: a steady mix of visitors grew the app by 2.9 MB a minute for ten minutes (``scripts/soak.py``); two
    arenas keep it flat. The figures are in docs/reliability.md. Elsewhere than glibc (macOS, musl), nothing is done.
    The arena limit applies to arenas made after the call, so it is made before the first request.
    """
    try:
        import ctypes

        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(-3, 1 << 20)  # M_MMAP_THRESHOLD = 1 MB (also stops its adjustment)
        libc.mallopt(-8, 2)  # M_ARENA_MAX = 2
    except (OSError, AttributeError):
        pass


def save_pil_to_cache(img, cache_dir: str, name: str = "image", format: str = "webp") -> str:
    """Gradio's ``processing_utils.save_pil_to_cache``, but writing through a temporary file and a rename.

    Gradio writes each output image in place to ``<cache>/<hash of its bytes>/<name>``: two visitors shown the
    same image at once (the same gallery character) rewrite the file while the other's download reads it, and that
    download arrives truncated ("peer closed connection without sending complete message body"), as
    ``scripts/load_test.py`` found with 16 users. A rename is atomic: a reader gets the old or the new copy, whole.
    """
    data = processing_utils.encode_pil_to_bytes(img, format)
    folder = Path(cache_dir) / processing_utils.hash_bytes(data)
    folder.mkdir(exist_ok=True, parents=True)
    path = (folder / f"{name}.{format}").resolve()
    with replacing(path) as temporary:
        temporary.write_bytes(data)
        os.chmod(temporary, 0o644)  # as Gradio's own files (mkstemp makes them 0600)
    return str(path)
