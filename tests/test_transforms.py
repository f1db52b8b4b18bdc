"""The one preprocessing path: every input form of the same character gives the same ink image."""

from __future__ import annotations

import io
import time
import tracemalloc
from dataclasses import replace
from typing import Callable

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw

import siamese.transforms.preprocessing as transforms  # the private steps of preprocess, for the tests that look inside
from siamese.transforms import (
    ImageInputError,
    PreprocessConfig,
    has_ink,
    BatchAugmentation,
    koch_affine_matrices,
    preprocess,
    preprocess_batch,
)

SIZE = 105
TOLERANCE = 0.02  # max abs difference between two forms of the same picture


def draw_character(side: int = SIZE, box: tuple[int, int, int, int] = (20, 15, 85, 90)) -> Image.Image:
    """A thick black "F"-like glyph (vertical bar, foot, crossbar) on white, mode "L"."""
    image = Image.new("L", (side, side), 255)
    draw = ImageDraw.Draw(image)
    x0, y0, x1, y1 = box
    stroke = max(1, (x1 - x0) // 6)
    draw.rectangle([x0, y0, x0 + stroke, y1], fill=0)  # vertical bar
    draw.rectangle([x0, y1 - stroke, x1, y1], fill=0)  # foot
    middle = (y0 + y1) // 2
    draw.rectangle([x0, middle, (x0 + x1) // 2 + stroke, middle + stroke], fill=0)  # crossbar
    return image


REFERENCE = draw_character()
GRAY = np.asarray(REFERENCE)  # uint8, 0 = ink, 255 = paper
MASK = GRAY < 128  # True on the strokes


def iou(a: torch.Tensor, b: torch.Tensor, threshold: float = 0.5) -> float:
    a, b = a > threshold, b > threshold
    union = (a | b).sum().item()
    return (a & b).sum().item() / union if union else 1.0


@pytest.fixture(scope="module")
def reference() -> torch.Tensor:
    return preprocess(REFERENCE)


def test_reference_is_ink_on_zero_background(reference: torch.Tensor) -> None:
    assert reference.dtype == torch.float32
    assert reference.shape == (1, SIZE, SIZE)
    assert reference.min() >= 0.0 and reference.max() <= 1.0
    expected = torch.from_numpy(MASK.astype(np.float32))[None]
    assert torch.allclose(reference, expected, atol=TOLERANCE)  # strokes 1, paper 0
    assert has_ink(reference)


# --- every input form of the same picture -----------------------------------------------------


def _i16() -> Image.Image:
    image = Image.fromarray(GRAY.astype(np.uint16) * 257)
    assert image.mode == "I;16"
    return image


def _palette() -> Image.Image:
    image = REFERENCE.convert("RGB").convert("P")
    assert image.mode == "P"
    return image


def _strokes_on_transparent(stroke: int, hidden: int) -> np.ndarray:
    """RGBA strokes of grey ``stroke`` on a fully transparent background whose RGB is ``hidden``."""
    rgba = np.zeros((SIZE, SIZE, 4), np.uint8)
    rgba[..., :3] = hidden
    rgba[MASK] = (stroke, stroke, stroke, 255)
    return rgba


def _palette_png_with_transparent_index(stroke_rgb: tuple[int, ...], hidden_rgb: tuple[int, ...]) -> Image.Image:
    indices = MASK.astype(np.uint8)  # 0 = background (transparent), 1 = stroke
    image = Image.fromarray(indices, mode="P")
    image.putpalette([*hidden_rgb, *stroke_rgb] + [0] * (256 - 2) * 3)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", transparency=0)
    buffer.seek(0)
    loaded = Image.open(buffer)
    loaded.load()
    assert loaded.mode == "P" and loaded.info.get("transparency") == 0
    return loaded


def _la_strokes_on_transparent() -> Image.Image:
    la = np.zeros((SIZE, SIZE, 2), np.uint8)
    la[..., 0] = 255
    la[MASK] = (0, 255)
    return Image.fromarray(la, mode="LA")


BLACK, WHITE = (0, 0, 0), (255, 255, 255)

VARIANTS: list[tuple[str, Callable[[], Image.Image | np.ndarray | torch.Tensor]]] = [
    ("PIL 1", lambda: REFERENCE.convert("1")),
    ("PIL L", lambda: REFERENCE.copy()),
    ("PIL LA", lambda: REFERENCE.convert("LA")),
    ("PIL RGB", lambda: REFERENCE.convert("RGB")),
    ("PIL RGBA", lambda: REFERENCE.convert("RGBA")),
    ("PIL P", _palette),
    ("PIL I;16", _i16),
    ("PIL I (32-bit)", lambda: REFERENCE.convert("I")),
    ("PIL F [0,1] (Image.fromarray of a float array)", lambda: Image.fromarray(GRAY.astype(np.float32) / 255.0)),
    ("PIL F [0,255]", lambda: Image.fromarray(GRAY.astype(np.float32))),
    ("numpy uint8 HxW", lambda: GRAY.copy()),
    ("numpy uint8 HxWx1", lambda: GRAY[..., None].copy()),
    ("numpy uint8 HxWx3", lambda: np.stack([GRAY] * 3, axis=-1)),
    ("numpy uint8 HxWx4", lambda: np.dstack([GRAY, GRAY, GRAY, np.full_like(GRAY, 255)])),
    ("numpy uint8 3xHxW", lambda: np.stack([GRAY] * 3, axis=0)),
    ("numpy bool", lambda: GRAY > 127),
    ("numpy float [0,1]", lambda: GRAY.astype(np.float32) / 255.0),
    ("numpy float64 [0,255]", lambda: GRAY.astype(np.float64)),
    ("numpy uint16", lambda: GRAY.astype(np.uint16) * 257),
    ("torch uint8 HxW", lambda: torch.from_numpy(GRAY.copy())),
    ("inverted numpy (light on dark)", lambda: 255 - GRAY),
    ("inverted PIL RGB (light on dark)", lambda: Image.fromarray(255 - GRAY).convert("RGB")),
    ("inverted numpy bool", lambda: GRAY <= 127),
    ("RGBA black strokes, transparent black", lambda: _strokes_on_transparent(0, 0)),
    ("RGBA black strokes, transparent white", lambda: _strokes_on_transparent(0, 255)),
    ("RGBA white strokes, transparent black", lambda: _strokes_on_transparent(255, 0)),
    ("RGBA white strokes, transparent white", lambda: _strokes_on_transparent(255, 255)),
    ("PIL RGBA white strokes on transparent", lambda: Image.fromarray(_strokes_on_transparent(255, 0), mode="RGBA")),
    ("PIL LA black strokes on transparent", _la_strokes_on_transparent),
    ("palette PNG, black strokes, transparent white", lambda: _palette_png_with_transparent_index(BLACK, WHITE)),
    ("palette PNG, white strokes, transparent black", lambda: _palette_png_with_transparent_index(WHITE, BLACK)),
    ("palette PNG, black strokes, transparent black", lambda: _palette_png_with_transparent_index(BLACK, BLACK)),
]


@pytest.mark.parametrize("make", [make for _, make in VARIANTS], ids=[name for name, _ in VARIANTS])
def test_every_input_form_gives_the_same_ink_image(make, reference: torch.Tensor) -> None:
    out = preprocess(make())
    assert out.dtype == torch.float32
    assert out.shape == (1, SIZE, SIZE)
    assert out.min() >= 0.0 and out.max() <= 1.0
    difference = (out - reference).abs().max().item()
    assert difference < TOLERANCE, f"max abs difference {difference:.3f} from the reference"


def test_input_is_not_modified() -> None:
    array = GRAY.copy()
    image = REFERENCE.copy()
    preprocess(array)
    preprocess(image)
    assert np.array_equal(array, GRAY)
    assert np.array_equal(np.asarray(image), GRAY)


@pytest.mark.parametrize("size", [105, 56, 28, 8])
def test_output_size(size: int, reference: torch.Tensor) -> None:
    out = preprocess(REFERENCE, PreprocessConfig(input_size=size))
    assert out.shape == (1, size, size)
    assert out.dtype == torch.float32
    assert out.min() >= 0.0 and out.max() <= 1.0
    # The same picture, only smaller: ink where the reference has ink.
    shrunk = torch.nn.functional.interpolate(reference[None], size=(size, size), mode="area")[0]
    assert (out - shrunk).abs().mean().item() < 0.05


def test_preprocess_batch_stacks_mixed_forms(reference: torch.Tensor) -> None:
    batch = preprocess_batch([REFERENCE, GRAY, 255 - GRAY], PreprocessConfig())
    assert batch.shape == (3, 1, SIZE, SIZE)
    for out in batch:
        assert (out - reference).abs().max().item() < TOLERANCE


def test_preprocess_batch_of_nothing_is_an_input_error() -> None:
    with pytest.raises(ImageInputError, match="No images"):
        preprocess_batch([], PreprocessConfig())


# --- odd sizes ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "image",
    [
        Image.new("L", (1, 1), 0),
        Image.new("L", (1, 1), 255),
        np.zeros((1, 1), np.uint8),
        np.ones((1, 1, 3), np.float32),
        np.zeros((1, 300), np.uint8),
        np.full((300, 2, 4), 255, np.uint8),
    ],
    ids=["1x1 black", "1x1 white", "1x1 array", "1x1x3 float", "1x300 strip", "300x2 RGBA strip"],
)
def test_tiny_and_thin_images_work(image) -> None:
    out = preprocess(image)
    assert out.shape == (1, SIZE, SIZE)
    assert out.dtype == torch.float32
    assert torch.isfinite(out).all()
    assert out.min() >= 0.0 and out.max() <= 1.0


@pytest.mark.parametrize("mode", ["L", "RGBA", "I;16"])
def test_huge_image_is_fast_and_light(mode: str, reference: torch.Tensor) -> None:
    side = 6000
    scale = side / SIZE
    big = draw_character(side, tuple(int(round(v * scale)) for v in (20, 15, 85, 90)))
    if mode == "RGBA":
        big = big.convert("RGBA")
    elif mode == "I;16":
        big = Image.fromarray(np.asarray(big).astype(np.uint16) * 257)
        assert big.mode == "I;16"
    tracemalloc.start()
    try:
        start = time.perf_counter()
        out = preprocess(big)
        elapsed = time.perf_counter() - start
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert elapsed < 2.0, f"{elapsed:.2f} s for a {side}x{side} image"
    # Working at full resolution would need several float copies of 36 M pixels (> 700 MB).
    assert peak < 300e6, f"peak {peak / 1e6:.0f} MB of numpy memory"
    assert out.shape == (1, SIZE, SIZE)
    assert iou(out, reference) > 0.8


@pytest.mark.parametrize("mode", ["I;16", "I;16B"])
def test_huge_16_bit_image_keeps_grey_strokes(mode: str) -> None:
    """Mid-grey strokes on a 16-bit scan survive the shrinking of huge images, as they do on small ones."""
    side = 3000
    array = np.full((side, side), 65535, np.uint16)
    array[1000:2000, 1400:1600] = 20000  # a mid-grey bar
    big = Image.frombytes(mode, (side, side), array.astype(">u2" if mode.endswith("B") else "<u2").tobytes())
    small = Image.fromarray(array[::2, ::2].copy())  # the same picture below the shrinking threshold
    assert max(small.size) <= transforms._MAX_WORKING_SIDE < side
    out_big, out_small = preprocess(big), preprocess(small)
    assert out_small.max() > 0.5
    assert (out_big - out_small).abs().max().item() < 0.05


def test_huge_image_is_shrunk_before_the_float_work(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[tuple[int, int]] = []
    original = transforms._ink_array

    def spy(pil: Image.Image) -> np.ndarray:
        seen.append(pil.size)
        return original(pil)

    monkeypatch.setattr(transforms, "_ink_array", spy)
    preprocess(Image.new("L", (6000, 6000), 255))
    assert seen and max(seen[0]) <= transforms._MAX_WORKING_SIDE


# --- inputs that cannot be images ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("image", "message"),
    [
        (np.zeros((0, 0), np.uint8), "empty"),
        (np.zeros((0, 10), np.uint8), "empty"),
        (np.zeros((10, 0, 3), np.uint8), "empty"),
        (Image.new("L", (0, 0)), "empty"),
        (np.zeros((10, 10, 5), np.uint8), "shape"),
        (np.zeros((10,), np.uint8), "shape"),
        (np.zeros((2, 10, 10, 3), np.uint8), "shape"),
        (np.full((10, 10), np.nan, np.float32), "NaN"),
        (np.where(MASK, np.nan, 1.0), "NaN"),
        (np.full((10, 10), np.inf), "infinite"),
        (Image.fromarray(np.full((10, 10), np.nan, np.float32)), "NaN"),
        ("not an image", "PIL image or a numpy array"),
        ([[0, 255], [255, 0]], "PIL image or a numpy array"),
    ],
    ids=[
        "0x0",
        "0x10",
        "10x0x3",
        "PIL 0x0",
        "HxWx5",
        "1-D",
        "4-D",
        "all NaN",
        "some NaN",
        "inf",
        "PIL F NaN",
        "string",
        "list",
    ],
)
def test_bad_inputs_raise_a_readable_input_error(image, message: str) -> None:
    with pytest.raises(ImageInputError, match=message) as caught:
        preprocess(image)
    text = str(caught.value)
    assert text[0].isupper() and text.endswith(".") and len(text) < 200


def test_input_error_is_a_value_error() -> None:
    assert issubclass(ImageInputError, ValueError)


# --- blank images -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "image",
    [
        Image.new("L", (105, 105), 255),
        Image.new("RGB", (80, 120), (255, 255, 255)),
        Image.new("L", (105, 105), 0),  # an untouched dark canvas
        Image.new("RGBA", (105, 105), (0, 0, 0, 0)),  # nothing drawn on a transparent layer
        np.full((64, 64), 255, np.uint8),
    ],
    ids=["white L", "white RGB", "black L", "transparent RGBA", "white array"],
)
def test_blank_image_is_all_zero_and_has_no_ink(image) -> None:
    out = preprocess(image)
    assert out.shape == (1, SIZE, SIZE)
    assert torch.count_nonzero(out) == 0
    assert not has_ink(out)


def test_has_ink_on_the_character(reference: torch.Tensor) -> None:
    assert has_ink(reference)
    assert not has_ink(torch.zeros_like(reference))


# --- fit_to_box ---------------------------------------------------------------------------------


def test_fit_to_box_removes_position_and_scale() -> None:
    small_in_corner = draw_character(box=(2, 3, 26, 29))
    large_in_centre = draw_character(box=(12, 10, 92, 95))
    fitted = PreprocessConfig(fit_to_box=True)
    a, b = preprocess(small_in_corner, fitted), preprocess(large_in_centre, fitted)
    assert a.shape == b.shape == (1, SIZE, SIZE)
    assert iou(a, b) > 0.7
    # Without fit_to_box the two barely overlap, so the check above measures something.
    assert iou(preprocess(small_in_corner), preprocess(large_in_centre)) < 0.3


def test_fit_to_box_centres_the_ink_with_a_margin() -> None:
    config = PreprocessConfig(fit_to_box=True, margin=0.1)
    out = preprocess(draw_character(box=(2, 3, 26, 29)), config)[0]
    rows = torch.nonzero(out.amax(dim=1) > 0.5).flatten()
    cols = torch.nonzero(out.amax(dim=0) > 0.5).flatten()
    for indices in (rows, cols):
        first, last = indices[0].item(), indices[-1].item()
        assert first >= 0.1 * SIZE - 2 and last <= 0.9 * SIZE + 2  # blank margin kept
        assert abs((first + last) / 2 - (SIZE - 1) / 2) < 3  # centred
    assert max(rows[-1] - rows[0], cols[-1] - cols[0]).item() > 0.7 * SIZE  # enlarged


def test_fit_to_box_on_a_blank_image_stays_blank() -> None:
    out = preprocess(Image.new("L", (105, 105), 255), PreprocessConfig(fit_to_box=True))
    assert out.shape == (1, SIZE, SIZE)
    assert not has_ink(out)


# --- photos ---------------------------------------------------------------------------------------


def test_photo_with_three_channels_keeps_colour() -> None:
    array = np.zeros((40, 40, 3), np.uint8)
    array[:, :20] = (255, 0, 0)
    array[:, 20:] = (0, 0, 255)
    out = preprocess(array, PreprocessConfig(input_size=40, channels=3, kind="photo"))
    assert out.shape == (3, 40, 40)
    assert out.dtype == torch.float32
    assert torch.allclose(out[:, 20, 5], torch.tensor([1.0, 0.0, 0.0]), atol=1e-6)
    assert torch.allclose(out[:, 20, 35], torch.tensor([0.0, 0.0, 1.0]), atol=1e-6)


def test_photo_keeps_intensities_without_polarity_flip() -> None:
    config = PreprocessConfig(kind="photo")
    out = preprocess(REFERENCE, config)
    # Dark strokes stay dark and white paper stays white (no ink normalisation for photos).
    expected = torch.from_numpy(GRAY.astype(np.float32) / 255.0)[None]
    assert torch.allclose(out, expected, atol=1e-6)
    grey = preprocess(np.full((SIZE, SIZE), 128, np.uint8), config)
    assert torch.allclose(grey, torch.full_like(grey, 128 / 255), atol=1e-6)


def test_photo_transparent_pixels_are_white() -> None:
    rgba = np.zeros((SIZE, SIZE, 4), np.uint8)  # transparent black everywhere
    out = preprocess(rgba, PreprocessConfig(kind="photo", channels=3))
    assert torch.allclose(out, torch.ones_like(out))


@pytest.mark.parametrize(
    "kwargs",
    [{"kind": "sketch"}, {"channels": 2}, {"kind": "ink", "channels": 3}, {"input_size": 4}],
)
def test_invalid_config_is_rejected(kwargs) -> None:
    with pytest.raises(ValueError):
        PreprocessConfig(**kwargs)


# --- Koch's affine augmentation, over a batch ---------------------------------------------------


def test_batch_augmentation_keeps_shape_and_range(reference: torch.Tensor) -> None:
    augment = BatchAugmentation(SIZE, stroke_jitter=True, elastic=True)
    batch = reference[None].repeat(6, 1, 1, 1)
    out = augment(batch, torch.Generator().manual_seed(0))
    assert out.shape == batch.shape and out.dtype == batch.dtype
    assert out.min() >= 0.0 and out.max() <= 1.0
    assert torch.equal(batch, reference[None].repeat(6, 1, 1, 1))  # the input is not modified


def test_batch_augmentation_is_a_function_of_the_generator_seed(reference: torch.Tensor) -> None:
    augment = BatchAugmentation(SIZE, stroke_jitter=True, elastic=True)
    batch = reference[None].repeat(4, 1, 1, 1)
    first = augment(batch, torch.Generator().manual_seed(7))
    torch.manual_seed(123)  # the global generator plays no part
    assert torch.equal(first, augment(batch, torch.Generator().manual_seed(7)))
    assert not torch.equal(first, augment(batch, torch.Generator().manual_seed(8)))


def test_each_image_of_a_batch_gets_its_own_small_distortion(reference: torch.Tensor) -> None:
    out = BatchAugmentation(SIZE)(reference[None].repeat(20, 1, 1, 1), torch.Generator().manual_seed(0))
    changed = [(image - reference).abs().max().item() > 0.1 for image in out]
    # Each of four components fires with p = 0.5, so about 19 of 20 images change (1/16 keep all four off).
    assert sum(changed) >= 14
    assert all(iou(image, reference) > 0.2 for image in out)  # a small distortion, not a different picture
    distinct = {tuple(image.flatten()[::97].tolist()) for image in out}
    assert len(distinct) >= 15  # not one distortion repeated over the batch


def test_koch_affine_matrices_follow_the_papers_distribution() -> None:
    theta = koch_affine_matrices(4000, torch.Generator().manual_seed(0)).double()
    linear, shift = theta[:, :, :2], theta[:, :, 2]
    identity = (linear - torch.eye(2)).abs().amax(dim=(1, 2)) < 1e-6
    assert abs(identity.double().mean().item() - 1 / 8) < 0.03  # rotation, shear and scale all off: 1/2^3
    unshifted = shift.abs().amax(dim=1) < 1e-7
    unmoved = unshifted & identity
    assert abs(unmoved.double().mean().item() - 1 / 16) < 0.02
    forward = torch.linalg.inv(linear)
    assert forward.diagonal(dim1=1, dim2=2).abs().max() <= 1.2 * 1.31  # scale 1.2 times at most shear and rotation
    pixels = (forward @ shift[:, :, None]).abs().max().item() * 105 / 2  # the shift in pixels at 105 x 105
    assert 1.8 < pixels <= 2.0 + 1e-6
    angles = torch.rad2deg(torch.atan2(linear[identity == 0][:, 1, 0], linear[identity == 0][:, 0, 0]))
    assert angles.abs().max() < 10.0 + 17.0  # rotation +-10 degrees plus at most a shear's tilt


# --- stroke width ---------------------------------------------------------------------------


def _bar(width: int, side: int = 112) -> torch.Tensor:
    ink = torch.zeros(1, side, side)
    ink[0, side // 2 - width // 2 : side // 2 - width // 2 + width, 10:-10] = 1.0
    return ink


@pytest.mark.parametrize("width", [1, 3, 6, 9, 15])
def test_stroke_width_measures_a_bar_to_within_a_pixel(width):
    from siamese.transforms import stroke_width

    assert abs(stroke_width(_bar(width)) - width) <= 1.0


def _drawn_character(pen: int) -> Image.Image:
    image = Image.new("L", (400, 400), 255)
    draw = ImageDraw.Draw(image)
    draw.line([(100, 80), (100, 320), (300, 320)], fill=0, width=pen)
    draw.line([(200, 80), (300, 200)], fill=0, width=pen)
    return image


def test_strokes_of_any_pen_come_out_within_omniglots_range():
    from siamese.transforms import stroke_width

    config = PreprocessConfig(input_size=112, fit_to_box=True)  # 112: the side the band is measured at
    widths = [stroke_width(preprocess(_drawn_character(pen), config)) for pen in (4, 12, 30, 45)]
    assert all(3.0 <= width <= 10.5 for width in widths), widths  # Omniglot's 5th-95th percentile: 4.6-9.7
    raw = [stroke_width(preprocess(_drawn_character(pen), PreprocessConfig(input_size=112))) for pen in (4, 45)]
    assert raw[1] - raw[0] > 8.0  # without normalisation the pens differ a lot


def test_strokes_within_omniglots_range_are_left_untouched(omniglot_validation):
    config = PreprocessConfig(input_size=56, fit_to_box=True)
    scan = omniglot_validation.images[0]
    from siamese.transforms.geometry import fit_to_box, resize
    from siamese.transforms.preprocessing import _ink_array

    untouched = resize(fit_to_box(torch.from_numpy(_ink_array(scan))[None], config.margin), 56)
    assert torch.equal(preprocess(scan, config), untouched)


def test_stroke_jitter_changes_width_both_ways_and_keeps_the_range() -> None:
    from siamese.transforms import stroke_jitter

    ink = torch.zeros(40, 1, 28, 28)
    ink[:, :, 12:16, 4:24] = 1.0  # a bar 4 px thick, 40 times
    out = stroke_jitter(ink, torch.Generator().manual_seed(0))
    sums = out.sum(dim=(1, 2, 3))
    assert sums.min() < ink[0].sum() < sums.max()  # thinner and thicker both happen, image by image
    assert out.shape == ink.shape and 0.0 <= out.min() and out.max() <= 1.0


def test_training_augmentation_adds_the_chosen_distortions(reference: torch.Tensor) -> None:
    from siamese.transforms import training_augmentation

    batch = reference[None].repeat(8, 1, 1, 1)
    plain = training_augmentation(SIZE)(batch, torch.Generator().manual_seed(3))
    jittered = training_augmentation(SIZE, stroke_jitter=True)(batch, torch.Generator().manual_seed(3))
    elastic = training_augmentation(SIZE, elastic=True)(batch, torch.Generator().manual_seed(3))
    assert not torch.equal(plain, jittered) and not torch.equal(plain, elastic)
    assert (plain - elastic).abs().amax(dim=(1, 2, 3)).gt(0.1).sum() >= 2  # elastic applies to about half the images


def test_a_thinner_stroke_band_thins_the_scans_and_travels_in_the_config(omniglot_validation, tmp_path):
    import siamese
    from siamese.models import build_model
    from siamese.transforms import stroke_width

    scans = omniglot_validation.images[::400][:12]
    default = PreprocessConfig(input_size=56, fit_to_box=True)
    thin = PreprocessConfig(input_size=56, fit_to_box=True, stroke_band=(2.5, 4.5))
    widths = {c.stroke_band: np.median([stroke_width(preprocess(s, c)) for s in scans]) for c in (default, thin)}
    assert widths[(2.5, 4.5)] < widths[default.stroke_band] - 0.3, widths
    model = build_model("compact", stroke_band=[2.5, 4.5], margin=0.2)
    model.save_pretrained(tmp_path)
    assert siamese.load_model(tmp_path).preprocess_config == replace(thin, margin=0.2)


@pytest.mark.parametrize(("arguments", "message"), [({"margin": 0.5}, "margin must be in"), ({"stroke_band": (5, 2)}, "stroke_band must be"),
                                                    ({"stroke_band": (0, 2)}, "stroke_band must be")])  # fmt: skip
def test_impossible_margins_and_bands_say_what_is_allowed(arguments, message):
    with pytest.raises(ValueError, match=message):
        PreprocessConfig(fit_to_box=True, **arguments)
