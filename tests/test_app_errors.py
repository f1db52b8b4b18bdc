"""The API's error contract (``webapp/errors.py``): every refusal, through ``gradio_client`` and through raw HTTP.

Each row of :data:`CONTRACT` is one thing a client can send wrong, and the exact sentence that comes back: as an
``AppError`` from ``gradio_client``, and as ``output.error`` of the ``process_completed`` message (or the
``detail`` of a 413 / 503) over raw HTTP (upload, ``queue/join``, ``queue/data``: ``tests/raw_http.py``). Where
``gradio_client`` answers before the server does (a file over the upload limit, a full queue), the row names the
client's own exception. For each row the server logs one line, ``refused a request: <sentence>``, and no traceback.

docs/errors.md shows the table; ``test_the_docs_show_this_table`` keeps it equal to :data:`CONTRACT`, and
``python tests/test_app_errors.py`` rewrites it.
"""

from __future__ import annotations

import contextlib
import logging
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

if __name__ == "__main__":  # run as a script (to rewrite the docs): the repository's modules import as under pytest
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import pytest  # noqa: E402
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError
from gradio_client.utils import QueueError

from siamese.matching.inputs import EDITOR_FORM
from siamese.utils import one_line
from webapp.errors import IMAGE_FORM, NOT_UPLOADED, QUEUE_FULL

import raw_http  # tests/ is on sys.path

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs" / "errors.md"
CHARACTERS = "Handwritten characters (Omniglot)"
BEGIN, END = "<!-- contract: begin (python tests/test_app_errors.py) -->", "<!-- contract: end -->"

pytestmark = pytest.mark.timeout(300)

Files = dict[str, str]


@dataclass(frozen=True)
class Row:
    """One refusal: what is sent, where, and the sentence that comes back."""

    sent: str  # as the table says it
    endpoint: str
    data: Callable[[Files], tuple]  # the values gradio_client takes (State left out)
    sentence: str  # exactly what a client reads
    raw_status: int = 200  # 200: refused in the queue's answer; 413 / 503: refused before it
    client_raises: tuple[type[Exception], str] | None = None  # gradio_client's own answer, before the server's
    through_client: bool = True  # False: gradio_client cannot send it (it uploads any file value itself)
    full_queue: bool = False  # sent while the queue is full

    @property
    def logged(self) -> bool:
        """Whether the app refuses it (and logs it): an upload over the limit never reaches the app, as Gradio's
        upload route (413) or gradio_client itself refuses it."""
        return self.raw_status != 413


def drawing(name: str | None) -> dict:
    return {"background": None, "layers": [], "composite": handle_file(name) if name else None}


def matched(name: str, alphabet: object = "Tengwar", top_k: object = 3) -> Callable[[Files], tuple]:
    return lambda files: (drawing(files[name]), alphabet, top_k)


def photo(name: str) -> Callable[[Files], tuple]:
    return lambda files: (handle_file(files[name]), "Tengwar", 3)


def pair(first: str | None, second: str = "tengwar.png", domain: object = CHARACTERS) -> Callable[[Files], tuple]:
    return lambda files: (handle_file(files[first]) if first else None, handle_file(files[second]), domain)


SERVER_FILE = {"path": "/etc/passwd", "meta": {"_type": "gradio.FileData"}}
NOT_AN_IMAGE = "The file is not an image that can be read: send a PNG, JPEG, GIF, WebP, BMP or TIFF file."
TOP_K = "top_k must be a whole number from 1 to 20, got {}."
CONTRACT = [
    # files
    Row("a text file named `.png`", "/compare", pair("not_an_image.png"), NOT_AN_IMAGE),
    Row("an empty file (0 bytes)", "/match_image", photo("empty.png"), NOT_AN_IMAGE),
    Row("an SVG file", "/compare", pair("drawing.svg"), NOT_AN_IMAGE),
    Row("a truncated PNG", "/match", matched("truncated.png"),
        "The image file is truncated (cut short while saving or uploading): save it again and retry."),
    Row("a PNG whose compressed pixels are damaged", "/match_image", photo("damaged.png"),
        "The image file is damaged and cannot be decoded (OSError): save it again and retry."),
    Row("a 20,000 × 20,000 PNG (a decompression bomb, 90 kB)", "/match", matched("bomb.png"),
        "The image is too large (400 megapixels); the limit is 16 megapixels: shrink it and retry."),
    Row("a file over the 5 MB upload limit", "/compare", pair("over_the_limit.png"),
        "File size exceeded maximum allowed size of 5242880 bytes.", raw_status=413,
        client_raises=(ValueError, "File {path} exceeds the maximum file size of 5242880 bytes set in  component.")),
    Row("a server path (`/etc/passwd`) as an image", "/compare", lambda files: (SERVER_FILE, SERVER_FILE, CHARACTERS),
        NOT_UPLOADED, through_client=False),
    Row("a server path as a drawing", "/match", lambda files: ({"background": None, "layers": [], "composite": SERVER_FILE}, "Tengwar", 3),
        NOT_UPLOADED, through_client=False),
    Row("a server path as a layer of a drawing to teach", "/teach",
        lambda files: ({"background": None, "layers": [SERVER_FILE], "composite": None}, "x"), NOT_UPLOADED, through_client=False),
    # values of the wrong form
    Row("a string where a drawing goes", "/match", lambda files: ("a drawing", "Tengwar", 3), f"Expected a drawing: send {EDITOR_FORM}."),
    Row("a string where an image goes", "/compare", lambda files: ("image.png", handle_file(files["tengwar.png"]), CHARACTERS),
        f"Expected an image file: send {IMAGE_FORM}."),
    Row("an empty canvas (no composite, no layers)", "/match", lambda files: (drawing(None), "Tengwar", 3),
        f"The canvas is empty: draw a character first. Through the API, send {EDITOR_FORM}."),
    Row("a blank drawing (all white)", "/match", matched("white.png"), "The drawing is blank: draw a character with the pen first."),
    Row("compare without the first image", "/compare", pair(None), "The first image is missing: upload an image."),
    # choices
    Row("`top_k` 0", "/match", matched("tengwar.png", top_k=0), TOP_K.format(0)),
    Row("`top_k` 21", "/match", matched("tengwar.png", top_k=21), TOP_K.format(21)),
    Row('`top_k` "five"', "/match", matched("tengwar.png", top_k="five"), TOP_K.format("'five'")),
    Row("`top_k` null", "/match", matched("tengwar.png", top_k=None), TOP_K.format("'None'")),
    Row('an unknown alphabet ("Klingon")', "/match", matched("tengwar.png", alphabet="Klingon"),
        "Unknown alphabet 'Klingon': choose one of the 50 Omniglot alphabets or 'All alphabets'."),
    Row('an unknown domain ("Cats")', "/compare", pair("tengwar.png", domain="Cats"),
        "Unknown domain 'Cats': choose one of Handwritten characters (Omniglot), Faces (AT&T), Digits (MNIST)."),
    # teaching
    Row("a symbol to teach with an empty name", "/teach", lambda files: (drawing(files["tengwar.png"]), ""), "Give the symbol a name."),
    Row("a name of 41 characters", "/teach", lambda files: (drawing(files["tengwar.png"]), "n" * 41),
        "Symbol names are at most 40 characters; this one has 41."),
    Row("classify before teaching a symbol", "/classify", lambda files: (drawing(files["tengwar.png"]),),
        "Teach at least one symbol first: draw it, name it and press Teach."),
    # the server
    Row("any request while the queue is full (64 waiting)", "/match", matched("tengwar.png"), QUEUE_FULL, raw_status=503,
        client_raises=(QueueError, "Queue is full! Please try again."), full_queue=True),
]


# --- sending a row -------------------------------------------------------------------------------------


@contextlib.contextmanager
def queue_state(demo, row: Row):
    """The queue as ``row`` needs it: full (no room at all) or as the app sets it."""
    size = demo._queue.max_size
    if row.full_queue:
        demo._queue.max_size = 0
    try:
        yield
    finally:
        demo._queue.max_size = size


def check_the_log(caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture, row: Row) -> None:
    """One line for the refusal (when the app makes it), no traceback anywhere."""
    refused = [r.getMessage() for r in caplog.records if r.getMessage().startswith("refused a request")]
    assert refused == ([f"refused a request: {one_line(row.sentence, limit=300)}"] if row.logged else []), refused
    assert not [r for r in caplog.records if r.exc_info], [r.getMessage() for r in caplog.records if r.exc_info]
    _, err = capfd.readouterr()
    assert "Traceback" not in err, err[-3000:]


@pytest.fixture
def log(caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture) -> pytest.LogCaptureFixture:
    capfd.readouterr()  # what came before this test is not its log
    caplog.set_level(logging.INFO)
    return caplog


THROUGH_CLIENT = [row for row in CONTRACT if row.through_client]


@pytest.mark.parametrize("row", THROUGH_CLIENT, ids=[row.sent for row in THROUGH_CLIENT])
def test_gradio_client_reads_the_sentence(demo, client: Client, files: Files, log, capfd, row: Row) -> None:
    data = row.data(files)
    expected_type, expected = (AppError, row.sentence) if row.client_raises is None else row.client_raises
    with queue_state(demo, row), pytest.raises(Exception) as raised:
        client.submit(*data, api_name=row.endpoint).result(timeout=raw_http.TIMEOUT_S)
    if row.client_raises is not None:  # gradio_client's words name the file it refused
        paths = [value["path"] for value in data if isinstance(value, dict) and "path" in value]
        expected = expected.format(path=paths[0] if paths else "")
    assert type(raised.value) is expected_type and str(raised.value) == expected, repr(raised.value)
    check_the_log(log, capfd, row)


@pytest.mark.parametrize("row", CONTRACT, ids=[row.sent for row in CONTRACT])
def test_raw_http_reads_the_sentence(demo, client: Client, files: Files, log, capfd, row: Row) -> None:
    with queue_state(demo, row):
        answer = raw_http.call(demo.local_url, client, row.endpoint, list(row.data(files)), Path(files["tengwar.png"]).parent)
    assert answer.status == row.raw_status, answer
    if row.raw_status == 200:
        assert answer.message["success"] is False, answer
    assert answer.error == row.sentence, answer
    check_the_log(log, capfd, row)


def test_the_server_still_answers_after_every_refusal(client: Client, files: Files) -> None:
    result = client.predict(drawing(files["tengwar.png"]), "Tengwar", 1, api_name="/match")
    assert result[0]["label"] == "Tengwar — character 07"


def test_an_upload_is_decoded_once(client: Client, files: Files, monkeypatch: pytest.MonkeyPatch) -> None:
    """Gradio's image input decodes the file, in the queue, and hands the image on; nothing decodes it again (no
    validator before the queue, no second open in the service)."""
    import PIL.Image  # noqa: PLC0415

    opened, open_image = [], PIL.Image.open

    def counting_open(fp, *args, **kwargs):
        opened.append(str(fp))
        return open_image(fp, *args, **kwargs)

    monkeypatch.setattr(PIL.Image, "open", counting_open)
    client.predict(handle_file(files["tengwar.png"]), "Tengwar", 3, api_name="/match_image")
    assert len([path for path in opened if path.endswith("tengwar.png")]) == 1, opened


# --- the table in the docs ------------------------------------------------------------------------------


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def contract_table() -> str:
    """CONTRACT as the Markdown table docs/errors.md shows."""
    lines = ["| What is sent | Endpoint | `gradio_client` raises | Raw HTTP answers | The sentence |", "|---|---|---|---|---|"]
    for row in CONTRACT:
        if row.client_raises:
            kind, text = row.client_raises
            raises = f"`{kind.__name__}`: {text.format(path='PATH')} (its own words)"
        elif row.through_client:
            raises = "`AppError` with the sentence"
        else:
            raises = "— (it uploads every file value itself)"
        raw = "`process_completed`, `success: false`, `output.error`" if row.raw_status == 200 else f"{row.raw_status}, `detail`"
        lines.append(f"| {_cell(row.sent)} | `{row.endpoint}` | {_cell(raises)} | {raw} | {_cell(row.sentence)} |")
    return "\n".join(lines)


def docs_with_table(text: str) -> str:
    start, end = text.index(BEGIN) + len(BEGIN), text.index(END)
    return text[:start] + "\n" + contract_table() + "\n" + text[end:]


def test_the_docs_show_this_table() -> None:
    text = DOCS.read_text()
    assert docs_with_table(text) == text, "docs/errors.md is out of date: run python tests/test_app_errors.py"


def test_every_sentence_is_a_sentence() -> None:
    for row in CONTRACT:
        first = row.sentence.split()[0]
        assert (first[0].isupper() or first == "top_k") and row.sentence.endswith("."), row.sentence
        assert "Traceback" not in row.sentence and "Error(" not in row.sentence, row.sentence


if __name__ == "__main__":
    DOCS.write_text(docs_with_table(DOCS.read_text()))
    print(f"wrote {DOCS.relative_to(ROOT)}", file=sys.stderr)
