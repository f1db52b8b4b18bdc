"""Shared fixtures. The data sets are prepared once per session (copied from ../shared/data).

The ``hub`` fixture serves :class:`fake_hub.FakeHub`, an imitation of the Hugging Face Hub over HTTP, to the
*real* ``huggingface_hub`` client: nothing in the library is mocked; it is pointed (``HF_ENDPOINT`` and the
constants it reads at import time) at a small server in a thread, with a fresh cache under ``tmp_path``.
"""

from __future__ import annotations

import threading
import time
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Callable, Iterator

import numpy as np
import pytest
import torch
from huggingface_hub import constants as hf_constants
from huggingface_hub.utils import close_session
from PIL import Image

import siamese
from siamese import CompactNet, SiameseNet
from siamese.data import ImageSet, load_omniglot
from siamese.utils import free_port

from fake_hub import FakeHub, handler  # tests/ is on sys.path


@pytest.fixture(scope="session")
def omniglot_validation() -> ImageSet:
    return load_omniglot("validation")


@pytest.fixture(scope="session")
def omniglot_background() -> ImageSet:
    return load_omniglot("train")


@pytest.fixture(scope="session")
def omniglot_evaluation() -> ImageSet:
    return load_omniglot("evaluation")


@pytest.fixture(scope="session")
def omniglot_test() -> ImageSet:
    return load_omniglot("test")


# --- a local imitation of the Hub -------------------------------------------------------------------

# --- fixtures -------------------------------------------------------------------------------------


@pytest.fixture
def use_endpoint(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[str], Path]]:
    """Point the real client at ``endpoint``, with a fresh cache under ``tmp_path``; returns the cache."""

    def point_at(endpoint: str) -> Path:
        home, cache = tmp_path / "hf-home", tmp_path / "hf-home" / "hub"
        for name in (
            *("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "HF_OIDC_RESOURCE"),
            *("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"),
        ):
            monkeypatch.delenv(name, raising=False)
        monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
        monkeypatch.setenv("HF_ENDPOINT", endpoint)
        monkeypatch.setenv("HF_HOME", str(home))
        monkeypatch.setenv("HF_HUB_CACHE", str(cache))
        monkeypatch.setenv("HF_HUB_DISABLE_TELEMETRY", "1")
        monkeypatch.setenv("HF_HUB_DISABLE_PROGRESS_BARS", "1")
        # huggingface_hub reads all of these once, when it is imported.
        monkeypatch.setattr(hf_constants, "ENDPOINT", endpoint)
        template = endpoint + "/{repo_id}/resolve/{revision}/{filename}"
        monkeypatch.setattr(hf_constants, "HUGGINGFACE_CO_URL_TEMPLATE", template)
        monkeypatch.setattr(hf_constants, "HF_HOME", str(home))
        monkeypatch.setattr(hf_constants, "HF_HUB_CACHE", str(cache))
        monkeypatch.setattr(hf_constants, "HF_TOKEN_PATH", str(home / "token"))
        monkeypatch.setattr(hf_constants, "HF_STORED_TOKENS_PATH", str(home / "stored_tokens"))
        monkeypatch.setattr(hf_constants, "HF_HUB_OFFLINE", False)
        monkeypatch.setattr(hf_constants, "HF_HUB_DISABLE_TELEMETRY", True)
        close_session()  # the shared client picks up the proxy settings above when it is rebuilt
        return cache

    yield point_at
    close_session()  # drop pooled connections to a server that is about to go away


@pytest.fixture
def hub(use_endpoint: Callable[[str], Path]) -> Iterator[FakeHub]:
    fake = FakeHub()
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler(fake))
    server.daemon_threads = True
    fake.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    use_endpoint(fake.url)
    try:
        yield fake
    finally:
        # Downloads that resolve_model gave up on still run in daemon threads: let them end now, against a
        # server that answers, so that none is cut off mid-request by close_session (its sockets' numbers
        # would be reused by the next test's connections) or still retrying when the next test starts.
        fake.hang, fake.fail_status = False, None
        fake.released.set()
        _join_hub_threads(seconds=20)
        close_session()
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def _join_hub_threads(seconds: float) -> None:
    """Wait (a bounded time) for the download threads of ``siamese.hub`` to finish."""
    deadline = time.monotonic() + seconds
    for thread in threading.enumerate():
        if thread.name.startswith("siamese-hub-"):
            thread.join(max(deadline - time.monotonic(), 0))


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> tuple[SiameseNet, dict[str, bytes]]:
    """A CompactNet with weights *and* batch-norm statistics away from a fresh init, and its saved files."""
    torch.manual_seed(7)
    model = siamese.build_model("compact")
    assert isinstance(model, CompactNet)
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.add_(0.05 * torch.randn_like(parameter))
        model.train()
        size = model.preprocess_config.input_size
        model.features(torch.rand(4, model.preprocess_config.channels, size, size))
    model.eval()
    folder = tmp_path_factory.mktemp("compact-checkpoint")
    model.save_pretrained(folder)
    files = {name: (folder / name).read_bytes() for name in ("config.json", "model.safetensors")}
    return model, files


# --- the files a careless or hostile visitor sends ------------------------------------------------------


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, str]:
    folder: Path = tmp_path_factory.mktemp("bad-uploads")
    data = load_omniglot("test", drawers=(2,))
    index = [i for i, c in enumerate(data.labels) if data.class_names[c] == "Tengwar/character07"][0]
    glyph = data.images[index].convert("L")  # black strokes on white, 105 x 105
    other = data.images[0].convert("L")
    ink = Image.eval(glyph, lambda v: 255 - v)  # 255 on the strokes
    paths: dict[str, str] = {}

    def save(name: str, image: Image.Image, **options) -> None:
        paths[name] = str(folder / name)
        image.save(paths[name], **options)

    def write(name: str, data: bytes) -> None:
        paths[name] = str(folder / name)
        Path(paths[name]).write_bytes(data)

    save("tengwar.png", glyph)
    save("white.png", Image.new("L", (300, 300), 255))
    save("black.png", Image.new("L", (300, 300), 0))
    save("one_pixel.png", Image.new("L", (1, 1), 0))
    save("transparent.png", Image.new("RGBA", (200, 200), (0, 0, 0, 0)))
    save("strip.png", Image.new("L", (5000, 1), 0))
    save("bomb.png", Image.new("1", (20_000, 20_000), 1))  # 400 megapixels in ~90 kB
    save("100_megapixels.png", Image.new("L", (10_000, 10_000), 255))
    write("not_an_image.png", b"this is not a png, just text with a .png name\n")
    write("empty.png", b"")
    write("drawing.svg", b'<svg xmlns="http://www.w3.org/2000/svg" width="9" height="9"><rect width="9" height="9"/></svg>')
    png = (folder / "tengwar.png").read_bytes()
    write("truncated.png", png[: len(png) // 2])
    save("tengwar.jpg", glyph.convert("RGB"), quality=95)
    jpeg = (folder / "tengwar.jpg").read_bytes()
    write("truncated.jpg", jpeg[: len(jpeg) // 2])
    damaged = bytearray(png)
    damaged[damaged.index(b"IDAT") + 20] ^= 0xFF  # one bit of the compressed pixels flipped
    write("damaged.png", bytes(damaged))
    save("cmyk.jpg", glyph.convert("CMYK"), quality=95)
    save("16bit.png", Image.fromarray(np.asarray(glyph).astype(np.uint16) * 257))
    palette = glyph.convert("P")
    save("palette_transparency.png", palette, transparency=palette.getpixel((0, 0)))  # white = transparent
    save("animated.gif", glyph, save_all=True, append_images=[other, Image.new("L", glyph.size, 255)], duration=80, loop=0)
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 degrees clockwise to show": the pixels are stored on their side
    save("exif_rotated.jpg", glyph.transpose(Image.Transpose.ROTATE_90).convert("RGB"), quality=95, exif=exif)
    save("gray_alpha.png", Image.merge("LA", (Image.new("L", glyph.size, 0), ink)))  # strokes opaque, the rest clear
    layer = Image.merge("RGBA", (*(Image.new("L", glyph.size, 0),) * 3, ink))  # the canvas's own layer format
    save("layer.png", layer)
    nan = np.where(np.asarray(glyph) > 127, np.nan, 0.0).astype(np.float32)  # NaN paper, 0.0 ink
    save("nan.tiff", Image.fromarray(nan, mode="F"))
    write("over_the_limit.png", png + b"\0" * (5 * 1024 * 1024 + 1))  # a real PNG padded past 5 MB
    return paths


# --- the web app, launched in this process ----------------------------------------------------------


@pytest.fixture
def closed_port() -> int:
    """A loopback port where nothing answers: a server that cannot be reached."""
    return free_port()


@pytest.fixture(scope="module")
def demo() -> Iterator:
    """The app (``app.py``) launched on a free loopback port as ``make run`` launches it; closed after the module."""
    with pytest.MonkeyPatch.context() as env:
        env.setenv("GRADIO_ANALYTICS_ENABLED", "False")
        import app  # noqa: PLC0415 (only the modules that use the app pay for importing Gradio)

        launched = app.create_demo()
        launched.launch(prevent_thread_lock=True, server_port=free_port(), quiet=True, **app.launch_kwargs())
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture(scope="module")
def app_url(demo) -> str:
    """Where the launched app answers."""
    return demo.local_url


@pytest.fixture(scope="module")
def client(app_url: str):
    """A ``gradio_client`` visitor of the launched app (one session for the whole module)."""
    from gradio_client import Client

    return Client(app_url, verbose=False)
