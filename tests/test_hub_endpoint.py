"""``load_model`` against a local imitation of the Hub, through the real ``huggingface_hub`` client.

Nothing in ``huggingface_hub`` is mocked: the client is pointed (``HF_ENDPOINT`` and the constants the
library reads at import time) at a small HTTP server in a thread that answers ``/resolve`` the way the
Hub does, so the HEAD metadata call, the CDN-style redirect of LFS files, the GET, the cache layout,
the error headers and offline mode are all the library's own behaviour.
"""

from __future__ import annotations

import hashlib
import re
import socket
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Callable, Iterator

import pytest
import torch
from huggingface_hub import constants as hf_constants
from huggingface_hub.utils import close_session

import siamese
from siamese import CheckpointError, CompactNet, SiameseNet

_RESOLVE = re.compile(r"^/(?P<repo>[^/]+/[^/]+)/resolve/(?P<revision>[^/]+)/(?P<filename>.+)$")
_CDN = re.compile(r"^/cdn-lfs/(?P<sha256>[0-9a-f]{64})$")
_LFS_SUFFIXES = (".safetensors", ".bin", ".pt")


def _git_blob_oid(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


@dataclass
class FakeHub:
    """Repos as ``{repo_id: {filename: bytes}}``, served like huggingface.co serves ``/resolve``.

    * Small files: ``200`` with ``X-Repo-Commit``, a quoted git-blob ``ETag`` and ``Content-Length``.
    * LFS-like files (``*.safetensors``): ``302`` to a CDN url on *another host* (``localhost`` instead of
      ``127.0.0.1``), carrying ``X-Linked-Etag`` (the sha256) and ``X-Linked-Size``, as the Hub does; the
      client takes the metadata from that redirect and GETs the CDN url.
    * A missing repo: ``401`` with ``X-Error-Code: RepoNotFound`` (what the Hub answers anonymous
      clients), or ``404`` if ``missing_repo_status`` says so; a missing file: ``404`` with
      ``X-Error-Code: EntryNotFound`` and the repo's commit; another revision: ``RevisionNotFound``.
    * GET honours ``Range: bytes=N-[M]`` (``206``), which the client sends when it resumes a download.
    """

    port: int = 0
    repos: dict[str, dict[str, bytes]] = field(default_factory=dict)
    requests: list[tuple[str, str]] = field(default_factory=list)
    missing_repo_status: int = 401

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def add_repo(self, repo_id: str, files: dict[str, bytes]) -> None:
        self.repos[repo_id] = dict(files)

    def commit(self, repo_id: str) -> str:
        digest = hashlib.sha1(repo_id.encode())
        for name, data in sorted(self.repos[repo_id].items()):
            digest.update(name.encode() + b"\0" + hashlib.sha256(data).digest())
        return digest.hexdigest()

    def blob(self, sha256: str) -> bytes | None:
        for files in self.repos.values():
            for data in files.values():
                if hashlib.sha256(data).hexdigest() == sha256:
                    return data
        return None

    def paths_requested(self, method: str) -> list[str]:
        return [path for m, path in self.requests if m == method]


def _handler(hub: FakeHub) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args) -> None:  # keep pytest output clean
            pass

        def do_HEAD(self) -> None:
            self._answer(send_body=False)

        def do_GET(self) -> None:
            self._answer(send_body=True)

        # --- routing ----------------------------------------------------------------------

        def _answer(self, send_body: bool) -> None:
            hub.requests.append((self.command, self.path))
            if match := _CDN.match(self.path):
                data = hub.blob(match["sha256"])
                if data is None:
                    return self._error(404, {"X-Error-Code": "EntryNotFound"})
                return self._content(data, {"ETag": f'"{match["sha256"]}"'}, send_body)
            match = _RESOLVE.match(self.path)
            if match is None:
                return self._error(404, {})
            repo, revision, filename = match["repo"], match["revision"], match["filename"]
            if repo not in hub.repos:
                return self._error(
                    hub.missing_repo_status,
                    {"X-Error-Code": "RepoNotFound", "X-Error-Message": "Repository not found"},
                )
            commit = hub.commit(repo)
            if revision not in ("main", commit):
                return self._error(404, {"X-Error-Code": "RevisionNotFound", "X-Error-Message": "Invalid rev id"})
            files = hub.repos[repo]
            if filename not in files:
                return self._error(
                    404,
                    {"X-Error-Code": "EntryNotFound", "X-Error-Message": "Entry not found", "X-Repo-Commit": commit},
                )
            data = files[filename]
            if filename.endswith(_LFS_SUFFIXES):
                sha256 = hashlib.sha256(data).hexdigest()
                pointer = f"version https://git-lfs.github.com/spec/v1\noid sha256:{sha256}\nsize {len(data)}\n"
                self.send_response(302)
                self.send_header("Location", f"http://localhost:{hub.port}/cdn-lfs/{sha256}")
                self.send_header("X-Repo-Commit", commit)
                self.send_header("ETag", f'"{_git_blob_oid(pointer.encode())}"')
                self.send_header("X-Linked-Etag", f'"{sha256}"')
                self.send_header("X-Linked-Size", str(len(data)))
                self.send_header("Content-Length", "0")
                self.end_headers()
                return None
            return self._content(data, {"X-Repo-Commit": commit, "ETag": f'"{_git_blob_oid(data)}"'}, send_body)

        # --- responses --------------------------------------------------------------------

        def _content(self, data: bytes, headers: dict[str, str], send_body: bool) -> None:
            start, end, status = 0, len(data) - 1, 200
            if send_body and (byte_range := re.fullmatch(r"bytes=(\d+)-(\d*)", self.headers.get("Range", ""))):
                start = int(byte_range[1])
                end = min(int(byte_range[2]) if byte_range[2] else end, end)
                status = 206
            body = data[start : end + 1]
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Accept-Ranges", "bytes")
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Content-Length", str(len(body)))
            if status == 206:
                self.send_header("Content-Range", f"bytes {start}-{end}/{len(data)}")
            self.end_headers()
            if send_body:
                self.wfile.write(body)

        def _error(self, status: int, headers: dict[str, str]) -> None:
            body = b'{"error": "not found"}'
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

    return Handler


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
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(fake))
    server.daemon_threads = True
    fake.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    use_endpoint(fake.url)
    try:
        yield fake
    finally:
        close_session()
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


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
        size = model.preprocess_config.size
        model.features(torch.rand(4, model.preprocess_config.channels, size, size))
    model.eval()
    folder = tmp_path_factory.mktemp("compact-checkpoint")
    model.save_pretrained(folder)
    files = {name: (folder / name).read_bytes() for name in ("config.json", "model.safetensors")}
    return model, files


def _batch(model: SiameseNet) -> torch.Tensor:
    size = model.preprocess_config.size
    return torch.rand(6, model.preprocess_config.channels, size, size, generator=torch.Generator().manual_seed(1))


def _assert_same_outputs(loaded: SiameseNet, original: SiameseNet) -> None:
    assert type(loaded) is type(original)
    assert not loaded.training
    batch = _batch(original)
    with torch.no_grad():
        assert torch.equal(loaded.features(batch), original.features(batch))
        assert torch.equal(loaded.compare(batch[:2], batch[2:]), original.compare(batch[:2], batch[2:]))


def _closed_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]  # nothing listens here once the socket is closed


# --- tests ----------------------------------------------------------------------------------------


def test_load_model_downloads_a_repo_through_the_endpoint(hub: FakeHub, checkpoint, tmp_path, monkeypatch) -> None:
    original, files = checkpoint
    hub.add_repo("tester/compact", files)
    monkeypatch.chdir(tmp_path)  # "tester/compact" must not exist as a folder here

    loaded = siamese.load_model("tester/compact")

    _assert_same_outputs(loaded, original)
    heads = hub.paths_requested("HEAD")
    assert "/tester/compact/resolve/main/config.json" in heads
    assert "/tester/compact/resolve/main/model.safetensors" in heads
    sha256 = hashlib.sha256(files["model.safetensors"]).hexdigest()
    assert f"/cdn-lfs/{sha256}" in hub.paths_requested("GET")  # the weights came through the CDN redirect
    snapshot = tmp_path / "hf-home" / "hub" / "models--tester--compact" / "snapshots" / hub.commit("tester/compact")
    assert (snapshot / "model.safetensors").read_bytes() == files["model.safetensors"]
    assert (snapshot / "config.json").read_bytes() == files["config.json"]


@pytest.mark.parametrize("status", [401, 404])
def test_missing_repo_is_a_checkpoint_error_naming_it(hub: FakeHub, checkpoint, status: int) -> None:
    hub.missing_repo_status = status
    hub.add_repo("tester/compact", checkpoint[1])  # another repo exists: only the name is wrong

    started = time.monotonic()
    with pytest.raises(CheckpointError, match=re.escape("'tester/no-such-model'")):
        siamese.load_model("tester/no-such-model")
    assert time.monotonic() - started < 5
    assert hub.paths_requested("HEAD") == ["/tester/no-such-model/resolve/main/config.json"]


def test_repo_without_weights_is_a_checkpoint_error(hub: FakeHub, checkpoint) -> None:
    hub.add_repo("tester/config-only", {"config.json": checkpoint[1]["config.json"]})

    with pytest.raises(CheckpointError, match=r"model\.safetensors.*'tester/config-only'"):
        siamese.load_model("tester/config-only")
    assert "/tester/config-only/resolve/main/model.safetensors" in hub.paths_requested("HEAD")


def test_corrupt_weights_are_a_checkpoint_error(hub: FakeHub, checkpoint) -> None:
    files = checkpoint[1]
    corrupt = b"\x13not safetensors" * 64
    hub.add_repo("tester/corrupt", {"config.json": files["config.json"], "model.safetensors": corrupt})

    with pytest.raises(CheckpointError, match="model.safetensors"):
        siamese.load_model("tester/corrupt")
    assert any(path.startswith("/cdn-lfs/") for path in hub.paths_requested("GET"))  # it was downloaded, then refused


def test_unreachable_endpoint_is_a_checkpoint_error_in_bounded_time(use_endpoint, monkeypatch) -> None:
    use_endpoint(f"http://127.0.0.1:{_closed_port()}")
    monkeypatch.setenv("HF_HUB_ETAG_TIMEOUT", "2")
    monkeypatch.setenv("HF_HUB_DOWNLOAD_TIMEOUT", "2")
    monkeypatch.setattr(hf_constants, "HF_HUB_ETAG_TIMEOUT", 2)
    monkeypatch.setattr(hf_constants, "HF_HUB_DOWNLOAD_TIMEOUT", 2)

    started = time.monotonic()
    with pytest.raises(CheckpointError, match=re.escape("'tester/compact'")):
        siamese.load_model("tester/compact")
    elapsed = time.monotonic() - started
    # The timeouts above only bound a connection that hangs. A refused one fails at once, but with nothing
    # cached huggingface_hub retries the HEAD call 5 times with 1+2+4+8+8 s of backoff: about 23 s in all.
    assert elapsed < 30, f"an unreachable endpoint took {elapsed:.1f} s to fail"


def test_offline_mode_loads_a_downloaded_model_from_the_cache(hub: FakeHub, checkpoint, monkeypatch) -> None:
    original, files = checkpoint
    hub.add_repo("tester/compact", files)
    siamese.load_model("tester/compact")
    served = len(hub.requests)
    assert served > 0

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(hf_constants, "HF_HUB_OFFLINE", True)
    loaded = siamese.load_model("tester/compact")

    _assert_same_outputs(loaded, original)
    assert len(hub.requests) == served  # the server, still up, was not asked again


def test_offline_mode_without_a_cached_copy_is_a_checkpoint_error(hub: FakeHub, checkpoint, monkeypatch) -> None:
    hub.add_repo("tester/compact", checkpoint[1])
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(hf_constants, "HF_HUB_OFFLINE", True)

    started = time.monotonic()
    with pytest.raises(CheckpointError, match=re.escape("'tester/compact'")):
        siamese.load_model("tester/compact")
    assert time.monotonic() - started < 5
    assert hub.requests == []
