"""An imitation of the Hugging Face Hub over HTTP, for the *real* ``huggingface_hub`` client.

The ``hub`` fixture (``conftest.py``) serves a :class:`FakeHub` from a thread on a free loopback port; nothing
in the library is mocked.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import threading
import urllib.parse
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler

_RESOLVE = re.compile(r"^/(?P<repo>[^/]+/[^/]+)/resolve/(?P<revision>[^/]+)/(?P<filename>.+)$")
_CDN = re.compile(r"^/cdn-lfs/(?P<sha256>[0-9a-f]{64})$")
_WRITE = re.compile(r"^/api/models/(?P<repo>[^/]+/[^/]+)/(?P<action>preupload|commit|branch)/(?P<revision>[^/]+)$")
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
    * Faults on demand: ``hang`` accepts connections but answers nothing until the test ends (a
      black hole: the client's timeouts and retries run as against a dead proxy); ``fail_status``
      answers every ``/resolve`` with that status (e.g. ``500``);
      ``cdn_truncate`` makes the CDN serve only the first N bytes of a blob (a consistent but short
      response, as from a broken object store), while the redirect still announces the full size.
    * The write API that ``HfApi.create_repo`` / ``create_branch`` / ``upload_folder`` use, behind a
      ``Bearer`` token (one of ``write_tokens``, if set): ``/api/repos/create``, ``/api/validate-yaml``, and per repo ``preupload``,
      ``commit`` and ``branch``. Preupload answers ``uploadMode: regular`` for every file, so the
      content travels base64 in the commit (the real Hub sends weights through LFS / Xet instead, which
      this imitation does not implement). Commits to ``main`` change ``repos``; all are kept in ``commits``.
    """

    port: int = 0
    repos: dict[str, dict[str, bytes]] = field(default_factory=dict)
    requests: list[tuple[str, str]] = field(default_factory=list)
    missing_repo_status: int = 401
    hang: bool = False
    released: threading.Event = field(default_factory=threading.Event)  # set at teardown: hung requests go on
    fail_status: int | None = None
    write_tokens: set[str] | None = None  # the tokens the write API accepts; None: any
    cdn_truncate: int | None = None
    created: dict[str, dict] = field(default_factory=dict)  # repo id -> the create_repo payload
    branches: dict[str, set[str]] = field(default_factory=dict)
    commits: list[dict] = field(default_factory=list)  # {"repo", "revision", "summary", "files", "token"}

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


def handler(hub: FakeHub) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args) -> None:  # keep pytest output clean
            pass

        def do_HEAD(self) -> None:
            self._answer(send_body=False)

        def do_GET(self) -> None:
            self._answer(send_body=True)

        def do_POST(self) -> None:
            hub.requests.append((self.command, self.path))
            if hub.hang:
                hub.released.wait()
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            path = urllib.parse.urlsplit(self.path).path
            authorization = self.headers.get("Authorization", "")
            token = authorization.removeprefix("Bearer ")
            if not authorization.startswith("Bearer ") or (hub.write_tokens is not None and token not in hub.write_tokens):
                return self._json(401, {"error": "Invalid credentials in Authorization header"})
            if path == "/api/validate-yaml":
                return self._json(200, {"errors": [], "warnings": []})
            if path == "/api/repos/create":
                payload = json.loads(body)
                owner = payload.get("organization")
                repo = f"{owner}/{payload['name']}" if owner else payload["name"]
                if repo in hub.repos:
                    return self._json(409, {"error": "You already created this model repo", "url": f"{hub.url}/{repo}"})
                hub.repos[repo], hub.created[repo] = {}, payload
                return self._json(200, {"url": f"{hub.url}/{repo}", "name": repo})
            match = _WRITE.match(path)
            if match is None:
                return self._error(404, {})
            repo, action, revision = match["repo"], match["action"], urllib.parse.unquote(match["revision"])
            if repo not in hub.repos:
                return self._error(404, {"X-Error-Code": "RepoNotFound", "X-Error-Message": "Repository not found"})
            if action == "branch":
                hub.branches.setdefault(repo, {"main"}).add(revision)
                return self._json(200, {})
            if revision != "main" and revision not in hub.branches.get(repo, ()):
                return self._error(404, {"X-Error-Code": "RevisionNotFound", "X-Error-Message": "Invalid rev id"})
            if action == "preupload":
                files = json.loads(body)["files"]
                modes = [{"path": f["path"], "uploadMode": "regular", "shouldIgnore": False} for f in files]
                return self._json(200, {"files": modes, "commitOid": hub.commit(repo)})
            lines = [json.loads(line) for line in body.splitlines() if line.strip()]
            header, operations = lines[0]["value"], lines[1:]
            files = {}
            for operation in operations:
                if operation["key"] != "file":  # only regular files are asked for in preupload
                    return self._json(400, {"error": f"unsupported operation {operation['key']}"})
                files[operation["value"]["path"]] = base64.b64decode(operation["value"]["content"])
            commit = {"repo": repo, "revision": revision, "summary": header["summary"], "files": files, "token": token}
            hub.commits.append(commit)
            if revision == "main":
                hub.repos[repo].update(files)
            oid = hub.commit(repo) if revision == "main" else hashlib.sha1(repr(commit).encode()).hexdigest()
            return self._json(200, {"commitUrl": f"{hub.url}/{repo}/commit/{oid}", "commitOid": oid, "success": True})

        # --- routing ----------------------------------------------------------------------

        def _answer(self, send_body: bool) -> None:
            hub.requests.append((self.command, self.path))
            if hub.hang:
                hub.released.wait()
            if match := _CDN.match(self.path):
                data = hub.blob(match["sha256"])
                if data is None:
                    return self._error(404, {"X-Error-Code": "EntryNotFound"})
                if hub.cdn_truncate is not None:
                    data = data[: hub.cdn_truncate]
                return self._content(data, {"ETag": f'"{match["sha256"]}"'}, send_body)
            match = _RESOLVE.match(self.path)
            if match is None:
                return self._error(404, {})
            repo, revision, filename = match["repo"], match["revision"], match["filename"]
            if hub.fail_status is not None:
                return self._error(hub.fail_status, {})
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

        def _json(self, status: int, payload: dict) -> None:
            body = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
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
