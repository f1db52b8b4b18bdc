"""siamese/data/base.py: new classes made by turning and mirroring a set's characters; preprocessing a data set once,
its progress bar following tqdm's own rules (``siamese.utils.progress_bar``): a bar on a terminal, none in a
redirected log, none with ``TQDM_DISABLE`` set."""

from __future__ import annotations

import io
import sys

import numpy as np
import pytest
from PIL import Image

from siamese.data.base import ImageSet, preprocess_dataset
from siamese.transforms import PreprocessConfig

IMAGES = [Image.new("L", (12, 12), 255 - i % 200) for i in range(2000)]  # as many as a bar was once forced for


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize(
    "stream, disable, bar",
    [(io.StringIO, None, False), (Terminal, None, True), (Terminal, "1", False)],
    ids=["redirected", "terminal", "terminal with TQDM_DISABLE"],
)
def test_the_bar_follows_tqdms_rules(monkeypatch: pytest.MonkeyPatch, stream, disable: str | None, bar: bool) -> None:
    if disable is None:
        monkeypatch.delenv("TQDM_DISABLE", raising=False)
    else:
        monkeypatch.setenv("TQDM_DISABLE", disable)
    err = stream()
    monkeypatch.setattr(sys, "stderr", err)
    tensor = preprocess_dataset(IMAGES, PreprocessConfig(input_size=28), desc="tiny")
    assert tensor.shape == (2000, 1, 28, 28)
    assert ("tiny" in err.getvalue() and "\r" in err.getvalue()) is bar, err.getvalue()[:200]


def _l_shape() -> Image.Image:
    """An L: no turn or mirror of it equals another, so each of the eight symmetries is a new picture."""
    pixels = np.full((6, 6), 255, dtype=np.uint8)
    pixels[0:5, 1] = 0
    pixels[4, 1:4] = 0
    return Image.fromarray(pixels)


def _letters() -> ImageSet:
    labels = np.array([0, 0, 1])
    return ImageSet([_l_shape(), _l_shape(), _l_shape().transpose(Image.Transpose.FLIP_TOP_BOTTOM)], labels, ["L", "Γ"],
                    np.array([0, 0, 0]), ["Latin"], np.array([1, 2, 1]), "letters")  # fmt: skip


@pytest.mark.parametrize("turns, mirrored, copies", [((1, 2, 3), False, 4), ((), True, 2), ((1, 2, 3), True, 8)])
def test_turned_and_mirrored_characters_become_new_classes(turns: tuple[int, ...], mirrored: bool, copies: int) -> None:
    letters = _letters()
    more = letters.with_transformed_classes(turns, mirrored)
    assert len(more.images) == 3 * copies and more.num_classes == 2 * copies and len(more.group_names) == copies
    assert list(more.drawers) == [1, 2, 1] * copies  # each copy keeps its drawers, for the samplers
    first = [np.asarray(more.images[3 * k]).tobytes() for k in range(copies)]
    assert len(set(first)) == copies  # every copy of the L is another picture
    for k in range(copies):  # and a class of its own, whose images all went through the same change
        assert list(more.labels[3 * k : 3 * k + 3]) == [2 * k, 2 * k, 2 * k + 1]
        assert np.asarray(more.images[3 * k]).tobytes() == np.asarray(more.images[3 * k + 1]).tobytes()


def test_the_names_say_how_each_class_was_made() -> None:
    more = _letters().with_transformed_classes((1, 2, 3), mirrored=True)
    assert more.class_names[:8] == ["L", "Γ", "L (rotated 90)", "Γ (rotated 90)", "L (rotated 180)", "Γ (rotated 180)",
                                    "L (rotated 270)", "Γ (rotated 270)"]  # fmt: skip
    assert more.class_names[8:] == ["L (mirrored)", "Γ (mirrored)", "L (mirrored, rotated 90)", "Γ (mirrored, rotated 90)",
                                    "L (mirrored, rotated 180)", "Γ (mirrored, rotated 180)",
                                    "L (mirrored, rotated 270)", "Γ (mirrored, rotated 270)"]  # fmt: skip
    mirrored = np.asarray(more.images[12])  # the first L, mirrored: its foot points left
    assert (mirrored[4, 2:5] == 0).all() and (mirrored[0:5, 4] == 0).all()
