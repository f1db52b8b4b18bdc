"""The user's own folder of classes: what is loaded, what is ignored, and the messages for bad data."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from siamese.data import DataError, ImageSet, check_trainable, load_image_folder


def _save(path: Path, mode: str = "L", size: tuple[int, int] = (16, 12), value: int = 100, **params: object) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    colour = value if mode == "L" else (value, 0, 255 - value)
    Image.new(mode, size, colour).save(path, **params)


@pytest.fixture
def dataset(tmp_path: Path) -> Path:
    root = tmp_path / "my_set"
    _save(root / "cats" / "a.png", "L")
    _save(root / "cats" / "b.JPG", "RGB")
    _save(root / "cats" / "c.jpeg", "L")
    _save(root / "dogs" / "1.png", "RGB")
    _save(root / "dogs" / "2.bmp", "L")
    _save(root / "birds" / "x.gif", "L")
    _save(root / "birds" / "y.webp", "RGB")
    _save(root / "cats" / ".hidden.png", "L")  # hidden: ignored
    (root / "cats" / "notes.txt").write_text("not an image")  # other extension: ignored
    (root / "dogs" / "broken.txt").write_bytes(b"\x00\x01")
    _save(root / ".thumbnails" / "t.png", "L")  # hidden folder: not a class
    _save(root / "stray.png", "L")  # not in a class folder: ignored
    return root


def test_loads_classes_and_images(dataset: Path) -> None:
    data = load_image_folder(dataset)
    assert data.class_names == ["birds", "cats", "dogs"]
    assert np.bincount(data.labels).tolist() == [2, 3, 2]
    assert len(data) == len(data.images) == 7
    assert data.group_names == ["my_set"] and set(data.groups.tolist()) == {0}
    np.testing.assert_array_equal(data.drawers, np.arange(7))
    cats = [image for image, label in zip(data.images, data.labels) if label == 1]
    assert [image.mode for image in cats] == ["L", "RGB", "L"]  # modes are kept
    assert all(image.size == (16, 12) for image in data.images)
    check_trainable(data)  # every class has 2+ images


def test_extensions_can_be_restricted(dataset: Path) -> None:
    data = load_image_folder(dataset, extensions=["png", ".JPG"])
    assert data.class_names == ["cats", "dogs"]
    assert len(data) == 3


def test_exif_orientation_is_applied(tmp_path: Path) -> None:
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 degrees clockwise to display"
    _save(tmp_path / "a" / "portrait.jpg", "RGB", size=(40, 20), exif=exif.tobytes())
    _save(tmp_path / "b" / "plain.jpg", "RGB", size=(40, 20))
    data = load_image_folder(tmp_path)
    assert data.images[0].size == (20, 40)
    assert data.images[1].size == (40, 20)


def test_missing_root(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="does not exist"):
        load_image_folder(tmp_path / "nowhere")


def test_root_is_a_file(tmp_path: Path) -> None:
    _save(tmp_path / "image.png")
    with pytest.raises(DataError, match="not a folder"):
        load_image_folder(tmp_path / "image.png")


def test_empty_folder(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="no class folders"):
        load_image_folder(tmp_path)


def test_class_folders_without_images(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "readme.md").write_text("hello")
    with pytest.raises(DataError, match="No images found"):
        load_image_folder(tmp_path)


def test_single_class(tmp_path: Path) -> None:
    _save(tmp_path / "only" / "1.png")
    _save(tmp_path / "only" / "2.png")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="at least 2 classes"):
        load_image_folder(tmp_path)


def test_class_with_one_image_loads_but_is_not_trainable(tmp_path: Path) -> None:
    _save(tmp_path / "many" / "1.png")
    _save(tmp_path / "many" / "2.png")
    _save(tmp_path / "lonely" / "1.png")
    _save(tmp_path / "solo" / "1.png")
    data = load_image_folder(tmp_path)
    assert data.class_names == ["lonely", "many", "solo"]
    with pytest.raises(DataError, match="fewer than 2 images") as error:
        check_trainable(data)
    assert "lonely" in str(error.value) and "solo" in str(error.value) and "many" not in str(error.value)


def test_check_trainable_needs_two_classes(tmp_path: Path) -> None:
    data = ImageSet(
        images=[Image.new("L", (4, 4))] * 2, labels=np.zeros(2), class_names=["a"], groups=np.zeros(2),
        group_names=["g"], drawers=np.arange(2),
    )  # fmt: skip
    with pytest.raises(DataError, match="at least 2"):
        check_trainable(data)


@pytest.mark.parametrize("content", [b"", b"definitely not a PNG", None], ids=["empty", "garbage", "truncated"])
def test_unreadable_image_names_the_file(tmp_path: Path, content: bytes | None) -> None:
    _save(tmp_path / "a" / "good.png")
    _save(tmp_path / "b" / "good.png")
    bad = tmp_path / "b" / "bad.png"
    if content is None:
        _save(bad, "RGB", size=(64, 64))
        content = bad.read_bytes()[:60]
    bad.write_bytes(content)
    with pytest.raises(DataError, match=r"bad\.png"):
        load_image_folder(tmp_path)
