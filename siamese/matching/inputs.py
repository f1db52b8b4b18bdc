"""Turn what a drawing widget sends into one image, with messages people can act on.

Gradio's ``Sketchpad`` / ``ImageEditor`` (6.x) sends ``{"background", "layers", "composite"}``:
the composite is black ink on opaque white; an untouched canvas sends no composite and no
layers (or ``None`` altogether). Layers are transparent RGBA, so they are flattened by their
alpha: read in mode "L" they would be all black. This module only decodes; what counts as a
blank drawing is decided after the shared preprocessing (:func:`siamese.transforms.has_ink`).
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

import numpy as np
from PIL import Image

from siamese.transforms import ImageInputError, as_image, open_image

EDITOR_FORM = ('{"background": None, "layers": [], "composite": IMAGE} '
               "(with gradio_client: IMAGE = handle_file('drawing.png'))")  # fmt: skip


class DrawingError(ImageInputError):
    """A drawing that cannot be matched (empty, blank or of the wrong form); the message is for users."""


def image_from_editor(value: Any, thing: str = "character") -> Image.Image:
    """The drawing in an editor value, or the value itself when it is already an image (``thing``: what is drawn,
    as an empty canvas's message names it)."""
    if isinstance(value, (Image.Image, np.ndarray)):
        return _as_image(value)
    if value is None:
        raise DrawingError(f"The canvas is empty: draw a {thing} first. Through the API, send {EDITOR_FORM}.")
    if not isinstance(value, dict):
        raise DrawingError(f"Expected a drawing, got {type(value).__name__}. Send {EDITOR_FORM}.")
    if value.get("composite") is not None:
        return _as_image(value["composite"])
    layers = [_as_image(layer) for layer in value.get("layers") or [] if layer is not None]
    background = value.get("background")
    if not layers and background is None:
        raise DrawingError(f"The canvas is empty: draw a {thing} first. Through the API, send {EDITOR_FORM}.")
    return _flatten(_as_image(background) if background is not None else None, layers)


#: A drawing sent as a data URL is a PNG of a small canvas: a few tens of kB; far more is not a drawing.
MAX_DATA_URL_CHARACTERS = 4_000_000
_PNG_DATA_URL = "data:image/png;base64,"


def image_from_data_url(value: Any, thing: str = "character") -> Image.Image:
    """The drawing in a ``data:image/png;base64,...`` string, as the page's canvas sends it (``thing``: what the
    canvas is for, "character" or "symbol", as the message for an empty one names it)."""
    if not isinstance(value, str) or not value.strip():
        raise DrawingError(f"The canvas is empty: draw a {thing} first.")
    if len(value) > MAX_DATA_URL_CHARACTERS:
        raise DrawingError(f"The drawing is too large: at most {MAX_DATA_URL_CHARACTERS:,} characters of data URL.")
    if not value.startswith(_PNG_DATA_URL):
        raise DrawingError(f"Expected a drawing as a PNG data URL ({_PNG_DATA_URL}...).")
    try:
        data = base64.b64decode(value[len(_PNG_DATA_URL):], validate=True)
    except (binascii.Error, ValueError):
        raise DrawingError("The drawing's data URL is not valid base64.") from None
    try:
        return open_image(data)
    except ImageInputError as error:
        raise DrawingError(str(error)) from None


def _as_image(value: Any) -> Image.Image:
    if isinstance(value, Image.Image):
        return value
    if isinstance(value, np.ndarray):  # read as preprocess reads arrays: float ranges, CHW, NaN refused
        try:
            return as_image(value)
        except ImageInputError as error:
            raise DrawingError(str(error)) from None
    raise DrawingError(f"Expected an image, got {type(value).__name__}. Send {EDITOR_FORM}.")


def _flatten(background: Image.Image | None, layers: list[Image.Image]) -> Image.Image:
    """Layers over the background (white when there is none), by each layer's alpha."""
    size = background.size if background is not None else layers[0].size
    canvas = Image.new("RGBA", size, (255, 255, 255, 255))
    if background is not None:
        canvas.alpha_composite(background.convert("RGBA"))
    for layer in layers:
        layer = layer.convert("RGBA")
        if layer.size != size:
            layer = layer.resize(size)
        canvas.alpha_composite(layer)
    return canvas.convert("L")
