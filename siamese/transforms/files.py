"""Image files and their limits: decoding with a size check, EXIF orientation, and the sentences users see."""

from __future__ import annotations

import io
import re
import warnings
from pathlib import Path
from typing import IO

from PIL import Image, ImageOps, UnidentifiedImageError

#: The most pixels an image *file* may decode to (:func:`open_image`, and every ``PIL.Image.open`` once
#: :func:`limit_image_pixels` has run, as the app does): 16 megapixels, e.g. 4,000 x 4,000, more than a phone's
#: 12-megapixel photo (4,032 x 3,024); nothing beyond 2,048 pixels a side reaches the model anyway. A 20,000 x
#: 20,000 PNG of 90 kB (400 megapixels, 1.6 GB decoded as RGBA) is refused from its header, before a pixel is
#: decoded. Why not more: 16 visitors sending 40-megapixel white PNGs (50 kB each) at once took the app's
#: memory from 0.65 to 3.5 GB; at 16 megapixels, to 1.9 GB (docs/reliability.md).
MAX_INPUT_PIXELS = 16_000_000
_EXIF_ORIENTATION = 0x0112


class ImageInputError(ValueError):
    """An input that cannot be turned into a model input; the message is meant for users."""


def limit_image_pixels(max_pixels: int = MAX_INPUT_PIXELS) -> None:
    """Make every ``PIL.Image.open`` in this process refuse images over ``max_pixels`` from their header.

    PIL raises ``DecompressionBombError`` above *twice* ``Image.MAX_IMAGE_PIXELS`` and only warns between,
    so the limit is set to half of ``max_pixels`` (and the warnings below the hard limit are silenced).
    Process-wide, so it is for applications (the web app calls it at start), not run on import.
    """
    Image.MAX_IMAGE_PIXELS = max_pixels // 2
    warnings.filterwarnings("ignore", category=Image.DecompressionBombWarning)


def open_image(source: str | Path | bytes | IO[bytes], max_pixels: int = MAX_INPUT_PIXELS) -> Image.Image:
    """Decode an image file: its size checked before decoding, fully read, EXIF orientation applied.

    Anything that is not a readable image of at most ``max_pixels`` pixels raises :class:`ImageInputError`
    with a message for users (what is wrong, never a temporary path): not an image, truncated, damaged, too large.
    """
    try:
        image = Image.open(io.BytesIO(source) if isinstance(source, bytes) else source)
        if image.width * image.height > max_pixels:
            raise ImageInputError(_too_large(image.width * image.height, max_pixels, f"{image.width} x {image.height} pixels"))
        image.load()
        return upright(image)
    except ImageInputError:
        raise
    except Exception as error:  # noqa: BLE001 - PIL raises OSError, SyntaxError, ValueError, struct.error...
        raise image_file_error(error, max_pixels) from error


def image_file_error(error: BaseException, max_pixels: int | None = None) -> ImageInputError:
    """What to tell a user whose file could not be decoded (by :func:`open_image`, or by a web framework).

    ``max_pixels``: the limit to name when PIL refused a decompression bomb (default: PIL's own).
    """
    if isinstance(error, ImageInputError):
        return error
    text = str(error)
    if isinstance(error, Image.DecompressionBombError):
        numbers = [int(n) for n in re.findall(r"\d+", text)]
        pixels, limit = (numbers[0], numbers[1]) if len(numbers) >= 2 else (None, 2 * Image.MAX_IMAGE_PIXELS)
        return ImageInputError(_too_large(pixels, min(limit, max_pixels or limit)))
    # Gradio refuses an SVG by its name ("SVG files are not supported ..."), before PIL fails to identify it.
    if isinstance(error, UnidentifiedImageError) or (isinstance(error, OSError) and "cannot identify" in text) or "SVG" in text:
        return ImageInputError("The file is not an image that can be read: send a PNG, JPEG, GIF, WebP, BMP or TIFF file.")
    if "truncated" in text or isinstance(error, EOFError):
        return ImageInputError("The image file is truncated (cut short while saving or uploading): save it again and retry.")
    return ImageInputError(f"The image file is damaged and cannot be decoded ({type(error).__name__}): save it again and retry.")


def _too_large(pixels: int | None, limit: int, size: str = "") -> str:
    what = size or (f"{pixels / 1e6:,.0f} megapixels" if pixels else "too many pixels")
    return f"The image is too large ({what}); the limit is {limit / 1e6:,.0f} megapixels: shrink it and retry."


def upright(pil: Image.Image) -> Image.Image:
    """The image turned as its EXIF orientation says (a phone photo's pixels are often stored on their side)."""
    try:
        orientation = pil.getexif().get(_EXIF_ORIENTATION, 1)
    except Exception:  # noqa: BLE001 - unreadable EXIF: use the pixels as stored
        return pil
    if orientation in (None, 1):
        return pil
    try:
        return ImageOps.exif_transpose(pil)
    except Exception:  # noqa: BLE001
        return pil
