"""Find the data sets and put them in the project's data folder.

Where each data set comes from, in order:

1. an explicit ``source`` folder, or the ``SIAMESE_DATA_SOURCE`` environment variable;
2. the project's own (git-ignored) data folder, ``data/`` (``SIAMESE_DATA_DIR`` overrides it), if already prepared;
3. ``../shared/data`` beside the project;
4. a download from the official sources, checksum-verified (md5/sha256), with a progress bar
   (``SIAMESE_DATA_MIRROR`` names a mirror to fetch them from instead: see :func:`source_url`; a mirror holding
   copies that are not the official bytes lists their sha256 in a ``SHA256SUMS`` beside them).

If none works, :class:`DataError` names everything that was tried.

Copies from a folder that has a ``SHA256SUMS`` file (as ``../shared/data/*/`` do) are checked against
it. Every file is written under a ``.part`` name and renamed only once complete and verified, so an
interrupted run leaves nothing that looks finished, and running ``prepare`` again is safe and cheap.
Zips may also be present extracted (``images_background/``) and ``.gz`` files un-gzipped.

Run it as ``python scripts/prepare_data.py [omniglot mnist att_faces] [--source PATH]``.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import sys
import tempfile
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path

from siamese.data.base import DataError
from siamese.utils import progress_bar

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


def _in_checkout() -> bool:
    """True when the package runs from a clone of the project, not from an installed copy."""
    return (PROJECT_ROOT / "pyproject.toml").is_file()


def data_dir() -> Path:
    """Where prepared data sets live: ``SIAMESE_DATA_DIR``, else ``data/`` of a checkout (ignored by git),
    else ``~/.cache/siamese/data`` for an installed package."""
    if env := os.environ.get("SIAMESE_DATA_DIR"):
        return Path(env)
    if _in_checkout():
        return PROJECT_ROOT / "data"
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "siamese" / "data"


def shared_dir() -> Path:
    """``../shared/data`` beside the checkout (or beside the working folder, for an installed package)."""
    return (PROJECT_ROOT if _in_checkout() else Path.cwd()).parent / "shared" / "data"


def dataset_dir(name: str) -> Path:
    """The prepared folder of a data set, preparing it first if needed."""
    target = data_dir() / name
    if not _is_complete(target, name):
        prepare_dataset(name)
    return target


def prepare_dataset(name: str, source: str | Path | None = None, download: bool = True) -> Path:
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


def _alternative(filename: str) -> str | None:
    """The other accepted form of a file: a zip's extracted folder, or a ``.gz`` file's un-gzipped twin."""
    for suffix in (".zip", ".gz"):
        if filename.endswith(suffix):
            return filename.removesuffix(suffix)
    return None


def _present(folder: Path, filename: str) -> bool:
    """A file counts as present as is or in its other form (``images_background/``, ``t10k-images-idx3-ubyte``).

    A leftover ``.part`` file never counts: files only get their real name once complete. Nor does a ``.zip``
    that is not a zip archive (cut short or overwritten): running prepare again replaces it.
    """
    if (folder / filename).is_file():
        return not filename.endswith(".zip") or zipfile.is_zipfile(folder / filename)
    other = _alternative(filename)
    if other is None:
        return False
    return (folder / other).is_dir() if filename.endswith(".zip") else (folder / other).is_file()


def _copy(source: Path, target: Path, name: str) -> Path:
    """Copy the data set's files from ``source``, checked against its ``SHA256SUMS`` when it has one."""
    if source.resolve() == target.resolve():
        return target
    target.mkdir(parents=True, exist_ok=True)
    sums = read_sha256sums(source / "SHA256SUMS")
    for remote in DATASETS[name]:
        other = _alternative(remote.name)
        filename = remote.name if (source / remote.name).is_file() or other is None else other
        src = source / filename
        if src.is_file():
            _atomic_copy(src, target / filename, sums.get(filename))
        elif not (target / filename).is_dir():
            _atomic_copytree(src, target / filename)
    return target


def read_sha256sums(path: Path) -> dict[str, str]:
    """File name -> sha256 from a ``sha256sum`` listing (``<hash>  <name>`` or ``<hash> *<name>``); {} if absent."""
    if not path.is_file():
        return {}
    sums = {}
    for number, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        digest, _, filename = line.strip().partition(" ")
        filename = filename.strip().removeprefix("*")
        if len(digest) != 64 or not filename:
            raise DataError(f"{path} line {number} is not a sha256sum line: {line!r}.")
        sums[filename] = digest.lower()
    return sums


def sha256_of(path: Path) -> str:
    """The sha256 of a file, read in chunks so that large archives do not fill memory."""
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        while chunk := file.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _atomic_copy(src: Path, dst: Path, sha256: str | None = None) -> None:
    """Copy through ``<dst>.part`` so that an interrupted copy never looks complete.

    An existing ``dst`` of the right size (and checksum, when known) is kept, which makes re-runs cheap;
    a leftover ``.part`` is simply overwritten.
    """
    if dst.is_file() and dst.stat().st_size == src.stat().st_size and (sha256 is None or sha256_of(dst) == sha256):
        return
    partial = dst.with_name(dst.name + ".part")
    shutil.copyfile(src, partial)
    if sha256 is not None:
        actual = sha256_of(partial)
        if actual != sha256:
            partial.unlink(missing_ok=True)
            raise DataError(
                f"{src} does not match its SHA256SUMS entry (expected {sha256}, got {actual}); "
                "the source copy is corrupt, so it was not used."
            )
    os.replace(partial, dst)


def _atomic_copytree(src: Path, dst: Path) -> None:
    """Copy an extracted folder through ``<dst>.part/``; a leftover from an interrupted copy is removed first."""
    partial = dst.with_name(dst.name + ".part")
    if partial.exists():
        shutil.rmtree(partial)
    shutil.copytree(src, partial)
    os.replace(partial, dst)


def _download(target: Path, name: str) -> Path:
    target.mkdir(parents=True, exist_ok=True)
    for remote in DATASETS[name]:
        if not _present(target, remote.name):
            download_file(remote, target / remote.name)
    return target


def download_file(remote: RemoteFile, destination: Path, timeout: float = 30.0) -> None:
    """Fetch one file to ``<destination>.part``, verify its checksum, then move it into place.

    The file only gets its real name once verified, so an interrupted or corrupt download is
    never mistaken for a good one; the partial file is removed on any failure.
    """
    destination.parent.mkdir(parents=True, exist_ok=True)
    partial = destination.with_name(destination.name + ".part")
    expected_md5, expected_sha256 = remote.md5, remote.sha256
    if vouched := _mirror_sha256(remote.url, timeout):
        expected_md5, expected_sha256 = None, vouched
    try:
        md5, sha256 = _fetch(remote, partial, timeout)
        for kind, expected, actual in (("md5", expected_md5, md5), ("sha256", expected_sha256, sha256)):
            if expected and expected.lower() != actual:
                raise DataError(f"{remote.url} failed its {kind} checksum (expected {expected}, got {actual}).")
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    os.replace(partial, destination)


def source_url(url: str) -> str:
    """Where an official file is fetched from: ``url`` itself, or, with ``SIAMESE_DATA_MIRROR`` set to a base URL,
    the same host and path under it (``https://host/a/b.zip`` -> ``<mirror>/host/a/b.zip``), e.g. a copy served on
    loopback (``scripts/space_rehearsal.py``)."""
    mirror = os.environ.get("SIAMESE_DATA_MIRROR", "").strip().rstrip("/")
    if not mirror:
        return url
    return f"{mirror}/{url.split('://', 1)[-1]}"


def _mirror_sha256(url: str, timeout: float) -> str | None:
    """The sha256 that the mirror (``SIAMESE_DATA_MIRROR``) lists for ``url``'s file in a ``SHA256SUMS`` beside it, or
    None (no mirror, or no such listing): the official checksums are then checked.

    A mirror may hold copies that are not byte for byte the official files (zips packed again): like
    ``../shared/data``, it then vouches for them in a ``SHA256SUMS``. Only a mirror the admin named is asked.
    """
    listed = source_url(url)
    if listed == url:
        return None
    try:
        with urllib.request.urlopen(listed.rsplit("/", 1)[0] + "/SHA256SUMS", timeout=timeout) as response:
            text = response.read(1 << 20).decode("utf-8", "replace")
    except OSError:
        return None
    with tempfile.TemporaryDirectory() as folder:
        (Path(folder) / "SHA256SUMS").write_text(text)
        return read_sha256sums(Path(folder) / "SHA256SUMS").get(url.rsplit("/", 1)[-1])


def _fetch(remote: RemoteFile, partial: Path, timeout: float) -> tuple[str, str]:
    """Stream ``remote`` into ``partial`` with a progress bar; return its md5 and sha256."""
    md5, sha256 = hashlib.md5(usedforsecurity=False), hashlib.sha256()
    with urllib.request.urlopen(source_url(remote.url), timeout=timeout) as response, open(partial, "wb") as out:
        total = int(response.headers.get("Content-Length") or 0) or None
        with progress_bar(total=total, unit="B", unit_scale=True, desc=remote.name) as bar:
            while chunk := response.read(1 << 20):
                out.write(chunk)
                md5.update(chunk)
                sha256.update(chunk)
                bar.update(len(chunk))
    return md5.hexdigest(), sha256.hexdigest()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("datasets", nargs="*", default=list(DATASETS), help=f"data sets to prepare: {', '.join(DATASETS)} (default: all)")
    parser.add_argument("--source", help="a folder that already holds the files (or holds <dataset>/ folders)")
    parser.add_argument("--no-download", action="store_true", help="never download")
    args = parser.parse_args(argv)
    try:
        for name in args.datasets:
            print(f"{name}: {prepare_dataset(name, args.source, download=not args.no_download)}")
    except DataError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
