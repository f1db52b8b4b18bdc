"""Publishing (``siamese.hub.push_to_hub``, and ``scripts/push_to_hub.py`` over it): checks the checkpoint, uploads exactly its files (or writes them, for a dry run).

The upload goes through the real ``huggingface_hub`` client (create_repo, create_branch, upload_folder) to
the local imitation of the Hub in ``tests/conftest.py``, and the pushed repo is then loaded back from it.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from siamese.hub import CHECKPOINTS_DIR
from siamese.hub import read_calibration
from siamese.serving import resolve_model

if TYPE_CHECKING:
    from fake_hub import FakeHub

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "push_to_hub.py"
#: A run's best/ folder as training writes it (card, curves, metrics): the bundled single network.
TRAINED = CHECKPOINTS_DIR / "compact-omniglot"
UPLOADED = ["README.md", "calibration.json", "config.json", "curves.png", "evaluation.json", "metrics.jsonl", "model.safetensors", "similarity.png"]


import siamese.hub as push  # noqa: E402 - the library function behind the script
from siamese.cli import push_main  # noqa: E402 - the command line behind the script


@pytest.fixture
def trained(tmp_path: Path) -> Path:
    """What scripts/train.py leaves: the bundled checkpoint's files, a second plot, and files not to upload."""
    folder = Path(shutil.copytree(TRAINED, tmp_path / "run" / "best"))
    (folder / "similarity.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"plot" * 10)
    (folder / "optimizer.pt").write_bytes(b"not for the Hub")
    (folder / "notes.txt").write_text("scratch")
    (folder / "old").mkdir()
    (folder / "old" / "model.safetensors").write_bytes(b"an older model")
    return folder


def _run_cli(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.run([sys.executable, str(SCRIPT), *args], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=300)  # fmt: skip


def _assert_one_line_error(stderr: str, *words: str) -> None:
    assert "Traceback" not in stderr, stderr
    errors = [line for line in stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, stderr
    for word in words:
        assert word in errors[0], errors[0]


# --- dry run --------------------------------------------------------------------------------------


def test_dry_run_writes_exactly_the_files_to_upload(trained: Path, tmp_path: Path) -> None:
    out = tmp_path / "staged"

    result = _run_cli(str(trained), "tester/compact", "--dry-run", str(out))

    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in out.iterdir()) == UPLOADED
    for name in UPLOADED:  # the card already has front matter, so every file is byte for byte the same
        assert (out / name).read_bytes() == (trained / name).read_bytes(), name
        size = f"{(out / name).stat().st_size:,} bytes"
        assert any(name in line and size in line for line in result.stdout.splitlines()), result.stdout
    assert "nothing was uploaded" in result.stdout
    assert "not uploaded: notes.txt, old, optimizer.pt" in result.stdout


def test_dry_run_adds_front_matter_to_a_card_without_it(trained: Path, tmp_path: Path) -> None:
    card = (trained / "README.md").read_text()
    body = card.split("---\n", 2)[2]
    (trained / "README.md").write_text(body)

    upload = push.push_to_hub(trained, "tester/compact", dry_run=tmp_path / "out")

    staged = (tmp_path / "out" / "README.md").read_text()
    assert staged == push.FRONT_MATTER + body
    assert "library_name: pytorch" in staged and "license: mit" in staged and "pipeline_tag: image-feature-extraction" in staged
    assert upload.files["README.md"] == len(staged.encode())
    assert (tmp_path / "out" / "model.safetensors").read_bytes() == (trained / "model.safetensors").read_bytes()


def test_dry_run_refuses_a_folder_that_is_not_empty(trained: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    with pytest.raises(push.PushError, match="empty or new folder"):
        push.push_to_hub(trained, "tester/compact", dry_run=out)
    assert [p.name for p in out.iterdir()] == ["keep.txt"]


# --- refused checkpoints --------------------------------------------------------------------------


def test_broken_checkpoint_is_refused_with_one_line(trained: Path, tmp_path: Path) -> None:
    weights = trained / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:1000])  # truncated

    result = _run_cli(str(trained), "tester/compact", "--dry-run", str(tmp_path / "out"))

    assert result.returncode == 1
    _assert_one_line_error(result.stderr, "Refusing to upload a broken checkpoint", "model.safetensors")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    ("breakage", "words"),
    [
        ("no-folder", ("No checkpoint folder at",)),
        ("no-weights", ("is not a checkpoint", "model.safetensors")),
        ("wrong-config", ("Refusing to upload a broken checkpoint", "do not fit")),
        ("no-card", ("has no model card (README.md)", "--allow-no-card")),
        ("bad-calibration", ("Refusing to upload a broken checkpoint", "calibration.json is not a valid calibration file")),
    ],
)
def test_unusable_folders_are_refused(trained: Path, tmp_path: Path, capsys, breakage: str, words) -> None:
    folder = trained
    if breakage == "no-folder":
        folder = tmp_path / "nowhere"
    elif breakage == "no-weights":
        (trained / "model.safetensors").unlink()
    elif breakage == "wrong-config":
        config = json.loads((trained / "config.json").read_text())
        (trained / "config.json").write_text(json.dumps({**config, "embedding_dim": 64}))
    elif breakage == "bad-calibration":
        (trained / "calibration.json").write_text('{"temperature": 0, "threshold": 0.5}')
    else:
        (trained / "README.md").unlink()

    assert push_main([str(folder), "tester/compact", "--dry-run", str(tmp_path / "out")]) == 1

    _assert_one_line_error(capsys.readouterr().err, *words)
    assert not (tmp_path / "out").exists()


def test_a_folder_without_calibration_uploads_without_it(trained: Path, tmp_path: Path) -> None:
    (trained / "calibration.json").unlink()  # calibration.json is optional: a model without it is served uncalibrated
    upload = push.push_to_hub(trained, "tester/compact", dry_run=tmp_path / "out")
    assert sorted(upload.files) == [n for n in UPLOADED if n != "calibration.json"]


def test_allow_no_card_uploads_without_one_and_warns(trained: Path, tmp_path: Path, capsys) -> None:
    (trained / "README.md").unlink()
    assert push_main([str(trained), "tester/compact", "--allow-no-card", "--dry-run", str(tmp_path / "out")]) == 0
    assert "warning: " in capsys.readouterr().err
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [n for n in UPLOADED if n != "README.md"]


# --- uploads, to the local imitation of the Hub ---------------------------------------------------


def test_upload_creates_the_repo_and_commits_exactly_the_files(hub: FakeHub, trained: Path, capsys) -> None:
    code = push_main([str(trained), "tester/pushed", "--private", "--token", "hf_writer"])

    assert code == 0, capsys.readouterr().err
    assert hub.created["tester/pushed"]["visibility"] == "private"
    assert sorted(hub.repos["tester/pushed"]) == UPLOADED
    for name in UPLOADED:
        assert hub.repos["tester/pushed"][name] == (trained / name).read_bytes(), name
    (commit,) = hub.commits
    assert commit["token"] == "hf_writer" and commit["revision"] == "main"
    fingerprint = hashlib.sha256((trained / "model.safetensors").read_bytes()).hexdigest()[:16]
    assert commit["summary"] == f"Upload compact checkpoint {fingerprint}"
    assert f"{hub.url}/tester/pushed/commit/" in capsys.readouterr().out

    loaded = resolve_model({"SIAMESE_HUB_REPO": "tester/pushed"})  # and it loads back from the Hub, calibrated
    assert (loaded.origin, loaded.fingerprint, loaded.warnings) == ("hub", fingerprint, [])
    assert loaded.calibration == read_calibration(trained) and loaded.calibration.fitted

    # Pushing again updates the existing repo (create_repo's "already exists" is fine).
    assert push_main([str(trained), "tester/pushed", "--token", "hf_writer", "--commit-message", "again"]) == 0
    assert [c["summary"] for c in hub.commits] == [commit["summary"], "again"]


def test_a_checkpoints_prototypes_go_to_the_hub_and_come_back_with_it(hub: FakeHub, trained: Path) -> None:
    import torch
    from safetensors.torch import save_file

    from siamese.hub import PROTOTYPES_FILE, checkpoint_fingerprint

    save_file({"features": torch.ones(3, 2)}, str(trained / PROTOTYPES_FILE), metadata={"fingerprint": checkpoint_fingerprint(trained)})
    upload = push.push_to_hub(trained, "tester/with-prototypes", token="hf_writer")
    assert PROTOTYPES_FILE in upload.files
    loaded = resolve_model({"SIAMESE_HUB_REPO": "tester/with-prototypes"})
    assert loaded.origin == "hub" and (loaded.folder / PROTOTYPES_FILE).read_bytes() == (trained / PROTOTYPES_FILE).read_bytes()


def test_upload_to_a_branch(hub: FakeHub, trained: Path) -> None:
    upload = push.push_to_hub(trained, "tester/pushed", revision="v2", token="hf_writer")

    assert "v2" in hub.branches["tester/pushed"]
    (commit,) = hub.commits
    assert commit["revision"] == "v2" and sorted(commit["files"]) == UPLOADED
    assert hub.repos["tester/pushed"] == {}  # main is untouched
    assert upload.commit_url.startswith(f"{hub.url}/tester/pushed/commit/")


def test_no_token_is_a_clear_error_before_anything_is_sent(hub: FakeHub, trained: Path, capsys) -> None:
    assert push_main([str(trained), "tester/pushed"]) == 1
    _assert_one_line_error(capsys.readouterr().err, "No Hugging Face token", "--token")
    assert hub.requests == []


def test_a_rejected_token_is_a_clear_error(hub: FakeHub, trained: Path, capsys) -> None:
    hub.write_tokens = {"hf_writer"}
    assert push_main([str(trained), "tester/pushed", "--token", "hf_reader"]) == 1
    _assert_one_line_error(capsys.readouterr().err, "refused the upload to tester/pushed", "401")
    assert hub.repos == {} and hub.commits == []


def test_an_unreachable_hub_is_a_clear_error(use_endpoint, trained: Path, capsys, closed_port: int) -> None:
    use_endpoint(f"http://127.0.0.1:{closed_port}")

    assert push_main([str(trained), "tester/pushed", "--token", "hf_writer"]) == 1

    _assert_one_line_error(capsys.readouterr().err, "Upload to tester/pushed", f"127.0.0.1:{closed_port}", "failed")
