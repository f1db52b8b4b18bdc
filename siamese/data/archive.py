"""Reading data sets as they are shipped: files in a folder or in a zip, and images decoded one way.

Every data set of :mod:`siamese.data` reads through :class:`Archive` and :func:`decode_image`, so a
truncated file, a broken zip or an undecodable image gets the same kind of :class:`DataError`,
naming the file and how to fix it.
"""

from __future__ import annotations

import zipfile
import zlib
from pathlib import Path
from typing import Iterator

from PIL import Image

from siamese.data.base import DataError
from siamese.transforms import ImageInputError, open_image


def decode_image(data: bytes | Path, name: str, fix: str) -> Image.Image:
    """Decode one image fully (EXIF orientation applied); ``fix`` tells the user what to do when it fails."""
    try:
        return open_image(data if isinstance(data, bytes) else Path(data))
    except ImageInputError as error:
        raise DataError(f"Cannot read the image {name}: {error} {fix}") from error


class Archive:
    """Read access by relative name to the files of a folder, or of a zip (whose top folder ``prefix`` is optional)."""

    def __init__(self, where: Path, fix: str, prefix: str = "") -> None:
        self.where, self.fix, self.prefix = Path(where), fix, prefix
        self._zip: zipfile.ZipFile | None = None
        if self.where.suffix == ".zip" and self.where.is_file():
            try:
                self._zip = zipfile.ZipFile(self.where)
            except (zipfile.BadZipFile, OSError) as error:
                raise DataError(f"{self.where} is not a valid zip file ({error}); {fix}") from error

    def names(self, suffix: str = "") -> Iterator[str]:
        """Every file's name relative to the folder (or the zip's top folder), sorted."""
        if self._zip is None:
            for path in sorted(self.where.rglob(f"*{suffix}")):
                if path.is_file():
                    yield path.relative_to(self.where).as_posix()
            return
        top = f"{self.prefix}/" if self.prefix else ""
        for name in sorted(self._zip.namelist()):
            if not name.endswith("/") and name.endswith(suffix):
                yield name[len(top) :] if top and name.startswith(top) else name

    def read_bytes(self, name: str) -> bytes:
        try:
            if self._zip is None:
                return (self.where / name).read_bytes()
            member = f"{self.prefix}/{name}" if self.prefix else name
            return self._zip.read(member if member in self._zip.NameToInfo else name)
        except (OSError, KeyError, EOFError, zlib.error, zipfile.BadZipFile) as error:
            raise DataError(f"Cannot read {name} in {self.where}: {error}; {self.fix}") from error

    def read_image(self, name: str) -> Image.Image:
        return decode_image(self.read_bytes(name), f"{name} in {self.where}", self.fix)

    def read_text(self, name: str) -> str:
        try:
            return self.read_bytes(name).decode()
        except UnicodeDecodeError as error:
            raise DataError(f"Cannot read {name} in {self.where}: {error}; {self.fix}") from error
