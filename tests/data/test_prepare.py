"""prepare_dataset(): copies from a source with checksums, re-runs, failures that name what was tried, downloads."""

from __future__ import annotations

import hashlib
import http.server
import importlib
import os
import shutil
import threading
from pathlib import Path
from typing import Iterator

import pytest

from siamese.data import DataError, prepare_dataset
from siamese.data.prepare import RemoteFile, dataset_dir, download_file, read_sha256sums, shared_dir

# The module, not the function of the same name that ``siamese.data`` exports.
prepare_module = importlib.import_module("siamese.data.prepare")

PROXY_VARIABLES = ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY")


@pytest.fixture(scope="session")
def real_mnist() -> Path:
    """The real prepared MNIST folder, looked up before any test redirects the data folder."""
    return dataset_dir("mnist")


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, real_mnist: Path) -> Path:
    """An empty project data folder; no shared data, no environment source."""
    folder = tmp_path / "project_data"
    monkeypatch.setenv("SIAMESE_DATA_DIR", str(folder))
    monkeypatch.delenv("SIAMESE_DATA_SOURCE", raising=False)
    monkeypatch.setattr(prepare_module, "shared_dir", lambda: tmp_path / "no_shared_data")
    return folder


@pytest.fixture
def source(tmp_path: Path, real_mnist: Path) -> Path:
    """A copy of the shared MNIST files with their SHA256SUMS, as a user's own source folder."""
    folder = tmp_path / "source" / "mnist"
    folder.mkdir(parents=True)
    original = real_mnist
    for remote in prepare_module.DATASETS["mnist"]:
        if remote.name.startswith("t10k"):  # the small files are real copies, the large ones links
            shutil.copyfile(original / remote.name, folder / remote.name)
        else:
            os.symlink(original / remote.name, folder / remote.name)
    sums = {name: hashlib.sha256((folder / name).read_bytes()).hexdigest() for name in os.listdir(folder)}
    (folder / "SHA256SUMS").write_text("".join(f"{digest}  {name}\n" for name, digest in sorted(sums.items())))
    return folder


def _mtimes(folder: Path) -> dict[str, int]:
    return {p.name: p.stat().st_mtime_ns for p in folder.iterdir()}


def test_sha256sums_are_parsed(tmp_path: Path) -> None:
    sums = read_sha256sums(shared_dir() / "mnist" / "SHA256SUMS")
    assert set(sums) == {remote.name for remote in prepare_module.DATASETS["mnist"]}
    listing = tmp_path / "SHA256SUMS"
    listing.write_text(f"{'A' * 64}  plain.zip\n\n{'b' * 64} *binary mode.gz\n")
    assert read_sha256sums(listing) == {"plain.zip": "a" * 64, "binary mode.gz": "b" * 64}
    assert read_sha256sums(tmp_path / "absent") == {}
    listing.write_text("not a checksum\n")
    with pytest.raises(DataError, match="line 1"):
        read_sha256sums(listing)


def test_prepare_from_an_explicit_source(data_dir: Path, source: Path) -> None:
    target = prepare_dataset("mnist", source=source.parent, download=False)  # a folder holding mnist/ works
    assert target == data_dir / "mnist"
    names = sorted(p.name for p in target.iterdir())
    assert names == sorted(remote.name for remote in prepare_module.DATASETS["mnist"])  # no .part left
    for name in names:
        assert (target / name).read_bytes() == (source / name).read_bytes()


def test_prepare_from_the_environment_source(data_dir: Path, source: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SIAMESE_DATA_SOURCE", str(source))
    assert prepare_dataset("mnist", download=False) == data_dir / "mnist"
    assert dataset_dir("mnist") == data_dir / "mnist"


def test_rerunning_is_a_no_op(data_dir: Path, source: Path) -> None:
    target = prepare_dataset("mnist", source=source, download=False)
    before = _mtimes(target)
    assert prepare_dataset("mnist", source=source, download=False) == target  # from the source again
    assert prepare_dataset("mnist", download=False) == target  # from the project folder
    assert _mtimes(target) == before


def test_a_leftover_part_file_is_overwritten(data_dir: Path, source: Path) -> None:
    target = data_dir / "mnist"
    target.mkdir(parents=True)
    partial = target / "t10k-labels-idx1-ubyte.gz.part"
    partial.write_bytes(b"interrupted")
    with pytest.raises(DataError):  # a .part file never counts as the file
        prepare_dataset("mnist", download=False)
    prepare_dataset("mnist", source=source, download=False)
    assert not partial.exists()
    assert (target / "t10k-labels-idx1-ubyte.gz").read_bytes() == (source / "t10k-labels-idx1-ubyte.gz").read_bytes()


def test_a_checksum_mismatch_in_the_source_is_detected(data_dir: Path, source: Path) -> None:
    damaged = source / "t10k-labels-idx1-ubyte.gz"
    data = bytearray(damaged.read_bytes())
    data[100] ^= 0xFF  # same size, different content
    damaged.write_bytes(bytes(data))
    with pytest.raises(DataError, match="t10k-labels-idx1-ubyte.gz") as error:
        prepare_dataset("mnist", source=source, download=False)
    assert "SHA256SUMS" in str(error.value)
    assert not (data_dir / "mnist" / "t10k-labels-idx1-ubyte.gz").exists()
    assert not (data_dir / "mnist" / "t10k-labels-idx1-ubyte.gz.part").exists()


def test_a_corrupted_prepared_copy_is_replaced(data_dir: Path, source: Path) -> None:
    target = prepare_dataset("mnist", source=source, download=False)
    copy = target / "t10k-labels-idx1-ubyte.gz"
    copy.write_bytes(b"\x00" * copy.stat().st_size)  # same size: only the checksum can tell
    prepare_dataset("mnist", source=source, download=False)
    assert copy.read_bytes() == (source / copy.name).read_bytes()


def test_nothing_found_lists_what_was_tried(data_dir: Path, tmp_path: Path) -> None:
    with pytest.raises(DataError) as error:
        prepare_dataset("att_faces", source=tmp_path / "empty_source", download=False)
    message = str(error.value)
    assert "att_faces" in message
    expected = ("empty_source", "explicit source", str(data_dir / "att_faces"), "no_shared_data", "download (disabled)")
    for tried in expected:
        assert tried in message


def test_unknown_data_set(data_dir: Path) -> None:
    with pytest.raises(DataError, match="Unknown data set"):
        prepare_dataset("cifar", download=False)


def test_ungzipped_and_extracted_copies_count_as_present(tmp_path: Path) -> None:
    (tmp_path / "t10k-images-idx3-ubyte").write_bytes(b"x")
    (tmp_path / "images_background").mkdir()
    assert prepare_module._present(tmp_path, "t10k-images-idx3-ubyte.gz")
    assert prepare_module._present(tmp_path, "images_background.zip")
    assert not prepare_module._present(tmp_path, "images_evaluation.zip")
    (tmp_path / "images_evaluation.zip.part").write_bytes(b"x")
    assert not prepare_module._present(tmp_path, "images_evaluation.zip")


# --- Downloads, from a local HTTP server ------------------------------------------------------------

PAYLOAD = bytes(range(256)) * 4096  # 1 MiB: more than one read chunk


@pytest.fixture
def server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Serve ``tmp_path/www`` on 127.0.0.1; yields the base URL."""
    for variable in PROXY_VARIABLES:
        monkeypatch.delenv(variable, raising=False)
    www = tmp_path / "www"
    www.mkdir()
    (www / "tiny.bin").write_bytes(PAYLOAD)

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args, **kwargs) -> None:  # type: ignore[no-untyped-def]
            super().__init__(*args, directory=str(www), **kwargs)

        def log_message(self, *args) -> None:  # type: ignore[no-untyped-def]
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join()


def _use_remote(monkeypatch: pytest.MonkeyPatch, remote: RemoteFile) -> None:
    monkeypatch.setitem(prepare_module.DATASETS, "tiny", [remote])


def test_download_with_the_right_checksum(data_dir: Path, server: str, monkeypatch: pytest.MonkeyPatch) -> None:
    _use_remote(monkeypatch, RemoteFile("tiny.bin", f"{server}/tiny.bin", md5=hashlib.md5(PAYLOAD).hexdigest()))
    target = prepare_dataset("tiny")
    assert (target / "tiny.bin").read_bytes() == PAYLOAD
    assert sorted(os.listdir(target)) == ["tiny.bin"]
    assert prepare_dataset("tiny", download=False) == target  # now prepared: no download needed


def test_download_with_sha256(tmp_path: Path, server: str) -> None:
    destination = tmp_path / "out" / "tiny.bin"
    download_file(RemoteFile("tiny.bin", f"{server}/tiny.bin", sha256=hashlib.sha256(PAYLOAD).hexdigest()), destination)
    assert destination.read_bytes() == PAYLOAD


def test_download_with_a_wrong_checksum_leaves_nothing(
    data_dir: Path, server: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    _use_remote(monkeypatch, RemoteFile("tiny.bin", f"{server}/tiny.bin", sha256="0" * 64))
    with pytest.raises(DataError, match="checksum") as error:
        prepare_dataset("tiny")
    assert "download" in str(error.value)
    assert list((data_dir / "tiny").iterdir()) == []  # neither tiny.bin nor tiny.bin.part


def test_download_failure_is_reported(data_dir: Path, server: str, monkeypatch: pytest.MonkeyPatch) -> None:
    _use_remote(monkeypatch, RemoteFile("tiny.bin", f"{server}/missing.bin", md5="0" * 32))
    with pytest.raises(DataError, match="404"):
        prepare_dataset("tiny")
    assert list((data_dir / "tiny").iterdir()) == []


# --- a damaged Omniglot copy: a clear error, and prepare repairs it when run again ------------------------


@pytest.fixture
def omniglot_source(tmp_path: Path) -> Path:
    """The shared Omniglot files (linked, with their SHA256SUMS) as a user's own source folder."""
    folder = tmp_path / "source" / "omniglot"
    folder.mkdir(parents=True)
    for path in (shared_dir() / "omniglot").iterdir():
        os.symlink(path, folder / path.name)
    return folder


@pytest.mark.parametrize("damage", ["garbage", "truncated", "empty"])
def test_a_corrupt_omniglot_zip_is_named_and_prepare_replaces_it(data_dir: Path, omniglot_source: Path, damage: str) -> None:
    from siamese.data import load_lake_runs

    target = prepare_dataset("omniglot", source=omniglot_source, download=False)
    runs = target / "one_shot_runs.zip"
    good = runs.read_bytes()
    runs.write_bytes({"garbage": b"not a zip file" * 1000, "truncated": good[: len(good) // 2], "empty": b""}[damage])

    with pytest.raises(DataError, match="one_shot_runs.zip") as error:
        load_lake_runs(target)
    assert "prepare_data.py omniglot" in str(error.value)

    assert prepare_dataset("omniglot", source=omniglot_source, download=False) == target  # run again: repaired
    assert runs.read_bytes() == good
    assert len(load_lake_runs(target)) == 20
    assert not list(target.glob("*.part"))
    before = _mtimes(target)
    prepare_dataset("omniglot", source=omniglot_source, download=False)  # and again: nothing to do
    assert _mtimes(target) == before


def test_a_corrupt_zip_with_no_source_left_is_reported_not_used(data_dir: Path, omniglot_source: Path) -> None:
    target = prepare_dataset("omniglot", source=omniglot_source, download=False)
    (target / "images_evaluation.zip").write_bytes(b"PK\x03\x04 cut short")
    with pytest.raises(DataError, match="omniglot") as error:
        prepare_dataset("omniglot", download=False)  # no source, no shared data, no download: nothing to repair it with
    assert str(target) in str(error.value)


def test_a_mirror_serves_the_official_paths(tmp_path: Path, server: str, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "www" / "example.org" / "data").mkdir(parents=True)
    (tmp_path / "www" / "example.org" / "data" / "tiny.bin").write_bytes(PAYLOAD)
    official = RemoteFile("tiny.bin", "https://example.org/data/tiny.bin", sha256=hashlib.sha256(PAYLOAD).hexdigest())
    monkeypatch.setenv("SIAMESE_DATA_MIRROR", f"{server}/")
    download_file(official, tmp_path / "out" / "tiny.bin")  # example.org itself is never asked
    assert (tmp_path / "out" / "tiny.bin").read_bytes() == PAYLOAD
    with pytest.raises(OSError, match="404"):  # download_file raises urllib's error; prepare_dataset words it
        download_file(RemoteFile("other.bin", "https://example.org/other.bin", md5="0" * 32), tmp_path / "out" / "other.bin")
    monkeypatch.delenv("SIAMESE_DATA_MIRROR")
    assert prepare_module.source_url(official.url) == official.url


def test_a_mirror_vouches_for_its_own_copies_in_a_sha256sums(tmp_path: Path, server: str, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "www" / "example.org"
    folder.mkdir(parents=True)
    repacked = PAYLOAD[::-1]  # not the official bytes: the official md5 refuses it
    (folder / "tiny.bin").write_bytes(repacked)
    official = RemoteFile("tiny.bin", "https://example.org/tiny.bin", md5=hashlib.md5(PAYLOAD).hexdigest())
    monkeypatch.setenv("SIAMESE_DATA_MIRROR", server)
    with pytest.raises(DataError, match="md5 checksum"):
        download_file(official, tmp_path / "out" / "tiny.bin")
    (folder / "SHA256SUMS").write_text(f"{hashlib.sha256(repacked).hexdigest()}  tiny.bin\n")
    download_file(official, tmp_path / "out" / "tiny.bin")
    assert (tmp_path / "out" / "tiny.bin").read_bytes() == repacked
    (folder / "SHA256SUMS").write_text(f"{'0' * 64}  tiny.bin\n")  # a listing that does not fit the file
    with pytest.raises(DataError, match="sha256 checksum"):
        download_file(official, tmp_path / "out2" / "tiny.bin")
