"""``load_model`` against a local imitation of the Hub, through the real ``huggingface_hub`` client.

Nothing in ``huggingface_hub`` is mocked: the client is pointed (``HF_ENDPOINT`` and the constants the
library reads at import time) at a small HTTP server in a thread that answers ``/resolve`` the way the
Hub does, so the HEAD metadata call, the CDN-style redirect of LFS files, the GET, the cache layout,
the error headers and offline mode are all the library's own behaviour. The server (``FakeHub``) and
its fixtures (``use_endpoint``, ``hub``, ``checkpoint``) live in ``conftest.py``.
"""

from __future__ import annotations

import hashlib
import re
import time
from typing import TYPE_CHECKING

import pytest
import torch
from huggingface_hub import constants as hf_constants

import siamese
from siamese import CheckpointError, SiameseNet

if TYPE_CHECKING:
    from fake_hub import FakeHub


def _batch(model: SiameseNet) -> torch.Tensor:
    size = model.preprocess_config.input_size
    return torch.rand(6, model.preprocess_config.channels, size, size, generator=torch.Generator().manual_seed(1))


def _assert_same_outputs(loaded: SiameseNet, original: SiameseNet) -> None:
    assert type(loaded) is type(original)
    assert not loaded.training
    batch = _batch(original)
    with torch.no_grad():
        assert torch.equal(loaded.features(batch), original.features(batch))
        assert torch.equal(loaded.compare(batch[:2], batch[2:]), original.compare(batch[:2], batch[2:]))


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


def test_unreachable_endpoint_is_a_checkpoint_error_in_bounded_time(use_endpoint, monkeypatch, closed_port: int) -> None:
    use_endpoint(f"http://127.0.0.1:{closed_port}")
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
