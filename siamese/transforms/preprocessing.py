"""One preprocessing path from any image to the model's input.

Training, evaluation and the app all call :func:`preprocess`, so a drawing in the browser and a
scanned Omniglot character reach the network through exactly the same code.

Conventions of the model input (``kind="ink"``, used for characters and digits):
a float tensor ``[1, H, W]`` in ``[0, 1]`` where 1 is ink and 0 is background, whatever the
polarity of the source (ink on light paper or light strokes on a dark screen). Transparent pixels
are background. For ``kind="photo"`` (faces, the user's photos) intensities are kept as they are,
in ``[0, 1]``, grey or RGB.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any, Sequence

import numpy as np
import torch
from PIL import Image

from siamese.transforms.files import ImageInputError, upright
from siamese.transforms.geometry import STROKE_BAND, fit_to_box, normalise_stroke_width, resize

# Images larger than this (in pixels) are shrunk with a cheap box reduction before anything else,
# so a 20,000 x 20,000 upload costs about as much as a 2,000 x 2,000 one.
_MAX_WORKING_SIDE = 2048
#: Raised whenever the output of :func:`preprocess` changes, so caches of preprocessed data rebuild.
PREPROCESS_VERSION = 2


@dataclass(frozen=True)
class PreprocessConfig:
    """How a model wants its input; stored in each checkpoint's ``config.json``."""

    input_size: int = 105  # pixels of the square the model takes
    channels: int = 1
    kind: str = "ink"  # "ink" (characters: polarity-normalised) or "photo" (kept as is)
    fit_to_box: bool = False  # crop to the ink's bounding box and centre it (position and scale)
    margin: float = 0.1  # blank border left around the ink when ``fit_to_box`` is on
    stroke_band: tuple[float, float] = STROKE_BAND  # with ``fit_to_box``: stroke widths kept (pixels of a 112-px box)

    def __post_init__(self) -> None:
        if self.kind not in ("ink", "photo"):
            raise ValueError(f"kind must be 'ink' (characters, digits) or 'photo' (faces, pictures), got {self.kind!r}.")
        if self.channels not in (1, 3):
            raise ValueError(f"channels must be 1 (grey) or 3 (RGB), got {self.channels!r}.")
        if self.kind == "ink" and self.channels != 1:
            raise ValueError(f"kind 'ink' takes 1 channel, got channels={self.channels}; for colour images use kind 'photo'.")
        if self.input_size < 8:
            raise ValueError(f"input_size must be at least 8, got {self.input_size}.")
        if not 0.0 <= self.margin < 0.5:
            raise ValueError(f"margin must be in [0, 0.5) (a fraction of the side on each edge), got {self.margin!r}.")
        band = tuple(float(width) for width in self.stroke_band)
        if len(band) != 2 or not 0.0 < band[0] <= band[1]:
            raise ValueError(f"stroke_band must be two widths 0 < low <= high, got {self.stroke_band!r}.")
        object.__setattr__(self, "stroke_band", band)  # a list from config.json becomes the tuple it stands for

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def preprocess(image: Image.Image | np.ndarray, config: PreprocessConfig = PreprocessConfig()) -> torch.Tensor:
    """Map any PIL image or array to the model's input tensor ``[C, input_size, input_size]``."""
    pil = _as_pil(image)
    if pil.width < 1 or pil.height < 1:
        raise ImageInputError("The image is empty (0 pixels).")
    pil = _shrink_if_huge(upright(pil))
    if config.kind == "photo":
        array = _photo_array(pil, config.channels)
    else:
        array = _ink_array(pil)[None]
    tensor = torch.from_numpy(array)
    if config.kind == "ink" and config.fit_to_box:
        tensor = normalise_stroke_width(fit_to_box(tensor, config.margin), config.stroke_band)
    return resize(tensor, config.input_size)


def preprocess_batch(images: Sequence[Image.Image | np.ndarray], config: PreprocessConfig) -> torch.Tensor:
    """Stack :func:`preprocess` over a list into ``[N, C, input_size, input_size]``."""
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
