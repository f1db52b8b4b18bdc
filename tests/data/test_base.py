"""Preprocessing a data set once (siamese/data/base.py): its progress bar follows tqdm's own rules
(``siamese.utils.progress_bar``): a bar on a terminal, none in a redirected log, none with ``TQDM_DISABLE`` set."""

from __future__ import annotations

import io
import sys

import pytest
from PIL import Image

from siamese.data.base import preprocess_dataset
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
