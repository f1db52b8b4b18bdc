"""Bad input of every kind, sent through the HTTP API of the launched app (``gradio_client``) and into the package.

Every kind must end in a clear message for the visitor (the app's sentence, as an ``AppError``, or ``gradio_client``
refusing a file before it sends it) or in a sensible result: never a stack trace, a 5xx, Gradio's "the upstream
app has raised an exception", or a hang (each call has a time limit). After
each case the server must still answer a good request. The tables below are the record of what was tried;
``test_the_number_of_kinds_tried`` prints their count (run with ``-s``), which docs/reliability.md quotes.

The ``client``, ``app_url`` and ``files`` fixtures (the app launched on a free port; the bad files) are in
``conftest.py``; ``tests/test_app_errors.py`` checks the exact sentence of each refusal.
"""

from __future__ import annotations

import math
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pytest
import torch
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError
from PIL import Image, ImageDraw

from siamese.matching.inputs import DrawingError
from siamese.matching.service import MAX_SYMBOLS, InputError, TaughtSymbols
from siamese.transforms import MAX_INPUT_PIXELS, ImageInputError, open_image, preprocess

CHARACTERS = "Handwritten characters (Omniglot)"
TENGWAR = "Tengwar — character 07"
CALL_LIMIT_S = 60  # a call that takes longer counts as a hang
NOT_SHOWN = ("Traceback", "/tmp/gradio", "has raised an exception", "Original error")  # never in a message

pytestmark = pytest.mark.timeout(300)


# --- calling the app ------------------------------------------------------------------------------------


@dataclass
class Outcome:
    result: Any = None
    message: str | None = None  # set when the app (or the client) refused

    @property
    def refused(self) -> bool:
        return self.message is not None


def call(client: Client, endpoint: str, *args) -> Outcome:
    """One request, within CALL_LIMIT_S; a refusal is returned with its message, anything else fails the test."""
    started = time.monotonic()
    try:
        outcome = Outcome(result=client.submit(*args, api_name=endpoint).result(timeout=CALL_LIMIT_S))
    except (AppError, ValueError) as error:  # the app's refusal; gradio_client's own checks (file size)
        outcome = Outcome(message=str(error))
    elapsed = time.monotonic() - started
    if elapsed > CALL_LIMIT_S:
        pytest.fail(f"{endpoint} took {elapsed:.0f} s")
    if outcome.refused:
        assert outcome.message.strip(), "a refusal without a message"
        for text in NOT_SHOWN:
            assert text not in outcome.message, outcome.message
    return outcome


def sketch(path: str | None) -> dict:
    return {"background": None, "layers": [], "composite": handle_file(path) if path else None}


def scores(result) -> dict[str, float]:
    label = result[0]
    return {entry["label"]: entry["confidence"] for entry in label["confidences"]}


def assert_server_answers(client: Client, files: dict[str, str]) -> None:
    outcome = call(client, "/match", sketch(files["tengwar.png"]), "Tengwar", 1)
    assert not outcome.refused, outcome.message
    assert outcome.result[0]["label"] == TENGWAR


def finds_tengwar(result) -> bool:
    return result[0]["label"] == TENGWAR


def finite_scores(result) -> bool:
    return all(math.isfinite(p) and 0.0 <= p <= 1.0 for p in scores(result).values())


# --- the table ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Kind:
    """One kind of bad input: how to send it, and either the words of the refusal or a check of the result."""

    name: str
    endpoint: str
    args: Callable[[dict[str, str]], tuple]
    refused: tuple[str, ...] | None = None  # words the message must contain (case-insensitive)
    answered: Callable[[Any], bool] | None = None  # a check of a result
    either: bool = False  # a refusal or a result with finite scores are both sensible


def drawn(name: str, alphabet: str = "Tengwar", top_k: int = 3) -> Callable[[dict[str, str]], tuple]:
    return lambda files: (sketch(files[name]), alphabet, top_k)


def pair(first: str | None, second: str | None = "tengwar.png", domain: str = CHARACTERS) -> Callable[[dict[str, str]], tuple]:
    return lambda files: (handle_file(files[first]) if first else None, handle_file(files[second]) if second else None, domain)


def choice(alphabet: Any, top_k: Any) -> Callable[[dict[str, str]], tuple]:
    return lambda files: (sketch(files["tengwar.png"]), alphabet, top_k)


TOO_LARGE = ("too large", "16 megapixels")
NOT_AN_IMAGE = ("not an image",)
BLANK = ("blank",)

HTTP_KINDS = [
    # drawings
    Kind("empty canvas (no composite, no layers)", "/match", lambda f: ({"background": None, "layers": [], "composite": None}, "Tengwar", 3), refused=("empty",)),
    Kind("no drawing at all (null)", "/match", lambda f: (None, "Tengwar", 3), refused=("draw a character",)),
    Kind("drawing that is not an editor value (a string)", "/match", lambda f: ("a drawing", "Tengwar", 3), refused=("Expected a drawing",)),
    Kind("blank drawing (all white)", "/match", drawn("white.png"), refused=BLANK),
    Kind("all-black image", "/match", drawn("black.png"), refused=BLANK),
    Kind("1x1 image", "/match", drawn("one_pixel.png"), refused=BLANK),
    Kind("fully transparent image", "/match", drawn("transparent.png"), refused=BLANK),
    Kind("5000x1 strip", "/match", drawn("strip.png"), either=True),
    Kind("layers only, no composite", "/match", lambda f: ({"background": None, "layers": [handle_file(f["layer.png"])], "composite": None}, "Tengwar", 3), answered=finds_tengwar),
    # decompression bombs and files that are not images
    Kind("20,000 x 20,000 PNG (decompression bomb), as a drawing", "/match", drawn("bomb.png"), refused=TOO_LARGE),
    Kind("20,000 x 20,000 PNG (decompression bomb), as a photo", "/compare", pair("bomb.png"), refused=TOO_LARGE),
    Kind("10,000 x 10,000 PNG (100 megapixels)", "/match_image", lambda f: (handle_file(f["100_megapixels.png"]), "Tengwar", 3), refused=TOO_LARGE),
    Kind("text file renamed .png, as a drawing", "/match", drawn("not_an_image.png"), refused=NOT_AN_IMAGE),
    Kind("text file renamed .png, as a photo", "/compare", pair("not_an_image.png"), refused=NOT_AN_IMAGE),
    Kind("empty file (0 bytes) named .png", "/compare", pair("tengwar.png", "empty.png"), refused=NOT_AN_IMAGE),
    Kind("truncated PNG", "/match", drawn("truncated.png"), refused=("truncated",)),
    Kind("truncated JPEG", "/compare", pair("truncated.jpg"), refused=("truncated",)),
    Kind("PNG with corrupt compressed data", "/match_image", lambda f: (handle_file(f["damaged.png"]), "Tengwar", 3), refused=("damaged",)),
    Kind("SVG file", "/compare", pair("drawing.svg"), refused=NOT_AN_IMAGE),
    Kind("file over the 5 MB upload limit", "/compare", pair("over_the_limit.png"), refused=("maximum file size",)),
    # unusual but valid image formats: the same character must be found
    Kind("CMYK JPEG", "/match", drawn("cmyk.jpg"), answered=finds_tengwar),
    Kind("16-bit grey PNG", "/match", drawn("16bit.png"), answered=finds_tengwar),
    Kind("palette PNG with a transparent colour", "/match", drawn("palette_transparency.png"), answered=finds_tengwar),
    Kind("animated GIF (first frame is used)", "/match_image", lambda f: (handle_file(f["animated.gif"]), "Tengwar", 3), answered=finds_tengwar),
    Kind("EXIF-rotated photo, as a drawing", "/match", drawn("exif_rotated.jpg"), answered=finds_tengwar),
    Kind("EXIF-rotated photo, as a photo", "/match_image", lambda f: (handle_file(f["exif_rotated.jpg"]), "Tengwar", 3), answered=finds_tengwar),
    Kind("grey + alpha PNG", "/match", drawn("gray_alpha.png"), answered=finds_tengwar),
    Kind("float TIFF with NaN pixels", "/compare", pair("nan.tiff"), either=True),
    # choices
    Kind("unknown alphabet", "/match", choice("Klingon", 3), refused=("alphabet",)),
    Kind("alphabet that looks like a path (../../etc/passwd)", "/match", choice("../../etc/passwd", 3), refused=("alphabet",)),
    Kind("alphabet name of 100,000 characters", "/match", choice("x" * 100_000, 3), refused=("alphabet",)),
    Kind("no alphabet (null)", "/match", choice(None, 3), refused=("alphabet",)),
    Kind("top_k 0", "/match", choice("Tengwar", 0), refused=("whole number from 1 to 20",)),
    Kind("top_k negative", "/match", choice("Tengwar", -5), refused=("whole number from 1 to 20",)),
    Kind("top_k huge (10**9)", "/match", choice("Tengwar", 10**9), refused=("whole number from 1 to 20",)),
    Kind("top_k not a number", "/match", choice("Tengwar", "five"), refused=("top_k must be a whole number",)),
    Kind("top_k not whole (2.5)", "/match", choice("Tengwar", 2.5), answered=lambda r: len(scores(r)) in (2, 3) and finds_tengwar(r)),
    Kind("unknown domain", "/compare", pair("tengwar.png", domain="Cats"), refused=("Unknown domain",)),
    Kind("no domain (null)", "/compare", pair("tengwar.png", domain=None), refused=("Choose one of",)),
    Kind("compare without the first image", "/compare", pair(None), refused=("first image",)),
]


@pytest.mark.parametrize("kind", HTTP_KINDS, ids=[kind.name for kind in HTTP_KINDS])
def test_bad_input_gets_a_message_or_a_sensible_result_and_the_server_stays_up(client, files, kind: Kind) -> None:
    outcome = call(client, kind.endpoint, *kind.args(files))
    if kind.refused is not None:
        assert outcome.refused, f"expected a refusal, got {str(outcome.result)[:300]}"
        for words in kind.refused:
            assert words.lower() in outcome.message.lower(), outcome.message
    elif kind.answered is not None:
        assert not outcome.refused, outcome.message
        assert finite_scores(outcome.result) and kind.answered(outcome.result), str(outcome.result)[:500]
    else:
        assert kind.either
        assert outcome.refused or finite_scores(outcome.result), str(outcome.result)[:500]
    assert_server_answers(client, files)


# --- the teach tab: one fresh session per case ----------------------------------------------------------


@pytest.fixture
def visitor(app_url) -> Client:
    """A new session: its taught symbols start empty."""
    return Client(app_url, verbose=False)


def taught_names(result) -> list[str]:
    return [entry["caption"] for entry in result[0]]


TEACH_KINDS = {
    "empty name": ("", ("give the symbol a name",)),
    "name of spaces and tabs": (" \t  ", ("give the symbol a name",)),
    "no name (null)": (None, ("give the symbol a name",)),
    "name of 41 characters": ("n" * 41, ("at most 40",)),
    "name of 1,000,000 characters": ("n" * 1_000_000, ("at most 40",)),
    "name with a control character": ("a\x00b", ("control characters",)),
}


@pytest.mark.parametrize("name, words", TEACH_KINDS.values(), ids=list(TEACH_KINDS))
def test_bad_symbol_names_are_refused(visitor, files, name, words) -> None:
    outcome = call(visitor, "/teach", sketch(files["tengwar.png"]), name)
    assert outcome.refused and all(w in outcome.message.lower() for w in words), outcome.message
    assert_server_answers(visitor, files)


PLAIN_STRING_NAMES = {
    "unicode name": "Ωμέγα ✓ 🙂 中文",
    "name that looks like a path": "../../etc/passwd",
    "name with backslashes": "C:\\Windows\\system32",
    "name that is HTML": "<img src=x onerror=alert(1)>",
    "name that is a shell command": "$(rm -rf ~); `id`",
}


@pytest.mark.parametrize("name", PLAIN_STRING_NAMES.values(), ids=list(PLAIN_STRING_NAMES))
def test_odd_symbol_names_are_kept_as_plain_strings(visitor, files, name) -> None:
    taught = call(visitor, "/teach", sketch(files["tengwar.png"]), name)
    assert not taught.refused, taught.message
    assert taught_names(taught.result) == [name]
    classified = call(visitor, "/classify", sketch(files["tengwar.png"]))
    assert classified.result[0]["label"] == name


def test_more_than_twenty_symbols_are_refused_and_the_twenty_kept(visitor, files) -> None:
    for i in range(MAX_SYMBOLS):
        outcome = call(visitor, "/teach", sketch(files["tengwar.png"]), f"symbol {i}")
        assert not outcome.refused, outcome.message
    assert len(taught_names(outcome.result)) == MAX_SYMBOLS
    extra = call(visitor, "/teach", sketch(files["tengwar.png"]), "one too many")
    assert extra.refused and f"up to {MAX_SYMBOLS}" in extra.message
    again = call(visitor, "/teach", sketch(files["tengwar.png"]), "symbol 3")  # a name taught again is replaced
    assert not again.refused and len(taught_names(again.result)) == MAX_SYMBOLS
    assert call(visitor, "/classify", sketch(files["tengwar.png"])).result[0]["label"].startswith("symbol")
    assert_server_answers(visitor, files)


@pytest.mark.parametrize(
    "endpoint, args, words",
    [
        ("/classify", lambda f: (sketch(f["tengwar.png"]),), ("teach at least one",)),
        ("/teach", lambda f: (sketch(f["white.png"]), "blank"), ("blank",)),
        ("/teach", lambda f: (sketch(f["bomb.png"]), "bomb"), TOO_LARGE),
        ("/teach", lambda f: (sketch(f["not_an_image.png"]), "text"), NOT_AN_IMAGE),
    ],
    ids=["classify before teaching", "teach a blank drawing", "teach a decompression bomb", "teach a non-image"],
)
def test_teach_tab_refusals(visitor, files, endpoint, args, words) -> None:
    outcome = call(visitor, endpoint, *args(files))
    assert outcome.refused and all(w.lower() in outcome.message.lower() for w in words), outcome.message
    assert_server_answers(visitor, files)


# --- the package, where the HTTP layer would hide a case -------------------------------------------------


def test_open_image_refuses_a_decompression_bomb_before_decoding_it(files, monkeypatch) -> None:
    from PIL import ImageFile

    def decoded(self):
        raise AssertionError("the pixels were decoded")

    monkeypatch.setattr(ImageFile.ImageFile, "load", decoded)  # any decoding fails the test
    for name, words in (("bomb.png", "400 megapixels|20000 x 20000"), ("100_megapixels.png", "100 megapixels|10000 x 10000")):
        started = time.perf_counter()
        with pytest.raises(ImageInputError, match="too large") as caught:
            open_image(files[name])
        assert re.search(words, str(caught.value)) and "16 megapixels" in str(caught.value), str(caught.value)
        assert time.perf_counter() - started < 1.0
    assert MAX_INPUT_PIXELS == 16_000_000


@pytest.mark.parametrize(
    "name, words",
    [
        ("not_an_image.png", "not an image"),
        ("empty.png", "not an image"),
        ("drawing.svg", "not an image"),
        ("truncated.png", "truncated"),
        ("truncated.jpg", "truncated"),
        ("damaged.png", "damaged"),
    ],
)
def test_open_image_explains_files_it_cannot_read(files, name, words) -> None:
    with pytest.raises(ImageInputError, match=words) as caught:
        open_image(files[name])
    assert str(Path(files[name]).parent) not in str(caught.value)  # no path in a message meant for visitors


@pytest.mark.parametrize("name", ["cmyk.jpg", "16bit.png", "palette_transparency.png", "animated.gif", "exif_rotated.jpg", "gray_alpha.png"])
def test_unusual_formats_preprocess_like_the_plain_png(files, name) -> None:
    plain = preprocess(open_image(files["tengwar.png"]))
    other = preprocess(open_image(files[name]))
    assert (plain - other).abs().mean() < 0.05, name


def test_an_exif_rotated_image_is_turned_upright_by_preprocess_itself(files) -> None:
    """A PIL image opened by the caller (not through open_image) still gets its EXIF orientation applied."""
    plain = preprocess(Image.open(files["tengwar.png"]))
    rotated = preprocess(Image.open(files["exif_rotated.jpg"]))
    assert (plain - rotated).abs().mean() < 0.05


@pytest.fixture(scope="module")
def service():
    """The app's own service (loaded once per process; the ``client`` fixture's page uses the same one)."""
    import app

    return app.start_service()


@pytest.mark.parametrize(
    "image, words",
    [
        (np.full((64, 64), np.nan, np.float32), "NaN"),
        (np.where(np.eye(64, dtype=bool), np.inf, 0.0), "infinite"),
        (np.zeros((64, 64, 7), np.uint8), "shape"),  # not PIL's TypeError
        (np.zeros((0, 64), np.uint8), "empty"),
        (np.zeros((64, 64), complex), "array of numbers"),  # not cast silently
        ("drawing.png", "Expected a drawing"),
        (b"\x89PNG", "Expected a drawing"),
        ({"composite": None, "layers": [None, None]}, "empty"),
    ],
    ids=["all NaN", "inf", "7 channels", "0 rows", "complex", "a file name", "bytes", "only null layers"],
)
def test_service_refuses_what_http_never_delivers(service, image, words) -> None:
    with pytest.raises(ImageInputError, match=words):
        service.compare(image, np.zeros((64, 64), np.uint8))
    with pytest.raises(ImageInputError, match=words):
        service.match(image, "Tengwar", 3)


@pytest.mark.parametrize(
    "alphabet, top_k, words",
    [
        (["Tengwar"], 3, "Unknown alphabet"),  # unhashable: not a TypeError
        (None, 3, "Unknown alphabet"),
        ("Tengwar", float("inf"), "whole number"),  # not an OverflowError
        ("Tengwar", float("nan"), "whole number"),
        ("Tengwar", "three", "whole number"),
        ("Tengwar", 10**100, "from 1 to 20"),
    ],
    ids=["alphabet list", "alphabet None", "top_k inf", "top_k NaN", "top_k word", "top_k googol"],
)
def test_service_refuses_bad_choices_with_an_input_error(service, files, alphabet, top_k, words) -> None:
    drawing = Image.open(files["tengwar.png"])
    with pytest.raises(InputError, match=words) as caught:
        service.match(drawing, alphabet, top_k)
    assert len(str(caught.value)) < 200


def test_service_refuses_an_unhashable_domain(service, files) -> None:
    image = Image.open(files["tengwar.png"])
    with pytest.raises(InputError, match="Unknown domain"):
        service.compare(image, image, {"domain": CHARACTERS})


@pytest.mark.parametrize(
    "array",
    [
        lambda ink: (1.0 - ink).astype(np.float32),  # float in [0, 1]: not cast to all-zero uint8
        lambda ink: np.stack([255 - ink * 255] * 3).astype(np.uint8),  # channels first
        lambda ink: ((1.0 - ink) * 65535).astype(np.uint16),  # 16-bit
        lambda ink: (255 - ink * 255).astype(np.int64),
    ],
    ids=["float 0-1", "CHW uint8", "uint16", "int64"],
)
def test_service_reads_arrays_as_preprocess_does(service, files, array) -> None:
    ink = (np.asarray(Image.open(files["tengwar.png"]).convert("L")) < 128).astype(np.float64)
    result = service.match(array(ink), "Tengwar", 3)
    assert result.matches[0].label == TENGWAR


def test_service_answers_a_huge_in_memory_array_quickly(service) -> None:
    """Arrays are already in memory (no bomb to refuse): a 8,000 x 8,000 drawing is shrunk first, not refused."""
    canvas = Image.new("L", (8000, 8000), 255)
    ImageDraw.Draw(canvas).line([(1000, 1000), (7000, 7000)], fill=0, width=400)
    started = time.perf_counter()
    result = service.match(np.asarray(canvas), "Tengwar", 3)
    assert time.perf_counter() - started < 10 and len(result.matches) == 3
    assert all(torch.isfinite(torch.tensor(m.probability)) for m in result.matches)


def test_taught_symbols_reject_a_drawing_error_without_changing_the_session(service, files) -> None:
    symbols = service.teach(TaughtSymbols(), Image.open(files["tengwar.png"]), "seven")
    with pytest.raises(DrawingError):
        service.teach(symbols, Image.new("L", (50, 50), 255), "blank")
    assert symbols.names == ["seven"]


# --- the count ------------------------------------------------------------------------------------------

PACKAGE_KINDS = [
    "decompression bomb refused from its header (open_image)",
    "unreadable files named in words (open_image: not an image, empty, SVG, truncated PNG/JPEG, damaged)",
    "unusual formats read like a plain PNG (CMYK, 16-bit, palette+transparency, GIF, EXIF, grey+alpha)",
    "EXIF orientation applied by preprocess itself",
    "NaN / inf / wrong-shape / empty / complex arrays and non-image values to the service",
    "float [0, 1], channels-first, 16-bit and int64 arrays to the service",
    "unhashable or null alphabet and domain",
    "top_k inf, NaN, a word, 10**100",
    "8,000 x 8,000 in-memory array",
]
ALL_KINDS = [kind.name for kind in HTTP_KINDS] + list(TEACH_KINDS) + list(PLAIN_STRING_NAMES) + [
    "more than 20 symbols",
    "classify before teaching",
    "upload over the limit sent without gradio_client (server-side 413: tests/test_app_security.py)",
] + PACKAGE_KINDS


def test_the_number_of_kinds_tried() -> None:
    http = len(ALL_KINDS) - len(PACKAGE_KINDS)
    print(f"\nbad input: {len(ALL_KINDS)} kinds tried ({http} through the HTTP API, {len(PACKAGE_KINDS)} in the package)")
    assert len(set(ALL_KINDS)) == len(ALL_KINDS) and http >= 30
