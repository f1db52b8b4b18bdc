"""The live answer's pictures as inline HTML (webapp/answer.py): the files' own bytes, captions escaped, a gallery's markup."""

from __future__ import annotations

import base64
import re
from pathlib import Path

from PIL import Image

from webapp.answer import file_data_url, pictures_html, view_html


def _png(path: Path, colour: int) -> Path:
    Image.new("L", (20, 20), colour).save(path)
    return path


def test_a_picture_file_becomes_a_data_url_of_its_own_bytes(tmp_path: Path) -> None:
    path = _png(tmp_path / "a.png", 0)
    url = file_data_url(str(path))
    assert url.startswith("data:image/png;base64,")
    assert base64.b64decode(url.split(",", 1)[1]) == path.read_bytes()


def test_the_gallery_markup_keeps_pictures_in_order_with_escaped_captions(tmp_path: Path) -> None:
    urls = [file_data_url(str(_png(tmp_path / f"{i}.png", 40 * i))) for i in range(3)]
    markup = pictures_html([(url, f"Tengwar — character {i:02d} · <b>{90 - i}%</b>") for i, url in enumerate(urls)], "Closest characters")
    assert markup.count('class="thumbnail-item"') == 3 and markup.count('class="caption-label"') == 3
    assert re.findall(r'<img src="([^"]+)"', markup) == urls
    assert "<b>" not in markup and "&lt;b&gt;88%&lt;/b&gt;" in markup  # a caption is text, never markup
    assert markup.index("Closest characters") < markup.index("thumbnail-item")  # the label comes before the pictures


def test_the_view_is_an_inline_png_of_the_image() -> None:
    image = Image.new("L", (168, 168), 255)
    markup = view_html(image, "Your drawing as the model sees it")
    data = base64.b64decode(re.search(r'src="data:image/png;base64,([^"]+)"', markup).group(1))
    assert data.startswith(b"\x89PNG") and 'alt="Your drawing as the model sees it"' in markup
