"""The live answer's pictures as HTML: the closest characters and the drawing as the model sees it.

After each stroke the page shows up to 20 characters' pictures and the model's view. As a ``gr.Gallery`` and a
``gr.Image`` they cost the server a file copy into Gradio's cache per picture (hashed, through a thread pool
started per answer) and a PNG written per view: about half of a live answer's CPU
(docs/reliability.md). As HTML with the pictures inline (data URLs, each character's encoded once per
process) they cost a string join. The markup is a Gradio gallery's (``.grid-container``, ``.thumbnail-item``,
``.caption-label``), so page.css lays both out alike.
"""

from __future__ import annotations

import base64
import functools
import html
import io
from pathlib import Path

from PIL import Image


@functools.lru_cache(maxsize=4096)
def file_data_url(path: str) -> str:
    """A picture file as a data URL (the gallery's characters: small PNGs, about 1 kB each)."""
    data = Path(path).read_bytes()
    kind = "image/png" if data[:8] == b"\x89PNG\r\n\x1a\n" else "image/jpeg"
    return f"data:{kind};base64," + base64.b64encode(data).decode("ascii")


def image_data_url(image: Image.Image) -> str:
    """A PIL image as a PNG data URL."""
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def pictures_html(pictures: list[tuple[str, str]], label: str) -> str:
    """Pictures ``(data URL, caption)`` with their captions under them, as a gallery labelled ``label``."""
    items = "".join(f'<figure class="thumbnail-item"><img src="{url}" alt="{html.escape(caption)}">'
                    f'<figcaption class="caption-label">{html.escape(caption)}</figcaption></figure>'
                    for url, caption in pictures)  # fmt: skip
    return (f'<div class="answer-gallery"><span class="answer-label">{html.escape(label)}</span>'
            f'<div class="grid-container">{items}</div></div>')  # fmt: skip


def view_html(view: Image.Image, label: str) -> str:
    """The drawing as the model sees it, labelled."""
    return (f'<div class="answer-gallery"><span class="answer-label">{html.escape(label)}</span>'
            f'<img class="answer-view" src="{image_data_url(view)}" alt="{html.escape(label)}"></div>')  # fmt: skip
