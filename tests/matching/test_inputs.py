"""Every form a Gradio 6 Sketchpad value takes, decoded to the drawing."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image, ImageDraw

from siamese.matching import DrawingError, image_from_editor
from siamese.transforms import PreprocessConfig, has_ink, preprocess

INK = PreprocessConfig(input_size=56, fit_to_box=True)


def _stroke_layer(size: int = 200) -> Image.Image:
    """A transparent layer with one black stroke, as the editor's layers come."""
    layer = Image.new("RGBA", (size, size), (0, 0, 0, 0))
    ImageDraw.Draw(layer).line([(40, 100), (160, 100)], fill=(0, 0, 0, 255), width=12)
    return layer


def _composite(layer: Image.Image) -> Image.Image:
    white = Image.new("RGBA", layer.size, (255, 255, 255, 255))
    return Image.alpha_composite(white, layer)


@pytest.mark.parametrize("value", [None, {"background": None, "layers": [], "composite": None}])
def test_an_untouched_canvas_says_to_draw_and_what_to_send(value):
    with pytest.raises(DrawingError, match="empty.*composite"):
        image_from_editor(value)


def test_the_composite_is_used_when_present():
    layer = _stroke_layer()
    image = image_from_editor({"background": None, "layers": [layer], "composite": _composite(layer)})
    assert has_ink(preprocess(image, INK))


def test_layers_are_flattened_by_their_alpha_not_read_as_all_black():
    layer = _stroke_layer()
    image = image_from_editor({"background": None, "layers": [layer], "composite": None})
    ink = preprocess(image, INK)
    # The stroke is a horizontal bar: ink in the middle rows only, not a black square.
    assert has_ink(ink) and 0.02 < float((ink > 0.5).float().mean()) < 0.5
    assert np.asarray(layer.convert("L")).max() == 0  # why: read as "L" the layer is all black


def test_a_plain_image_or_array_is_accepted():
    layer = _composite(_stroke_layer())
    assert image_from_editor(layer) is layer
    assert image_from_editor(np.asarray(layer)).size == layer.size


@pytest.mark.parametrize("value", ["drawing.png", 42, {"composite": "drawing.png"}])
def test_other_forms_get_a_message_naming_the_expected_form(value):
    with pytest.raises(DrawingError, match="composite"):
        image_from_editor(value)


# --- the page's pad: a PNG data URL ---------------------------------------------------------------


def _data_url(image: Image.Image) -> str:
    import base64
    import io

    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def test_a_pads_data_url_decodes_to_its_drawing():
    from siamese.matching.inputs import image_from_data_url

    drawing = Image.new("L", (420, 420), 255)
    drawing.paste(0, (100, 100, 300, 120))
    decoded = image_from_data_url(_data_url(drawing))
    assert decoded.size == (420, 420) and decoded.convert("L").tobytes() == drawing.tobytes()


@pytest.mark.parametrize("value, message", [
    ("", "empty"), (None, "empty"), ({"composite": None}, "empty"),
    ("data:image/jpeg;base64,AAAA", "PNG data URL"), ("data:image/png;base64,@@@", "base64"),
    ("data:image/png;base64," + "QUFB" * 10, "not an image"),
    ("data:image/png;base64," + "A" * 4_000_000, "too large"),
])  # fmt: skip
def test_a_bad_data_url_is_a_sentence(value, message):
    from siamese.matching.inputs import DrawingError, image_from_data_url

    with pytest.raises(DrawingError, match=message):
        image_from_data_url(value)
