"""The light live client (harness/live_client.py): it finds the pad's event as the browser does, draws what the pad
sends, and reports capacity, its own CPU and the server's."""

from __future__ import annotations

import base64
import io
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from harness.live_client import LoadResult, capacity, live_event, render_drawings

ROOT = Path(__file__).resolve().parents[1]


def _config() -> dict:
    return {
        "components": [
            {"id": 1, "type": "textbox", "props": {"elem_id": "draw-pad-value", "value": ""}},
            {"id": 2, "type": "dropdown", "props": {"label": "Alphabet", "value": "All alphabets",
                                                    "choices": [["All alphabets", "All alphabets"], ["Latin", "Latin"]]}},
            {"id": 3, "type": "slider", "props": {"label": "How many matches", "value": 5}},
            {"id": 4, "type": "label", "props": {}},
        ],
        "dependencies": [
            {"id": 0, "targets": [[3, "release"]], "inputs": [1, 2, 3], "outputs": [4]},
            {"id": 7, "targets": [[1, "change"]], "inputs": [1, 2, 3], "outputs": [4]},
        ],
    }  # fmt: skip


def test_the_pads_event_is_found_with_the_pages_values() -> None:
    event = live_event(_config())
    assert (event.fn_index, event.trigger_id, event.alphabet_input) == (7, 1, 1)
    assert event.values == ("", "All alphabets", 5) and event.alphabets == ("Latin",)
    broken = _config()
    broken["components"][0]["props"]["elem_id"] = "elsewhere"
    with pytest.raises(RuntimeError, match="no #draw-pad-value"):
        live_event(broken)


def test_the_drawings_are_what_the_pad_sends() -> None:
    drawings = render_drawings(count=2)
    assert [len(d) for d in drawings] == [8, 8]
    first, last = (Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1]))) for url in (drawings[0][0], drawings[0][-1]))
    assert first.size == (210, 210) and first.format == "PNG"
    ink = lambda image: int((np.asarray(image.convert("L")) < 128).sum())  # noqa: E731
    assert 0 < ink(first) < ink(last)  # strokes add up within a drawing


def test_capacity_is_the_largest_load_within_the_bound_without_errors() -> None:
    loads = [LoadResult(10, 30, p95_ms=120), LoadResult(20, 30, p95_ms=450), LoadResult(30, 30, p95_ms=480, errors=1),
             LoadResult(40, 30, p95_ms=900)]  # fmt: skip
    assert capacity(loads, 500) == 20
    assert capacity(loads[3:], 500) == 0


@pytest.mark.slow
@pytest.mark.timeout(400)
def test_a_few_visitors_draw_for_15_seconds_with_no_errors() -> None:
    result = subprocess.run([sys.executable, str(ROOT / "scripts" / "live_capacity.py"), "--visitors", "3", "--duration", "15",
                             "--server-cores", "", "--client-cores", "", "--json", "-"],
                            capture_output=True, text=True, timeout=380, cwd=ROOT)  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    report = json.loads(result.stdout)
    (load,) = report["loads"]
    assert load["errors"] == 0 and load["answers"] >= 15  # three visitors, a stroke a second each, answers well within
    assert load["client_cpu_s"] > 0 and load["server_cpu_s"] > 0 and report["server_cpu_ms_per_answer"] > 0
    assert load["strokes"] >= load["answers"] and load["p95_ms"] > 0
