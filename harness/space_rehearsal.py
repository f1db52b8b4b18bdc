"""A Space rehearsal: this repository built and served as a Hugging Face Space builds and serves it, offline.

1. Only the committed files (``git archive HEAD``: what a Space is pushed) go into a fresh folder, with no
   ``../shared`` beside it.
2. A fresh virtual environment gets ``requirements.txt`` alone, plus Gradio at the front matter's ``sdk_version``,
   as a Space's build does: no ``pip install -e .``, no dev requirements.
3. The official Omniglot URLs are served from a mirror on loopback (``SIAMESE_DATA_MIRROR``: the download code's
   base URL), made of this machine's copies, so the app downloads and checks them as it would on a Space (against
   the mirror's SHA256SUMS: these copies are not the official bytes).
4. ``python app.py`` runs as a Space runs it: ``SPACE_ID`` set, on 0.0.0.0 and port 7860, with a clean
   environment and home; then one character is drawn through the API (``/match``).
5. It is stopped and started again on the same folder (a Space restart: its disk keeps the data and the caches).

It reports how long the build took, the seconds to a usable page (the page served and a match answered) on the
first start and on the restart, and the first match.

    python scripts/space_rehearsal.py                  # a table
    python scripts/space_rehearsal.py --json -         # JSON on stdout
"""

from __future__ import annotations

import argparse
import http.server
import io
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from harness.load_test import stop_server, wait_until_answering
from harness.report import add_json_argument, emit

ROOT = Path(__file__).resolve().parents[1]
ALPHABET, CHARACTER = "Tengwar", 10  # the drawing sent: drawer 2's (the gallery holds drawer 1's)
SPACE_PORT = 7860


@dataclass
class Rehearsal:
    folder: str  # the Space's copy (removed afterwards unless --keep)
    files: int  # committed files copied
    sdk_version: str
    preload_from_hub: list[str]  # what the front matter asks a Space to download at build time
    build_seconds: float  # the fresh virtual environment, requirements.txt and Gradio
    first_start_seconds: float  # from `python app.py` to a usable page: served, and a match answered
    restart_seconds: float
    first_match: list[str]  # the ranking of the drawing sent, best first
    verdict: str
    log_lines: list[str] = field(default_factory=list)  # what the app said about its model and data


def front_matter(readme: Path) -> dict[str, object]:
    """The README's front matter: top-level ``key: value`` scalars and ``key:`` lists of ``- item`` lines."""
    lines = readme.read_text(encoding="utf-8").split("\n")
    if lines[0].strip() != "---":
        raise ValueError(f"{readme} has no front matter (it must start with ---)")
    meta: dict[str, object] = {}
    key = None
    for line in lines[1 : lines.index("---", 1)]:
        if line.startswith("  - ") and key is not None:
            meta.setdefault(key, [])
            meta[key].append(line[4:].strip())  # type: ignore[union-attr]
        elif ":" in line and not line.startswith(" "):
            key, value = (part.strip() for part in line.split(":", 1))
            if value:
                meta[key] = value.strip('"')
    return meta


def copy_tracked(destination: Path, commit: str = "HEAD") -> int:
    """Write the files of ``commit`` (what a Space is pushed) into ``destination``; returns how many. Uncommitted
    changes and untracked files stay out, as they would from a Space."""
    archive = subprocess.run(["git", "archive", "--format=tar", commit], cwd=ROOT, check=True, capture_output=True).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        members = [m for m in tar.getmembers() if m.isfile() or m.isdir()]
        tar.extractall(destination, members=members, filter="data")
    return sum(m.isfile() for m in members)


def build_environment(folder: Path, sdk_version: str) -> Path:
    """A fresh virtual environment in ``folder/.venv`` with ``requirements.txt`` and ``gradio==sdk_version``."""
    subprocess.run([sys.executable, "-m", "venv", str(folder / ".venv")], check=True)
    python = folder / ".venv" / "bin" / "python"
    subprocess.run([str(python), "-m", "pip", "install", "--quiet", "-r", "requirements.txt", f"gradio=={sdk_version}"],
                   cwd=folder, check=True)  # fmt: skip
    return python


class Mirror:
    """The official URLs of the Omniglot files, served on loopback from this machine's copies."""

    def __init__(self, folder: Path) -> None:
        from siamese.data.prepare import DATASETS, dataset_dir, sha256_of  # noqa: PLC0415

        source = dataset_dir("omniglot")  # this checkout's prepared copy (from ../shared/data), checksums verified
        # These copies are not byte for byte the official zips (packed again: another md5), so the mirror vouches
        # for them in a SHA256SUMS beside them, as ../shared/data does; the app checks them against it.
        sums: dict[Path, list[str]] = {}
        for remote in DATASETS["omniglot"]:
            path = folder / remote.url.split("://", 1)[1]
            path.parent.mkdir(parents=True, exist_ok=True)
            os.symlink(source / remote.name, path)
            sums.setdefault(path.parent, []).append(f"{sha256_of(source / remote.name)}  {path.name}")
        for where, lines in sums.items():
            (where / "SHA256SUMS").write_text("\n".join(lines) + "\n")

        class Quiet(http.server.SimpleHTTPRequestHandler):
            def __init__(self, *args, **kwargs) -> None:  # type: ignore[no-untyped-def]
                super().__init__(*args, directory=str(folder), **kwargs)

            def log_message(self, *args) -> None:  # type: ignore[no-untyped-def]
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Quiet)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def space_environment(folder: Path, mirror: str, port: int) -> dict[str, str]:
    """What a Space's container gives the app: none of this machine's settings (no SIAMESE_*, no data source).
    ``SYSTEM=spaces`` is left out: it turns on Gradio's hot reloading, which needs the ``spaces`` package that a Space
    has and this machine's package index does not."""
    home = folder.parent / "home"
    home.mkdir(exist_ok=True)
    return {
        "PATH": f"{folder / '.venv' / 'bin'}:/usr/bin:/bin",
        "HOME": str(home),
        "SPACE_ID": "rehearsal/siamese",
        "GRADIO_SERVER_NAME": "0.0.0.0",
        "GRADIO_SERVER_PORT": str(port),
        "GRADIO_ANALYTICS_ENABLED": "False",
        "PYTHONUNBUFFERED": "1",
        "SIAMESE_DATA_MIRROR": mirror,
        "NO_PROXY": "127.0.0.1,localhost",
        "TQDM_DISABLE": "1",
    }


def start(folder: Path, env: dict[str, str], log: Path) -> subprocess.Popen:
    with open(log, "a") as out:
        return subprocess.Popen([str(folder / ".venv" / "bin" / "python"), "app.py"], cwd=folder, env=env,
                                stdout=out, stderr=subprocess.STDOUT)  # fmt: skip


def until_usable(process: subprocess.Popen, url: str, drawing: str, log: Path, timeout: float) -> tuple[float, list[str], str]:
    """Seconds from now until ``url`` serves the page and answers a match of ``drawing``; the ranking and verdict."""
    from gradio_client import Client, handle_file  # noqa: PLC0415

    started = time.monotonic()
    wait_until_answering(process, url, log, timeout)
    client = Client(url, verbose=False)
    sketch = {"background": None, "layers": [], "composite": handle_file(drawing)}
    scores, _, verdict = client.predict(sketch, ALPHABET, 5, api_name="/match")
    seconds = time.monotonic() - started
    return seconds, [row["label"] for row in scores["confidences"]], verdict


def rehearse(keep: bool = False, port: int = SPACE_PORT, timeout: float = 900) -> Rehearsal:
    meta = front_matter(ROOT / "README.md")
    sdk_version = str(meta.get("sdk_version", ""))
    if meta.get("sdk") != "gradio" or not sdk_version or meta.get("app_file") != "app.py":
        raise ValueError(f"README's front matter does not describe a Gradio Space running app.py: {meta}")
    work = Path(tempfile.mkdtemp(prefix="space-rehearsal-"))
    folder = work / "siamese"  # nothing beside it: no ../shared
    folder.mkdir()
    mirror = None
    processes: list[subprocess.Popen] = []
    try:
        files = copy_tracked(folder)
        began = time.monotonic()
        build_environment(folder, sdk_version)
        build_seconds = time.monotonic() - began
        mirror = Mirror(work / "mirror")
        drawing = str(work / "drawing.png")
        _drawing().save(drawing)
        env = space_environment(folder, mirror.url, port)
        log = work / "app.log"
        url = f"http://127.0.0.1:{port}/"
        seconds = []
        for _ in ("first start", "restart"):
            processes.append(start(folder, env, log))
            elapsed, ranking, verdict = until_usable(processes[-1], url, drawing, log, timeout)
            seconds.append(elapsed)
            if len(seconds) == 1:
                first_match, first_verdict = ranking, verdict
            stop_server(processes[-1], grace=30)
        said = [line for line in log.read_text().splitlines() if "Using the" in line or "omniglot" in line.lower()]
        return Rehearsal(str(folder), files, sdk_version, list(meta.get("preload_from_hub", [])), round(build_seconds, 1),  # type: ignore[arg-type]
                         round(seconds[0], 1), round(seconds[1], 1), first_match, first_verdict, said[:10])  # fmt: skip
    finally:
        for process in processes:
            stop_server(process, grace=30)
        if mirror is not None:
            mirror.close()
        if not keep:
            shutil.rmtree(work, ignore_errors=True)


def _drawing():
    """Drawer 2's drawing of the character sent (the gallery shows drawer 1's), on a canvas-sized page."""
    from siamese.data import load_omniglot  # noqa: PLC0415

    data = load_omniglot("test", drawers=(2,))
    wanted = data.class_names.index(f"{ALPHABET}/character{CHARACTER:02d}")
    return next(image for image, label in zip(data.images, data.labels) if label == wanted).convert("L").resize((420, 420))


def table(report: Rehearsal) -> str:
    return "\n".join([
        f"Space rehearsal ({report.files} committed files, gradio {report.sdk_version}, "
        f"preload_from_hub: {', '.join(report.preload_from_hub) or 'none'})",
        f"  build (fresh venv, requirements.txt + gradio)  {report.build_seconds:8.1f} s",
        f"  first start to a usable page                   {report.first_start_seconds:8.1f} s",
        f"  restart to a usable page                       {report.restart_seconds:8.1f} s",
        f"  first match of {ALPHABET} character {CHARACTER:02d} (drawer 2): {', '.join(report.first_match[:3])}",
        f"  verdict: {report.verdict}",
        *(f"  app: {line}" for line in report.log_lines),
    ])  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", type=int, default=SPACE_PORT, help=f"the port the app serves on (a Space's: {SPACE_PORT})")
    parser.add_argument("--keep", action="store_true", help="keep the Space's folder, its environment and the app's log")
    parser.add_argument("--timeout", type=float, default=900, help="seconds each start may take to a usable page (default: 900)")
    add_json_argument(parser)
    args = parser.parse_args(argv)
    report = rehearse(keep=args.keep, port=args.port, timeout=args.timeout)
    emit(report, table(report), args.json)
    return 0
