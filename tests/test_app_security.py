"""Security of the launched app and of model loading.

* The app serves no file outside its own outputs and uploads (Gradio's cache): not /etc/passwd, not its source,
  not the data or the checkpoints, not through ``..`` or URL-encoded tricks, not by naming a server path as an
  input file.
* Uploads are size-limited by the server itself (``app.MAX_FILE_SIZE``), not only by ``gradio_client``.
* No user input reaches a path or a shell: with an audit hook on the process, hostile alphabet and symbol names
  open no file whose name holds them and start no process.
* No pickle is loaded from anything a user or the Hub provides; a tampered ``config.json`` is a clear error.
  (Local folders: tests/hub/test_loading.py ``test_pickle_weights_alone_are_refused_without_unpickling``,
  ``test_pickle_beside_safetensors_is_ignored``, ``test_unknown_architecture_is_named``,
  ``test_config_that_does_not_fit_the_weights_is_an_error``; the Hub ones are here.)
"""

from __future__ import annotations

import json
import pickle
import re
import sys
import threading
import urllib.parse
import uuid
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest
from gradio_client import Client, handle_file
from PIL import Image, ImageDraw

from siamese import CheckpointError
from siamese.hub import DEFAULT_CHECKPOINT
from siamese.serving import resolve_model
from webapp.errors import NOT_UPLOADED

import raw_http  # tests/ is on sys.path

if TYPE_CHECKING:
    from fake_hub import FakeHub

ROOT = Path(__file__).resolve().parents[1]
CHARACTERS = "Handwritten characters (Omniglot)"

pytestmark = pytest.mark.timeout(300)


@pytest.fixture(scope="module")
def drawing(tmp_path_factory) -> str:
    path = tmp_path_factory.mktemp("security") / "drawing.png"
    image = Image.new("L", (120, 120), 255)
    ImageDraw.Draw(image).line([(20, 20), (100, 100)], fill=0, width=9)
    ImageDraw.Draw(image).line([(100, 20), (20, 100)], fill=0, width=9)
    image.save(path)
    return str(path)


# --- files the app serves ----------------------------------------------------------------------------------


def _gallery_cache_file() -> str:
    found = sorted((ROOT / "data" / "cache").glob("gallery-*.safetensors"))
    return str(found[0]) if found else str(ROOT / "data" / "cache" / "gallery-0000000000000000.safetensors")


OUTSIDE = [
    "/etc/passwd",
    "/etc/hostname",
    "/proc/self/environ",
    "../app.py",
    "app.py",
    str(ROOT / "app.py"),
    "data/omniglot/images_background.zip",
    str(ROOT / "data" / "omniglot" / "one_shot_runs.zip"),
    str(DEFAULT_CHECKPOINT / "model.safetensors"),
    "siamese/checkpoints/ensemble-omniglot/config.json",
    _gallery_cache_file(),
    "webapp/pad.js",
    "docs/how_it_works.md",
    "tests/conftest.py",
    "..%2F..%2F..%2Fetc%2Fpasswd",
    "%2e%2e/%2e%2e/%2e%2e/etc/passwd",
    "/tmp/gradio/../../etc/passwd",
    "/tmp/gradio/%2e%2e/%2e%2e/etc/passwd",
    "file:///etc/passwd",
]


@pytest.mark.parametrize("prefix", ["/gradio_api/file=", "/file=", "/gradio_api/file/"])
@pytest.mark.parametrize("path", OUTSIDE)
def test_no_file_outside_the_cache_is_served(app_url, prefix, path) -> None:
    response = httpx.get(app_url.rstrip("/") + prefix + path, timeout=30)
    assert response.status_code in (403, 404, 405), f"{response.status_code}: {response.text[:200]}"
    assert "root:" not in response.text and "import gradio" not in response.text


def test_its_own_outputs_are_served_but_not_what_lies_beside_them(app_url, client, drawing) -> None:
    uploaded = client.predict(handle_file(drawing), handle_file(drawing), CHARACTERS, api_name="/compare")
    assert Path(uploaded[1]).is_file()  # gradio_client downloaded the view from the server
    answer = raw_http.call(app_url, client, "/compare", [handle_file(drawing), handle_file(drawing), CHARACTERS], Path(drawing).parent)
    assert answer.status == 200 and answer.message["success"], answer
    message = answer.message
    view_url = message["output"]["data"][1]["url"]
    assert httpx.get(view_url, timeout=30).status_code == 200
    cache_path = urllib.parse.unquote(view_url.split("file=", 1)[1])
    for sneaky in (str(Path(cache_path).parent / ".." / ".." / ".." / "etc" / "passwd"), str(Path(cache_path).parents[1])):
        response = httpx.get(view_url.split("file=", 1)[0] + "file=" + sneaky, timeout=30)
        assert response.status_code in (403, 404), sneaky


@pytest.mark.parametrize("path", ["/etc/passwd", str(ROOT / "app.py"), "../app.py", str(DEFAULT_CHECKPOINT / "model.safetensors"),
                                  str(ROOT / "docs" / "pairs.png")])  # fmt: skip
def test_a_server_path_sent_as_an_input_file_is_refused(app_url, client, drawing, path) -> None:
    """A file value must name an upload: the app never reads a server file a visitor names (a real image included)."""
    as_file = {"path": path, "meta": {"_type": "gradio.FileData"}}
    for api_name, data in (("/compare", [as_file, as_file, CHARACTERS]),
                           ("/match", [{"background": None, "layers": [], "composite": as_file}, "All alphabets", 3]),
                           ("/teach", [{"background": None, "layers": [as_file], "composite": None}, "x"])):  # fmt: skip
        answer = raw_http.call(app_url, client, api_name, data, Path(drawing).parent)
        assert answer.status == 200 and answer.message["success"] is False, answer
        assert answer.error == NOT_UPLOADED, answer


# --- uploads are size-limited -------------------------------------------------------------------------------


def test_the_upload_limit_is_set_and_enforced_by_the_server(app_url, tmp_path) -> None:
    import app

    assert app.MAX_FILE_SIZE == "5mb" and app.launch_kwargs()["max_file_size"] == app.MAX_FILE_SIZE
    limit = 5 * 1024 * 1024
    for size, expected in ((limit - 1024, 200), (limit + 1, 413), (4 * limit, 413)):
        path = tmp_path / f"{size}.png"
        path.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * (size - 8))
        with open(path, "rb") as handle:
            response = httpx.post(app_url.rstrip("/") + "/gradio_api/upload", files={"files": ("f.png", handle, "image/png")}, timeout=60)
        assert response.status_code == expected, (size, response.status_code, response.text[:200])


# --- no user input reaches a path or a shell ----------------------------------------------------------------

_RECORDING = threading.Event()
_EVENTS: list[tuple[str, str]] = []
_WATCHED = ("open", "os.system", "subprocess.Popen", "os.exec", "os.posix_spawn", "os.spawn", "os.fork", "pickle.find_class",
            "os.remove", "os.rename", "shutil.rmtree")  # fmt: skip


def _audit(event: str, args: tuple, recording=_RECORDING, events=_EVENTS, watched=_WATCHED) -> None:
    # The defaults keep their objects alive through interpreter shutdown, when this module's globals become None.
    if recording.is_set() and event.startswith(watched):
        events.append((event, repr(args)[:500]))


sys.addaudithook(_audit)  # cannot be removed; records only while _RECORDING is set


def test_hostile_names_are_plain_strings_no_file_opened_no_process_started(app_url, drawing) -> None:
    marker = f"pwned{uuid.uuid4().hex[:8]}"
    hostile = [f"../../../../tmp/{marker}", f"/etc/{marker}", f"$(touch /tmp/{marker})", f"`touch /tmp/{marker}`",
               f"{marker}; rm -rf ~", f"C:\\{marker}\\..\\x"]  # fmt: skip
    visitor = Client(app_url, verbose=False)
    _EVENTS.clear()
    _RECORDING.set()
    try:
        for name in hostile:
            with pytest.raises(Exception, match="alphabet"):
                visitor.predict({"background": None, "layers": [], "composite": handle_file(drawing)}, name, 3, api_name="/match")
            taught = visitor.predict({"background": None, "layers": [], "composite": handle_file(drawing)}, name[:40], api_name="/teach")
            assert taught[0][-1]["caption"] == " ".join(name[:40].split())
        label = visitor.predict({"background": None, "layers": [], "composite": handle_file(drawing)}, api_name="/classify")[0]["label"]
        assert label in {" ".join(n[:40].split()) for n in hostile}
    finally:
        _RECORDING.clear()
    assert _EVENTS, "the audit hook saw nothing: it is not recording"
    assert not [e for e in _EVENTS if marker in e[1]], [e for e in _EVENTS if marker in e[1]][:5]
    spawned = [e for e in _EVENTS if not e[0].startswith(("open", "os.remove", "os.rename"))]
    assert not spawned, spawned[:5]
    assert not list(Path("/tmp").glob(f"{marker}*"))


SOURCES = [ROOT / "app.py", *sorted((ROOT / "siamese" / "matching").glob("*.py")), *sorted((ROOT / "siamese" / "transforms").glob("*.py")),
           ROOT / "siamese" / "serving.py", ROOT / "siamese" / "hub.py", ROOT / "webapp" / "gradio_fixes.py", ROOT / "webapp" / "errors.py"]


@pytest.mark.parametrize("source", SOURCES, ids=[str(p.relative_to(ROOT)) for p in SOURCES])
def test_the_serving_code_has_no_shell_no_eval_no_pickle(source: Path) -> None:
    text = source.read_text()
    for pattern in (r"\bsubprocess\b", r"os\.system", r"os\.popen", r"(?<![.\w])eval\(", r"(?<![.\w])exec\(", r"\bpickle\b",
                    r"torch\.load\(", r"shell\s*=\s*True"):  # fmt: skip
        assert not re.search(pattern, text), f"{source.name}: {pattern}"


def test_every_torch_load_in_the_package_is_weights_only() -> None:
    calls = []
    for source in sorted((ROOT / "siamese").rglob("*.py")):
        for line in source.read_text().splitlines():
            if "torch.load(" in line:
                calls.append((source.name, line.strip()))
    assert calls and all("weights_only=True" in line for _, line in calls), calls


# --- no pickle from the Hub; tampered configs ---------------------------------------------------------------

REPO = "tester/compact"


class _CreatesMarker:
    """Unpickling this creates ``path``: proof that a file was unpickled."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self):
        return (Path.touch, (self.path,))


def _pickled(marker: Path) -> bytes:
    return pickle.dumps({"features.0.weight": _CreatesMarker(marker)})


@pytest.mark.parametrize("offer", ["pytorch_model.bin only", "pickle named model.safetensors"])
def test_pickle_weights_from_the_hub_are_refused_without_unpickling(hub: FakeHub, checkpoint, tmp_path, offer) -> None:
    marker = tmp_path / "unpickled"
    files = {"config.json": checkpoint[1]["config.json"]}
    files["pytorch_model.bin" if offer.startswith("pytorch") else "model.safetensors"] = _pickled(marker)
    hub.add_repo(REPO, files)

    loaded = resolve_model({"SIAMESE_HUB_REPO": REPO})
    assert loaded.origin == "bundled" and len(loaded.warnings) == 1
    assert ("is incomplete" if offer.startswith("pytorch") else "not a readable safetensors file") in loaded.warnings[0]
    with pytest.raises(CheckpointError):
        resolve_model({"SIAMESE_MODEL": REPO})
    assert not marker.exists()
    assert not any(path.endswith(".bin") for path in hub.paths_requested("GET"))  # never even downloaded


@pytest.mark.parametrize(
    "change, words",
    [({"architecture": "resnet9000"}, "resnet9000"), ({"embedding_dim": 4096}, "do not fit"), ({"widths": [8]}, "do not fit"),
     ({"input_size": -1}, "size must be at least 8"), ({"__class__": "os.system"}, "__class__")],
    ids=["unknown architecture", "wrong embedding size", "wrong widths", "negative input size", "injected key"],
)  # fmt: skip
def test_a_tampered_config_from_the_hub_falls_back_with_a_reason(hub: FakeHub, checkpoint, change, words) -> None:
    config = {**json.loads(checkpoint[1]["config.json"]), **change}
    hub.add_repo(REPO, {"config.json": json.dumps(config).encode(), "model.safetensors": checkpoint[1]["model.safetensors"]})
    loaded = resolve_model({"SIAMESE_HUB_REPO": REPO})
    assert loaded.origin == "bundled" and "is not a usable checkpoint" in loaded.warnings[0], loaded.warnings
    assert words in loaded.warnings[0]
    with pytest.raises(CheckpointError, match=re.escape(words)):
        resolve_model({"SIAMESE_MODEL": REPO})
