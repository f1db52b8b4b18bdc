"""Find the data sets and put them in the project's data folder.

Where each data set comes from, in order:

1. an explicit ``source`` folder, or the ``SIAMESE_DATA_SOURCE`` environment variable;
2. the project's own (git-ignored) data folder, ``data/`` or ``SIAMESE_DATA_DIR``, if already prepared;
3. ``../shared/data`` beside the project;
4. a download from the official sources, checksum-verified, with a progress bar.

If none works, :class:`DataError` names everything that was tried.

Run it as ``python -m siamese.data.prepare [omniglot mnist att_faces] [--source PATH]``.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import sys
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from tqdm import tqdm

from siamese.data.base import DataError

PROJECT_ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class RemoteFile:
    """One file of a data set: its name, official address and checksum of the official file."""

    name: str
    url: str
    md5: str | None = None
    sha256: str | None = None


_OMNIGLOT = "https://raw.githubusercontent.com/brendenlake/omniglot/master/python"
_MNIST = "https://ossci-datasets.s3.amazonaws.com/mnist"

DATASETS: dict[str, list[RemoteFile]] = {
    "omniglot": [
        RemoteFile("images_background.zip", f"{_OMNIGLOT}/images_background.zip", md5="68d2efa1b9178cc56df9314c21c6e718"),
        RemoteFile("images_evaluation.zip", f"{_OMNIGLOT}/images_evaluation.zip", md5="6b91aef0f799c5bb55b94e3f2daec811"),
        RemoteFile(
            "one_shot_runs.zip",
            f"{_OMNIGLOT}/one-shot-classification/all_runs.zip",
            sha256="437c1eeab0af8484112e1b4cc0f3d541ec727f7c47b9b202da738af9dfd6c325",
        ),
    ],
    "mnist": [
        RemoteFile("train-images-idx3-ubyte.gz", f"{_MNIST}/train-images-idx3-ubyte.gz", md5="f68b3c2dcbeaaa9fbdd348bbdeb94873"),
        RemoteFile("train-labels-idx1-ubyte.gz", f"{_MNIST}/train-labels-idx1-ubyte.gz", md5="d53e105ee54ea40749a09fcbcd1e9432"),
        RemoteFile("t10k-images-idx3-ubyte.gz", f"{_MNIST}/t10k-images-idx3-ubyte.gz", md5="9fb629c4189551a2d022fa330f9573f3"),
        RemoteFile("t10k-labels-idx1-ubyte.gz", f"{_MNIST}/t10k-labels-idx1-ubyte.gz", md5="ec29112dd5afa0611ce80d1b7f02629c"),
    ],
    "att_faces": [
        RemoteFile(
            "att_faces.zip",
            "https://www.cl.cam.ac.uk/research/dtg/attarchive/pub/data/att_faces.zip",
            sha256="09ab5542d2f8bc29c42fd8e2bb87563d9f07661f2fc68cf043632c4a2b74c255",
        ),
    ],
}


def data_dir() -> Path:
    """The project's own data folder (ignored by git)."""
    return Path(os.environ.get("SIAMESE_DATA_DIR", PROJECT_ROOT / "data"))


def shared_dir() -> Path:
    return PROJECT_ROOT.parent / "shared" / "data"


def dataset_dir(name: str) -> Path:
    """The prepared folder of a data set, preparing it first if needed."""
    target = data_dir() / name
    if not _is_complete(target, name):
        prepare(name)
    return target


def prepare(name: str, source: str | Path | None = None, download: bool = True) -> Path:
    """Make ``data/<name>/`` hold the data set's files; return that folder."""
    if name not in DATASETS:
        raise DataError(f"Unknown data set {name!r}; choose from {', '.join(DATASETS)}.")
    target = data_dir() / name
    tried: list[str] = []
    explicit = source or os.environ.get("SIAMESE_DATA_SOURCE")
    if explicit:
        candidate = _candidate(Path(explicit), name)
        tried.append(f"{candidate} (explicit source)")
        if _is_complete(candidate, name):
            return _copy(candidate, target, name)
    tried.append(f"{target} (project data folder)")
    if _is_complete(target, name):
        return target
    shared = shared_dir() / name
    tried.append(f"{shared} (shared data)")
    if _is_complete(shared, name):
        return _copy(shared, target, name)
    if download:
        try:
            return _download(target, name)
        except (OSError, DataError) as error:
            tried.append(f"download from the official sources ({error})")
    else:
        tried.append("download (disabled)")
    raise DataError(f"Could not find the {name} data set. Tried:\n  - " + "\n  - ".join(tried))


def _candidate(path: Path, name: str) -> Path:
    """Accept either the data set's own folder or a folder holding ``<name>/``."""
    return path / name if (path / name).is_dir() else path


def _is_complete(folder: Path, name: str) -> bool:
    return folder.is_dir() and all(_present(folder, f.name) for f in DATASETS[name])


def _present(folder: Path, filename: str) -> bool:
    """A file counts as present zipped or extracted (``images_background.zip`` or ``images_background/``)."""
    stem = filename.removesuffix(".zip")
    return (folder / filename).is_file() or (filename.endswith(".zip") and (folder / stem).is_dir())


def _copy(source: Path, target: Path, name: str) -> Path:
    if source.resolve() == target.resolve():
        return target
    target.mkdir(parents=True, exist_ok=True)
    for remote in DATASETS[name]:
        src = source / remote.name
        if src.is_file():
            _atomic_copy(src, target / remote.name)
        else:
            stem = remote.name.removesuffix(".zip")
            if not (target / stem).is_dir():
                shutil.copytree(source / stem, target / stem)
    return target


def _atomic_copy(src: Path, dst: Path) -> None:
    if dst.is_file() and dst.stat().st_size == src.stat().st_size:
        return
    partial = dst.with_name(dst.name + ".part")
    shutil.copyfile(src, partial)
    os.replace(partial, dst)


def _download(target: Path, name: str) -> Path:
    target.mkdir(parents=True, exist_ok=True)
    for remote in DATASETS[name]:
        destination = target / remote.name
        if _present(target, remote.name):
            continue
        download_file(remote, destination)
    return target


def download_file(remote: RemoteFile, destination: Path, timeout: float = 30.0) -> None:
    """Fetch one file to a temporary name, verify its checksum, then move it into place."""
    partial = destination.with_name(destination.name + ".part")
    md5, sha256 = hashlib.md5(), hashlib.sha256()
    with urllib.request.urlopen(remote.url, timeout=timeout) as response, open(partial, "wb") as out:
        total = int(response.headers.get("Content-Length") or 0) or None
        with tqdm(total=total, unit="B", unit_scale=True, desc=remote.name) as bar:
            while chunk := response.read(1 << 20):
                out.write(chunk)
                md5.update(chunk)
                sha256.update(chunk)
                bar.update(len(chunk))
    expected, actual = (remote.md5, md5.hexdigest()) if remote.md5 else (remote.sha256, sha256.hexdigest())
    if expected and expected != actual:
        partial.unlink(missing_ok=True)
        raise DataError(f"{remote.url} failed its checksum (expected {expected}, got {actual}).")
    os.replace(partial, destination)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("datasets", nargs="*", default=list(DATASETS), help=f"data sets to prepare: {', '.join(DATASETS)} (default: all)")
    parser.add_argument("--source", help="a folder that already holds the files (or holds <dataset>/ folders)")
    parser.add_argument("--no-download", action="store_true", help="never download")
    args = parser.parse_args(argv)
    try:
        for name in args.datasets:
            print(f"{name}: {prepare(name, args.source, download=not args.no_download)}")
    except DataError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
