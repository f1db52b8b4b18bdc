"""A request to the launched app as a hand-written HTTP client sends it: upload, ``queue/join``, ``queue/data``.

``gradio_client`` does the same three steps and turns the answer into a value or an exception; this module keeps
the answer as it came over the wire, so a test can check what a client in any language reads.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from gradio_client import Client

TIMEOUT_S = 60


@dataclass
class Answer:
    """What the server sent: the status of ``queue/join`` and, when the request was queued, its final message."""

    status: int
    detail: str | None = None  # the body's "detail" when join refused the request (a 4xx or a 503)
    message: dict | None = None  # the process_completed message: {"success": ..., "output": {...}}

    @property
    def error(self) -> str | None:
        """The sentence a refusal carries, wherever the server put it."""
        if self.message is not None:
            return (self.message.get("output") or {}).get("error")
        return self.detail


class UploadRefused(Exception):
    """The server refused an upload (a file over the size limit: 413); ``answer`` is what it said."""

    def __init__(self, answer: Answer) -> None:
        super().__init__(f"{answer.status}: {answer.detail}")
        self.answer = answer


def upload(app_url: str, path: str | Path) -> str:
    """POST one file to /gradio_api/upload; the server path it answers with, for a file value."""
    with open(path, "rb") as handle:
        response = httpx.post(f"{app_url.rstrip('/')}/gradio_api/upload", files={"files": (Path(path).name, handle)},
                              timeout=TIMEOUT_S)  # fmt: skip
    if response.status_code != 200:
        raise UploadRefused(Answer(response.status_code, detail=_detail(response)))
    return response.json()[0]


def _detail(response: httpx.Response) -> str:
    """A refusal's words: the JSON body's "detail", or the body itself when it is plain text."""
    try:
        return str(response.json()["detail"])
    except (ValueError, KeyError, TypeError):
        return response.text


def _uploaded(app_url: str, value: Any, local: Path) -> Any:
    """``value`` with each file value that names a file under ``local`` uploaded and named by its server path.

    File values naming anything else (``/etc/passwd``, a path on the server) go as they are, as a hostile client
    sends them.
    """
    if isinstance(value, dict):
        if (value.get("meta") or {}).get("_type") == "gradio.FileData" and Path(value["path"]).resolve().is_relative_to(local):
            return {"path": upload(app_url, value["path"]), "meta": {"_type": "gradio.FileData"}}
        return {key: _uploaded(app_url, item, local) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_uploaded(app_url, item, local) for item in value]
    return value


def call(app_url: str, client: Client, api_name: str, data: list, local: Path) -> Answer:
    """Send ``data`` (the values ``gradio_client`` would take, without session State) to ``api_name``.

    Files under ``local`` are uploaded first; an upload the server refuses is the answer.
    """
    base = app_url.rstrip("/")
    fn_index = client._infer_fn_index(api_name, None)
    try:
        payload = client.endpoints[fn_index].insert_empty_state(*_uploaded(app_url, list(data), local.resolve()))
    except UploadRefused as refused:
        return refused.answer
    session = uuid.uuid4().hex
    body = {"data": list(payload), "fn_index": fn_index, "session_hash": session, "event_data": None, "trigger_id": None}
    joined = httpx.post(f"{base}/gradio_api/queue/join", json=body, timeout=TIMEOUT_S)
    if joined.status_code != 200:
        return Answer(joined.status_code, detail=_detail(joined))
    with httpx.stream("GET", f"{base}/gradio_api/queue/data", params={"session_hash": session}, timeout=TIMEOUT_S) as stream:
        for line in stream.iter_lines():
            if line.startswith("data:"):
                message = json.loads(line[5:])
                if message.get("msg") == "process_completed":
                    return Answer(200, message=message)
    raise AssertionError("the stream ended without an answer")
