"""Workarounds for Gradio 6 behaviour that a public Space trips over, found by the load and bad-input tests.

They concern the web framework, not matching, so they live with the page (``app.py``, ``webapp/pen.js``) rather
than in the package. Nothing happens at import: ``app.main`` calls :func:`install_gradio_fixes`.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import gradio as gr
from gradio import processing_utils

from siamese.utils import one_line, replacing
from siamese.transforms import image_file_error

log = logging.getLogger("siamese.app")


def install_gradio_fixes() -> None:
    """Apply both process-wide fixes: atomic output-image writes, and freed memory given back."""
    processing_utils.save_pil_to_cache = save_pil_to_cache
    return_freed_memory_to_the_system()


def return_freed_memory_to_the_system() -> None:
    """Have glibc give large freed blocks (decoded uploads) back at once instead of keeping them per thread.

    With its default, growing threshold, each of Gradio's worker threads kept the memory of the largest images it had
    decoded: four bursts of 16 visitors sending 16-megapixel images took the app from 0.65 to 3.6 GB, still growing;
    with blocks of 1 MB or more always mapped and unmapped, it stays at 1.7 GB (peak 1.9 GB; the figures are in
    docs/reliability.md). Elsewhere than glibc (macOS, musl), nothing is done.
    """
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").mallopt(-3, 1 << 20)  # M_MMAP_THRESHOLD = 1 MB (also stops its adjustment)
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


def explained(component, explain=image_file_error, form: str | None = None):
    """Gradio turns what a visitor sends into a value before any handler or validator runs: first its data model
    checks the payload's form, then the component decodes it. A payload it cannot turn (a string where a drawing is
    expected, a file PIL cannot decode, top_k "abc") gets ``explain(error)`` as its message (``form``, when given, for
    a payload of the wrong form), instead of Gradio's own, which names a temporary path, a pydantic model or a
    Python exception, or says nothing at all."""
    convert = component.preprocess

    def refuse(error: Exception, message: str | None = None) -> gr.Error:
        log.info("refused an input: %s: %s", type(error).__name__, one_line(error, limit=200))
        return gr.Error(message or str(explain(error)), print_exception=False)

    def preprocess(payload):
        try:
            return convert(payload)
        except gr.Error:
            raise
        except Exception as error:  # noqa: BLE001 - PIL raises many kinds of error for bad files
            raise refuse(error) from None

    component.preprocess = preprocess
    model = getattr(component, "data_model", None)
    if isinstance(model, type) and hasattr(model, "model_validate"):

        class Checked(model):  # the same model, with its refusal explained
            @classmethod
            def model_validate(cls, obj, *args, **kwargs):
                try:
                    return model.model_validate(obj, *args, **kwargs)
                except Exception as error:  # noqa: BLE001 - pydantic's ValidationError, or a TypeError
                    raise refuse(error, form) from None

        Checked.__name__ = model.__name__
        component.data_model = Checked
    return component
