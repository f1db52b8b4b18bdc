"""``resolve_model``: SIAMESE_MODEL, else the configured Hub repo, else the bundled checkpoint.

Against the local imitation of the Hub in ``conftest.py``, through the real ``huggingface_hub`` client
(nothing mocked), with a fresh HF cache per test. Every way the Hub can fail must end in the bundled
model within the time limit, with a warning that says why; a model named by SIAMESE_MODEL never falls back.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from pathlib import Path
from typing import TYPE_CHECKING, Callable

import pytest
import torch

import siamese
from siamese import CheckpointError, SiameseNet
from siamese.hub import DEFAULT_CHECKPOINT, checkpoint_fingerprint
from siamese.hub import CALIBRATION_FILE, Calibration, read_calibration, write_calibration
from siamese.serving import LoadedModel, resolve_model

if TYPE_CHECKING:
    from fake_hub import FakeHub

REPO = "tester/compact"
BUNDLED_FINGERPRINT = hashlib.sha256((DEFAULT_CHECKPOINT / "model.safetensors").read_bytes()).hexdigest()[:16]


def _resolve(env: dict[str, str], **kwargs) -> tuple[LoadedModel, float]:
    started = time.monotonic()
    loaded = resolve_model(env, **kwargs)
    return loaded, time.monotonic() - started


def _same_weights(a: SiameseNet, b: SiameseNet) -> bool:
    return type(a) is type(b) and all(
        torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values(), strict=True)
    )


def _assert_bundled_fallback(loaded: LoadedModel, elapsed: float, *reason: str) -> None:
    assert loaded.origin == "bundled"
    assert loaded.source == str(DEFAULT_CHECKPOINT)
    assert loaded.fingerprint == BUNDLED_FINGERPRINT
    assert not loaded.model.training
    assert len(loaded.warnings) == 1, loaded.warnings
    warning = loaded.warnings[0]
    assert warning.startswith(f"Hub repo {REPO} "), warning
    for words in reason:
        assert words in warning, warning
    assert loaded.describe().startswith(
        f"ensemble model from bundled checkpoint checkpoints/ensemble-omniglot (fallback: Hub repo {REPO} "
    )
    assert elapsed < 5, f"the fallback took {elapsed:.2f} s"


@pytest.fixture
def bundled() -> SiameseNet:
    return siamese.load_model()


# --- the configured Hub repo ----------------------------------------------------------------------


def test_no_configuration_is_the_bundled_checkpoint_without_warnings(hub: FakeHub) -> None:
    loaded, _ = _resolve({})
    assert (loaded.origin, loaded.source, loaded.warnings) == ("bundled", str(DEFAULT_CHECKPOINT), [])
    assert loaded.fingerprint == BUNDLED_FINGERPRINT == checkpoint_fingerprint(DEFAULT_CHECKPOINT)
    assert loaded.describe() == "ensemble model from bundled checkpoint checkpoints/ensemble-omniglot"
    assert hub.requests == []


@pytest.mark.parametrize("pinned", [False, True], ids=["main", "pinned-commit"])
def test_hub_repo_is_downloaded_and_used(hub: FakeHub, checkpoint, caplog, pinned: bool) -> None:
    original, files = checkpoint
    hub.add_repo(REPO, files)
    commit = hub.commit(REPO)
    env = {"SIAMESE_HUB_REPO": REPO, **({"SIAMESE_HUB_REVISION": commit} if pinned else {})}

    with caplog.at_level(logging.INFO, logger="siamese"):
        loaded, _ = _resolve(env)

    assert (loaded.origin, loaded.source, loaded.warnings, loaded.commit) == ("hub", REPO, [], commit)
    assert _same_weights(loaded.model, original) and not loaded.model.training
    assert loaded.fingerprint == hashlib.sha256(files["model.safetensors"]).hexdigest()[:16] != BUNDLED_FINGERPRINT
    if pinned:
        assert loaded.describe() == f"compact model from Hub repo {REPO} (revision {commit})"
        assert "/tester/compact/resolve/main/config.json" not in hub.paths_requested("HEAD")
    else:
        assert loaded.describe() == f"compact model from Hub repo {REPO} (revision main, commit {commit[:7]})"
    assert f"Using the {loaded.describe()}" in [r.getMessage() for r in caplog.records if r.name == "siamese"]


def _missing_repo(hub: FakeHub, files: dict[str, bytes]) -> None:
    hub.missing_repo_status = 404
    hub.add_repo("tester/other", files)


def _server_error(hub: FakeHub, files: dict[str, bytes]) -> None:
    hub.add_repo(REPO, files)
    hub.fail_status = 500


def _truncated_weights(hub: FakeHub, files: dict[str, bytes]) -> None:
    hub.add_repo(REPO, files)
    hub.cdn_truncate = len(files["model.safetensors"]) // 3


def _corrupt_weights(hub: FakeHub, files: dict[str, bytes]) -> None:
    hub.add_repo(REPO, {"config.json": files["config.json"], "model.safetensors": b"\x13not safetensors" * 64})


def _config_that_does_not_fit(hub: FakeHub, files: dict[str, bytes]) -> None:
    config = json.loads(files["config.json"])
    config["widths"] = [16, 32, 32, 32]
    hub.add_repo(REPO, {"config.json": json.dumps(config).encode(), "model.safetensors": files["model.safetensors"]})


def _no_weights(hub: FakeHub, files: dict[str, bytes]) -> None:
    hub.add_repo(REPO, {"config.json": files["config.json"]})


def _unknown_revision(hub: FakeHub, files: dict[str, bytes]) -> None:
    hub.add_repo(REPO, files)


@pytest.mark.parametrize(
    ("break_hub", "env", "reason"),
    [
        (_missing_repo, {}, ("not found", "HTTP 404")),
        (_server_error, {}, ("within 5 s", "HTTP Error 500")),  # the client retries 500s: only the deadline ends it
        (_truncated_weights, {}, ("download was truncated", "Consistency check failed")),
        (_corrupt_weights, {}, ("not a readable safetensors file", "corrupt or truncated")),
        (_config_that_does_not_fit, {}, ("do not fit",)),
        (_no_weights, {}, ("is incomplete", "model.safetensors")),
        (_unknown_revision, {"SIAMESE_HUB_REVISION": "v9"}, ("has no such revision",)),
    ],
    ids=["404", "500", "truncated", "corrupt", "config-mismatch", "no-weights", "unknown-revision"],
)
def test_a_broken_hub_falls_back_to_the_bundled_checkpoint(
    hub: FakeHub, checkpoint, caplog, bundled, break_hub: Callable, env: dict, reason: tuple[str, ...]
) -> None:
    break_hub(hub, checkpoint[1])

    with caplog.at_level(logging.INFO, logger="siamese"):
        loaded, elapsed = _resolve({"SIAMESE_HUB_REPO": REPO, **env})

    _assert_bundled_fallback(loaded, elapsed, *reason)
    assert _same_weights(loaded.model, bundled)
    assert hub.requests, "the Hub was asked"
    logged = [r for r in caplog.records if r.name == "siamese" and r.levelno == logging.WARNING]
    assert len(logged) == 1 and loaded.warnings[0] in logged[0].getMessage()


def test_an_endpoint_that_never_answers_falls_back_within_5_s(hub: FakeHub) -> None:
    hub.hang = True  # connections are accepted, requests never answered
    loaded, elapsed = _resolve({"SIAMESE_HUB_REPO": REPO})
    _assert_bundled_fallback(loaded, elapsed, "unreachable or not answering", "no usable answer within 5 s")
    assert elapsed > 4, "gave up long before the time allowed"  # the deadline, not an error, ended the wait
    assert hub.paths_requested("HEAD")[0] == "/tester/compact/resolve/main/config.json"


def test_a_shorter_timeout_gives_up_sooner(hub: FakeHub) -> None:
    hub.hang = True
    loaded, elapsed = _resolve({"SIAMESE_HUB_REPO": REPO}, timeout=1.5)
    assert loaded.origin == "bundled" and "within 1.5 s" in loaded.warnings[0]
    assert elapsed < 1.5


def test_a_cached_repo_is_used_when_the_endpoint_never_answers(hub: FakeHub, checkpoint) -> None:
    original, files = checkpoint
    hub.add_repo(REPO, files)
    assert _resolve({"SIAMESE_HUB_REPO": REPO})[0].origin == "hub"  # now cached
    hub.hang = True

    loaded, elapsed = _resolve({"SIAMESE_HUB_REPO": REPO})

    assert (loaded.origin, loaded.warnings) == ("hub", [])
    assert _same_weights(loaded.model, original)
    assert elapsed < 5


# --- offline --------------------------------------------------------------------------------------


def test_offline_mode_uses_the_cached_repo(hub: FakeHub, checkpoint) -> None:
    original, files = checkpoint
    hub.add_repo(REPO, files)
    assert _resolve({"SIAMESE_HUB_REPO": REPO})[0].origin == "hub"
    served = len(hub.requests)

    loaded, _ = _resolve({"SIAMESE_HUB_REPO": REPO, "HF_HUB_OFFLINE": "1"})

    assert (loaded.origin, loaded.warnings) == ("hub", [])
    assert _same_weights(loaded.model, original)
    assert len(hub.requests) == served  # the server, still up, was not asked again


def test_offline_mode_without_a_cached_copy_falls_back(hub: FakeHub, checkpoint) -> None:
    hub.add_repo(REPO, checkpoint[1])

    loaded, elapsed = _resolve({"SIAMESE_HUB_REPO": REPO, "HF_HUB_OFFLINE": "1"})

    _assert_bundled_fallback(loaded, elapsed, "not in the local cache", "HF_HUB_OFFLINE")
    assert hub.requests == []


# --- SIAMESE_MODEL --------------------------------------------------------------------------------


def test_siamese_model_as_a_folder_wins_over_the_hub_repo(hub: FakeHub, checkpoint, tmp_path: Path) -> None:
    original, files = checkpoint
    folder = tmp_path / "my-model"
    folder.mkdir()
    for name, data in files.items():
        (folder / name).write_bytes(data)

    loaded, _ = _resolve({"SIAMESE_MODEL": str(folder), "SIAMESE_HUB_REPO": REPO})

    assert (loaded.origin, loaded.source, loaded.warnings) == ("env", str(folder.resolve()), [])
    assert _same_weights(loaded.model, original)
    assert loaded.fingerprint == checkpoint_fingerprint(folder) == checkpoint_fingerprint(loaded.model)
    assert loaded.describe() == f"compact model from folder {folder.resolve()} (set by SIAMESE_MODEL)"
    assert hub.requests == []  # the configured Hub repo was not even asked


def test_siamese_model_as_a_repo_id(hub: FakeHub, checkpoint, tmp_path, monkeypatch) -> None:
    original, files = checkpoint
    hub.add_repo("tester/chosen", files)
    monkeypatch.chdir(tmp_path)  # "tester/chosen" must not exist as a folder here

    loaded, _ = _resolve({"SIAMESE_MODEL": "tester/chosen", "SIAMESE_HUB_REPO": REPO})

    assert (loaded.origin, loaded.source, loaded.warnings) == ("env", "tester/chosen", [])
    assert _same_weights(loaded.model, original)
    assert loaded.describe().startswith("compact model from Hub repo tester/chosen (revision main, commit ")
    assert loaded.describe().endswith("; set by SIAMESE_MODEL)")
    assert all("/tester/compact/" not in path for _, path in hub.requests)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("./no/such/folder", "No checkpoint folder"),
        ("tester/no-such-model", "tester/no-such-model"),
        ("corrupt-folder", "not a readable safetensors file"),
    ],
    ids=["missing-folder", "missing-repo", "corrupt-folder"],
)
def test_a_broken_siamese_model_is_an_error_not_a_fallback(
    hub: FakeHub, checkpoint, tmp_path, monkeypatch, value: str, message: str
) -> None:
    hub.add_repo(REPO, checkpoint[1])  # a working fallback exists, and must not be used
    monkeypatch.chdir(tmp_path)
    if value == "corrupt-folder":
        (tmp_path / value).mkdir()
        (tmp_path / value / "config.json").write_bytes(checkpoint[1]["config.json"])
        (tmp_path / value / "model.safetensors").write_bytes(b"\0" * 100)

    started = time.monotonic()
    with pytest.raises(CheckpointError, match=f"SIAMESE_MODEL='{value}' could not be loaded") as caught:
        resolve_model({"SIAMESE_MODEL": value, "SIAMESE_HUB_REPO": REPO})
    assert message in str(caught.value)
    assert time.monotonic() - started < 5
    assert all("/tester/compact/" not in path for _, path in hub.requests)


def test_siamese_model_on_an_endpoint_that_never_answers_is_an_error_within_the_timeout(hub: FakeHub) -> None:
    hub.hang = True
    started = time.monotonic()
    with pytest.raises(CheckpointError, match="no usable answer within 2 s"):
        resolve_model({"SIAMESE_MODEL": "tester/chosen"}, timeout=2)
    assert time.monotonic() - started < 2.5


# --- calibration ----------------------------------------------------------------------------------


def _with_calibration(files: dict[str, bytes], folder: Path, calibration: Calibration) -> dict[str, bytes]:
    folder.mkdir()
    return {**files, CALIBRATION_FILE: write_calibration(folder, calibration).read_bytes()}


def _calibration_requests(hub: FakeHub) -> list[str]:
    return [path for _, path in hub.requests if path.endswith("/" + CALIBRATION_FILE)]


def test_the_bundled_checkpoint_is_served_with_its_calibration(hub: FakeHub) -> None:
    loaded, _ = _resolve({})
    assert loaded.calibration.fitted and loaded.calibration == read_calibration(DEFAULT_CHECKPOINT)


def test_a_hub_repo_brings_its_calibration_online_and_offline(hub: FakeHub, checkpoint, tmp_path: Path) -> None:
    calibration = Calibration(0.7, 0.8, True, {"fitted_on": "a test"})
    hub.add_repo(REPO, _with_calibration(checkpoint[1], tmp_path / "calibrated", calibration))

    loaded, _ = _resolve({"SIAMESE_HUB_REPO": REPO})
    cached, _ = _resolve({"SIAMESE_HUB_REPO": REPO, "HF_HUB_OFFLINE": "1"})

    for served in (loaded, cached):
        assert (served.origin, served.warnings) == ("hub", [])
        assert served.calibration == calibration and served.calibration.details == {"fitted_on": "a test"}
    assert _calibration_requests(hub) == [f"/{REPO}/resolve/{hub.commit(REPO)}/{CALIBRATION_FILE}"] * 2  # HEAD, GET


def test_a_hub_repo_without_calibration_is_served_with_the_defaults(hub: FakeHub, checkpoint) -> None:
    hub.add_repo(REPO, checkpoint[1])

    loaded, _ = _resolve({"SIAMESE_HUB_REPO": REPO})
    asked = _calibration_requests(hub)
    again, _ = _resolve({"SIAMESE_HUB_REPO": REPO})

    for served in (loaded, again):
        assert (served.origin, served.warnings) == ("hub", [])
        assert served.calibration == Calibration() and not served.calibration.fitted
    assert len(asked) == 1 and _calibration_requests(hub) == asked  # the cache remembers that the commit has none


def test_an_invalid_calibration_on_the_hub_falls_back_to_the_bundled_checkpoint(hub: FakeHub, checkpoint, bundled) -> None:
    hub.add_repo(REPO, {**checkpoint[1], CALIBRATION_FILE: b'{"temperature": -1, "threshold": 0.5}'})

    loaded, elapsed = _resolve({"SIAMESE_HUB_REPO": REPO})

    _assert_bundled_fallback(loaded, elapsed, "calibration.json is not a valid calibration file", "positive number")
    assert _same_weights(loaded.model, bundled) and loaded.calibration == read_calibration(DEFAULT_CHECKPOINT)


def test_an_invalid_calibration_in_siamese_model_is_a_one_line_error(hub: FakeHub, checkpoint, tmp_path: Path) -> None:
    folder = tmp_path / "my-model"
    folder.mkdir()
    for name, data in {**checkpoint[1], CALIBRATION_FILE: b"{not json"}.items():
        (folder / name).write_bytes(data)

    with pytest.raises(CheckpointError) as caught:
        resolve_model({"SIAMESE_MODEL": str(folder)})

    message = str(caught.value)
    assert "\n" not in message and f"{folder / CALIBRATION_FILE} is not a valid calibration file" in message


# --- fingerprints ---------------------------------------------------------------------------------


def test_fingerprint_is_the_short_sha256_of_the_weights_file(tmp_path: Path) -> None:
    assert checkpoint_fingerprint(DEFAULT_CHECKPOINT) == BUNDLED_FINGERPRINT
    assert checkpoint_fingerprint(DEFAULT_CHECKPOINT / "model.safetensors") == BUNDLED_FINGERPRINT
    assert checkpoint_fingerprint(siamese.load_model()) == BUNDLED_FINGERPRINT
    assert len(BUNDLED_FINGERPRINT) == 16 and int(BUNDLED_FINGERPRINT, 16) >= 0
    fresh = siamese.build_model("compact")  # never saved: its weights are serialised and hashed
    assert checkpoint_fingerprint(fresh) == checkpoint_fingerprint(fresh) != BUNDLED_FINGERPRINT
    with pytest.raises(CheckpointError, match="model.safetensors"):
        checkpoint_fingerprint(tmp_path)
