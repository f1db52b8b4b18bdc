"""One preprocessing path from any image to the model's input, and Koch's affine augmentation.

Training, evaluation and the app all call :func:`preprocess`, so a drawing in the browser and a
scanned Omniglot character reach the network through exactly the same code.

Conventions of the model input (``kind="ink"``, used for characters and digits):
a float tensor ``[1, H, W]`` in ``[0, 1]`` where 1 is ink and 0 is background, whatever the
polarity of the source (ink on light paper or light strokes on a dark screen). Transparent pixels
are background. For ``kind="photo"`` (faces, the user's photos) intensities are kept as they are,
in ``[0, 1]``, grey or RGB.
"""

from __future__ import annotations

import io
import math
import re
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import IO, Any, Sequence

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError

# Images larger than this (in pixels) are shrunk with a cheap box reduction before anything else,
# so a 20,000 x 20,000 upload costs about as much as a 2,000 x 2,000 one.
_MAX_WORKING_SIDE = 2048
#: Raised whenever the output of :func:`preprocess` changes, so caches of preprocessed data rebuild.
PREPROCESS_VERSION = 2
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


@dataclass(frozen=True)
class PreprocessConfig:
    """How a model wants its input; stored in each checkpoint's ``config.json``."""

    size: int = 105
    channels: int = 1
    kind: str = "ink"  # "ink" (characters: polarity-normalised) or "photo" (kept as is)
    fit_to_box: bool = False  # crop to the ink's bounding box and centre it (position and scale)
    margin: float = 0.1  # blank border left around the ink when ``fit_to_box`` is on

    def __post_init__(self) -> None:
        if self.kind not in ("ink", "photo"):
            raise ValueError(f"kind must be 'ink' or 'photo', got {self.kind!r}")
        if self.channels not in (1, 3):
            raise ValueError(f"channels must be 1 or 3, got {self.channels}")
        if self.kind == "ink" and self.channels != 1:
            raise ValueError("ink images have one channel")
        if self.size < 8:
            raise ValueError(f"size must be at least 8, got {self.size}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def preprocess(image: Image.Image | np.ndarray, config: PreprocessConfig = PreprocessConfig()) -> torch.Tensor:
    """Map any PIL image or array to the model's input tensor ``[C, size, size]``."""
    pil = _as_pil(image)
    if pil.width < 1 or pil.height < 1:
        raise ImageInputError("The image is empty (0 pixels).")
    pil = _shrink_if_huge(_upright(pil))
    if config.kind == "photo":
        array = _photo_array(pil, config.channels)
    else:
        array = _ink_array(pil)[None]
    tensor = torch.from_numpy(array)
    if config.kind == "ink" and config.fit_to_box:
        tensor = _normalise_stroke_width(_fit_to_box(tensor, config.margin))
    return _resize(tensor, config.size)


def preprocess_batch(images: Sequence[Image.Image | np.ndarray], config: PreprocessConfig) -> torch.Tensor:
    """Stack :func:`preprocess` over a list into ``[N, C, size, size]``."""
    if len(images) == 0:
        raise ImageInputError("No images were given.")
    return torch.stack([preprocess(image, config) for image in images])


def to_image(tensor: torch.Tensor, kind: str = "ink", scale: int = 3) -> Image.Image:
    """A model input ``[C, H, W]`` as a picture, to show what the model sees (ink dark on white)."""
    array = tensor.detach().float().cpu().clamp(0, 1).numpy()
    array = 1.0 - array if kind == "ink" else array
    pixels = (255 * (array[0] if array.shape[0] == 1 else array.transpose(1, 2, 0))).round().astype(np.uint8)
    image = Image.fromarray(pixels)
    return image.resize((image.width * scale, image.height * scale), Image.Resampling.NEAREST)


def has_ink(image: torch.Tensor, threshold: float = 0.05) -> bool:
    """True when a preprocessed ink image holds any stroke; blank drawings are False."""
    return bool((image > threshold).any())


# --- image files -----------------------------------------------------------------------------


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
        return _upright(image)
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
    if isinstance(error, UnidentifiedImageError) or (isinstance(error, OSError) and "cannot identify" in text):
        return ImageInputError("The file is not an image that can be read: send a PNG, JPEG, GIF, WebP, BMP or TIFF file.")
    if "truncated" in text or isinstance(error, EOFError):
        return ImageInputError("The image file is truncated (cut short while saving or uploading): save it again and retry.")
    return ImageInputError(f"The image file is damaged and cannot be decoded ({type(error).__name__}): save it again and retry.")


def _too_large(pixels: int | None, limit: int, size: str = "") -> str:
    what = size or (f"{pixels / 1e6:,.0f} megapixels" if pixels else "too many pixels")
    return f"The image is too large ({what}); the limit is {limit / 1e6:,.0f} megapixels: shrink it and retry."


def _upright(pil: Image.Image) -> Image.Image:
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


# --- input forms -----------------------------------------------------------------------------


def as_image(image: Image.Image | np.ndarray) -> Image.Image:
    """A PIL image or an array (H x W, H x W x 2/3/4 or C x H x W; bool, integer or float in [0, 1] or [0, 255])
    as a PIL image, as :func:`preprocess` reads it; NaN, infinite, empty or oddly shaped arrays raise
    :class:`ImageInputError`."""
    return _as_pil(image)


def _as_pil(image: Image.Image | np.ndarray) -> Image.Image:
    if isinstance(image, Image.Image):
        return image
    if isinstance(image, torch.Tensor):
        image = image.detach().cpu().numpy()
    if not isinstance(image, np.ndarray):
        raise ImageInputError(f"Expected a PIL image or a numpy array, got {type(image).__name__}.")
    array = image
    if array.ndim == 3 and array.shape[0] in (1, 2, 3, 4) and array.shape[-1] not in (1, 2, 3, 4):
        array = np.moveaxis(array, 0, -1)  # CHW -> HWC
    if array.ndim == 3 and array.shape[-1] == 1:
        array = array[..., 0]
    if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[-1] not in (2, 3, 4)):
        raise ImageInputError(f"Expected an H x W, H x W x 3 or H x W x 4 array, got shape {array.shape}.")
    if array.size == 0:
        raise ImageInputError("The image is empty (0 pixels).")
    if not (array.dtype == bool or np.issubdtype(array.dtype, np.integer) or np.issubdtype(array.dtype, np.floating)):
        raise ImageInputError(f"Expected an array of numbers, got dtype {array.dtype}.")
    if array.dtype == bool:
        array = array.astype(np.uint8) * 255
    elif array.dtype == np.uint16:
        array = (array >> 8).astype(np.uint8)
    elif np.issubdtype(array.dtype, np.floating):
        if not np.isfinite(array).all():
            raise ImageInputError("The image contains NaN or infinite values.")
        high = 1.0 if array.max() <= 1.0 else 255.0
        array = np.clip(array / high * 255.0, 0, 255).round().astype(np.uint8)
    elif array.dtype != np.uint8:
        array = np.clip(array, 0, 255).astype(np.uint8)
    mode = "L" if array.ndim == 2 else {2: "LA", 3: "RGB", 4: "RGBA"}[array.shape[-1]]
    return Image.fromarray(np.ascontiguousarray(array), mode=mode)


def _shrink_if_huge(pil: Image.Image) -> Image.Image:
    factor = math.ceil(max(pil.size) / _MAX_WORKING_SIDE)
    if factor <= 1:
        return pil
    if pil.mode.startswith("I;16"):
        pil = pil.convert("I")  # keep all 16 bits; converting to "L" would clip everything above 255
    elif pil.mode not in ("L", "RGB", "RGBA", "LA", "F", "I"):
        pil = pil.convert("RGBA" if _has_alpha(pil) else "RGB" if pil.mode in ("P", "CMYK", "YCbCr") else "L")
    return pil.reduce(factor)


def _has_alpha(pil: Image.Image) -> bool:
    return pil.mode in ("RGBA", "LA", "PA", "La", "RGBa") or (pil.mode == "P" and "transparency" in pil.info)


def _gray_and_alpha(pil: Image.Image) -> tuple[np.ndarray, np.ndarray]:
    """Luminance and opacity, both float32 in [0, 1]."""
    if pil.mode.startswith("I") or pil.mode == "F":
        gray = np.asarray(pil, dtype=np.float32)
        if not np.isfinite(gray).all():
            raise ImageInputError("The image contains NaN or infinite values.")
        peak = gray.max()
        # Float images may be in [0, 1] (what Image.fromarray makes of a [0, 1] float array).
        high = 65535.0 if peak > 255 else 1.0 if pil.mode == "F" and peak <= 1.0 else 255.0
        return np.clip(gray / high, 0, 1), np.ones_like(gray)
    if _has_alpha(pil):
        rgba = np.asarray(pil.convert("RGBA"), dtype=np.float32) / 255.0
        gray = rgba[..., :3] @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
        return gray, rgba[..., 3]
    gray = np.asarray(pil.convert("L"), dtype=np.float32) / 255.0
    return gray, np.ones_like(gray)


def _ink_array(pil: Image.Image) -> np.ndarray:
    """Ink intensity in [0, 1] (1 = stroke), independent of polarity; transparent = background."""
    gray, alpha = _gray_and_alpha(pil)
    opaque = alpha > 0.5
    if not opaque.all():
        # Paint transparent pixels with the background colour: the opaque border's colour when the
        # border is visible, else the opposite of the strokes (a layer of strokes on nothing).
        border = _border(opaque)
        if border.any():
            background = float(np.median(gray[border]))
        else:
            background = 1.0 if (not opaque.any() or gray[opaque].mean() < 0.5) else 0.0
        gray = gray * alpha + background * (1.0 - alpha)
    background = float(np.median(_border_values(gray)))
    ink = 1.0 - gray if background >= 0.5 else gray
    low = float(np.median(ink))  # the background's level after polarity flip
    ink = np.clip((ink - low) / max(1.0 - low, 1e-6), 0.0, 1.0)
    return ink.astype(np.float32)


def _border(mask: np.ndarray) -> np.ndarray:
    edge = np.zeros_like(mask, dtype=bool)
    edge[0, :] = edge[-1, :] = edge[:, 0] = edge[:, -1] = True
    return edge & mask


def _border_values(gray: np.ndarray) -> np.ndarray:
    return np.concatenate([gray[0, :], gray[-1, :], gray[:, 0], gray[:, -1]])


def _photo_array(pil: Image.Image, channels: int) -> np.ndarray:
    if pil.mode.startswith("I") or pil.mode == "F":
        gray, _ = _gray_and_alpha(pil)
        pil = Image.fromarray((gray * 255).round().astype(np.uint8), mode="L")
    if _has_alpha(pil):  # transparent = white background for photos
        rgba = pil.convert("RGBA")
        backdrop = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        pil = Image.alpha_composite(backdrop, rgba)
    array = np.asarray(pil.convert("RGB" if channels == 3 else "L"), dtype=np.float32) / 255.0
    return array.transpose(2, 0, 1) if channels == 3 else array[None]


# --- geometry --------------------------------------------------------------------------------


def _fit_to_box(ink: torch.Tensor, margin: float) -> torch.Tensor:
    """Crop to the ink's bounding box and pad to a centred square with a blank margin."""
    rows = torch.nonzero(ink[0].amax(dim=1) > 0.05).flatten()
    cols = torch.nonzero(ink[0].amax(dim=0) > 0.05).flatten()
    if rows.numel() == 0:
        return ink
    crop = ink[:, rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]
    side = int(math.ceil(max(crop.shape[1:]) / (1.0 - 2 * margin)))
    top = (side - crop.shape[1]) // 2
    left = (side - crop.shape[2]) // 2
    square = torch.zeros((ink.shape[0], side, side), dtype=ink.dtype)
    square[:, top : top + crop.shape[1], left : left + crop.shape[2]] = crop
    return square


# Stroke width of the character in a box of _STROKE_SIDE pixels (after fit_to_box), measured on
# 1,500 Omniglot background images: 5th percentile 4.6, median 6.2, 95th percentile 9.7.
_STROKE_SIDE = 112
_STROKE_BAND = (4.5, 9.5)


def stroke_width(ink: torch.Tensor) -> float:
    """Typical stroke width in pixels of an ink image ``[1, H, W]`` (0 for a blank one).

    Each stroke pixel's depth is the number of 3x3 erosions it survives; across a stroke of width
    w the depths average about (w + 2) / 4, which this inverts.
    """
    current = (ink > 0.5).float()[None]
    strokes = current.sum()
    if strokes == 0:
        return 0.0
    depth = torch.zeros_like(current)
    while current.any():
        depth += current
        current = -torch.nn.functional.max_pool2d(-current, 3, 1, 1)
    return float(4 * depth.sum() / strokes - 2)


def _normalise_stroke_width(ink: torch.Tensor) -> torch.Tensor:
    """Thin strokes that are thicker than Omniglot's, thicken those that are thinner.

    A pen on a canvas draws at any width; a character whose strokes already fall within the
    training data's range is returned untouched.
    """
    box = _resize(ink, _STROKE_SIDE)
    width = stroke_width(box)
    if width == 0 or _STROKE_BAND[0] <= width <= _STROKE_BAND[1]:
        return ink
    thicken = width < _STROKE_BAND[0]
    edge = _STROKE_BAND[0] if thicken else _STROKE_BAND[1]  # the nearest width Omniglot has: no jump at the band's edge
    for _ in range(round(abs(width - edge) / 2)):  # each 3x3 step changes the width by about 2 pixels
        pooled = torch.nn.functional.max_pool2d((box if thicken else -box)[None], 3, 1, 1)[0]
        box = pooled if thicken else -pooled
    return box


def _resize(tensor: torch.Tensor, size: int) -> torch.Tensor:
    if tensor.shape[1] != tensor.shape[2]:  # pad to square so the aspect ratio survives
        side = max(tensor.shape[1:])
        fill = 0.0 if tensor.shape[0] == 1 else 1.0
        square = torch.full((tensor.shape[0], side, side), fill, dtype=tensor.dtype)
        top, left = (side - tensor.shape[1]) // 2, (side - tensor.shape[2]) // 2
        square[:, top : top + tensor.shape[1], left : left + tensor.shape[2]] = tensor
        tensor = square
    if tensor.shape[1] == size:
        return tensor.contiguous()
    # Area averaging keeps thin strokes when shrinking; bilinear when enlarging.
    mode = "area" if tensor.shape[1] > size else "bilinear"
    kwargs = {} if mode == "area" else {"align_corners": False}
    out = torch.nn.functional.interpolate(tensor[None], size=(size, size), mode=mode, **kwargs)[0]
    return out.clamp_(0.0, 1.0).contiguous()


# --- augmentation ----------------------------------------------------------------------------


def koch_affine(image_size: int) -> torch.nn.Module:
    """Koch et al. (2015) affine distortions, each component applied with probability 0.5.

    Rotation +-10 degrees, shear +-0.3 (a shear factor, i.e. atan(0.3) = 16.7 degrees), scale
    0.8-1.2 and translation +-2 pixels at 105 x 105 (scaled with the input size). Background is 0.
    """
    from torchvision.transforms import v2

    shear = math.degrees(math.atan(0.3))
    shift = 2.0 / 105.0
    return v2.Compose(
        [
            v2.RandomApply([v2.RandomAffine(degrees=10)], p=0.5),
            v2.RandomApply([v2.RandomAffine(degrees=0, shear=(-shear, shear, -shear, shear))], p=0.5),
            v2.RandomApply([v2.RandomAffine(degrees=0, scale=(0.8, 1.2))], p=0.5),
            v2.RandomApply([v2.RandomAffine(degrees=0, translate=(shift, shift))], p=0.5),
        ]
    )


class StrokeJitter(torch.nn.Module):
    """Thicken or thin the strokes of an ink image ``[1, H, W]`` by a random amount, up to one 3x3 step.

    Pens differ in width, and preprocessing only brings a width into Omniglot's range, so the
    model learns that a character is the same whatever its width within and around that range.
    """

    def forward(self, ink: torch.Tensor) -> torch.Tensor:
        amount = float(torch.rand(()))
        pooled = torch.nn.functional.max_pool2d(ink[None], 3, 1, 1)[0]
        if torch.rand(()) < 0.5:  # thin instead: erosion is max-pooling of the negative
            pooled = -torch.nn.functional.max_pool2d(-ink[None], 3, 1, 1)[0]
        return torch.lerp(ink, pooled, amount)


def training_augmentation(image_size: int, stroke_jitter: bool = False, elastic: bool = False) -> torch.nn.Module:
    """Koch's affine distortions, optionally with stroke-width jitter and elastic distortion (Simard et al. 2003)."""
    from torchvision.transforms import v2

    steps: list[torch.nn.Module] = [koch_affine(image_size)]
    if elastic:  # displacements of about 2% of the side, smoothed over about 5%
        steps.append(v2.RandomApply([v2.ElasticTransform(alpha=0.6 * image_size, sigma=0.05 * image_size)], p=0.5))
    if stroke_jitter:
        steps.append(StrokeJitter())
    return steps[0] if len(steps) == 1 else v2.Compose(steps)
