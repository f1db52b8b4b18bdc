"""How soon the page shows a new ranking after a stroke, in headless Chromium, timed inside the page.

    python scripts/benchmark_page.py [--strokes 20] [--alphabet "All alphabets"] [--json [PATH]]

Launches the app in this process (as ``make run`` serves it), opens it in Debian's Chromium driven by Playwright
(1280x1000, headless), and draws ``--strokes`` short mouse drags one at a time on the Draw & match pad
(``#draw-pad``, ``webapp/pad.js``), each somewhere new on the canvas, waiting after each for the ranking to change and for the
server to have no match running. Each stroke's latency is measured in the page, with ``performance.now()``: from
the stroke's ``pointerup`` (a listener on the pad's canvas) to the first change of the ranking's text (a
``MutationObserver`` on ``#scores``, the ``gr.Label``), so Playwright's own round trips are not counted. It is what
a visitor waits for: the canvas exported and sent, the queue, the match, the reply, the Label re-rendered.

The first stroke is reported on its own (a warm-up: the page's first upload and event stream); p50/p95 are over the
others (the goal is a p50 of at most :data:`GOAL_P50_MS`). Each latency is also split at the moment the page sends
the match (its ``queue/join`` request, from the page's resource timing): before it, the pad exports its canvas;
after it, the queue, the match, the reply and the re-render. Beside each stroke the report gives how many matches
the server ran for it and how long its ``service.match`` took, and the report names the WebGL renderer the page
gets (SwiftShader: software, no GPU), which weighs on Gradio's own Sketchpad far more than on the pad's 2D canvas.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import shutil
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from siamese.utils import percentile

from harness.report import add_json_argument, emit
GOAL_P50_MS = 300.0
CANVAS = 420  # app.CANVAS, in pixels
VIEWPORT = {"width": 1280, "height": 1000}

# DOM of the pad and of Gradio 6.31's Label that the benchmark relies on (as tests/test_app_browser.py does).
PAD = "#draw-pad"
PAD_CANVAS = "canvas"  # the pad's drawing surface (webapp/pad.js)
SCORES = "#answer"  # the answer's column: the Label (#scores) in it is only shown once there is an answer
ROWS = "#scores .confidence-set"  # the Label's rows: the name and the percentage, best first
ERROR_TOAST = '[data-testid="toast-body"].error'
POLL_MS = 20  # how often Playwright looks for the answer; the timestamps themselves are the page's

_WEBGL = """() => {
  const gl = document.createElement("canvas").getContext("webgl2") || document.createElement("canvas").getContext("webgl");
  if (!gl) return "none";
  const info = gl.getExtension("WEBGL_debug_renderer_info");
  return String(gl.getParameter(info ? info.UNMASKED_RENDERER_WEBGL : gl.RENDERER));
}"""
# The requests the page started after ``up`` (resource timing), as [url, startTime].
_REQUESTS = """up => performance.getEntriesByType("resource").filter(e => e.startTime > up).map(e => [e.name, e.startTime])"""

# In the page: each pointerup on the canvas and each change of the ranking's text, stamped with performance.now().
_PROBE = """([pad, scores, rows]) => {
  const canvas = document.querySelector(pad);
  const label = document.querySelector(scores);
  const text = () => [...label.querySelectorAll(rows)].map(row => row.textContent.trim()).join("\\n");
  const probe = window.__pageBenchmark = {ups: [], changes: [], last: text()};
  canvas.addEventListener("pointerup", () => probe.ups.push(performance.now()), {capture: true});
  new MutationObserver(() => {
    const now = performance.now(), shown = text();
    if (shown !== probe.last) { probe.last = shown; probe.changes.push({t: now, rows: shown}); }
  }).observe(label, {subtree: true, childList: true, characterData: true, attributes: true});
}"""


@dataclass
class Stroke:
    latency_ms: float  # pointerup -> the ranking's text changes, in the page
    # The same span in two, from the page's resource timing: until the page sends the match (queue/join), which
    # includes the pad exporting its canvas, and from then until the ranking changes.
    before_request_ms: float | None
    request_to_ranking_ms: float | None
    matches: int  # service.match calls the server ran for this stroke
    server_ms: float | None  # the last of them: service.match's own time
    top: str  # the best match shown afterwards


@dataclass
class PageReport:
    strokes: int
    alphabet: str
    first_stroke_ms: float = 0.0
    p50_ms: float | None = None  # over strokes 2..N
    p95_ms: float | None = None
    mean_ms: float | None = None
    max_ms: float | None = None
    before_request_p50_ms: float | None = None  # the split of the latency, over strokes 2..N
    request_to_ranking_p50_ms: float | None = None
    server_match_p50_ms: float | None = None  # service.match alone, over strokes 2..N
    goal_p50_ms: float = GOAL_P50_MS
    meets_goal: bool = False
    per_stroke: list[Stroke] = field(default_factory=list)
    startup_s: float = 0.0
    chromium: str = ""
    webgl: str = ""  # the renderer the page's canvas gets (SwiftShader: software)
    machine: dict = field(default_factory=dict)
    command: str = ""


class MatchCounter:
    """Counts the service's matches (and times them) while the page is driven, to wait until none is running."""

    def __init__(self, service: Any) -> None:
        self.service, self.original = service, service.match
        self.started = self.finished = 0
        self.seconds: list[float] = []
        self.lock = threading.Lock()

    def __enter__(self) -> "MatchCounter":
        def match(*args, **kwargs):
            with self.lock:
                self.started += 1
            begin = time.perf_counter()
            try:
                return self.original(*args, **kwargs)
            finally:
                with self.lock:
                    self.finished += 1
                    self.seconds.append(time.perf_counter() - begin)

        self.service.match = match
        return self

    def __exit__(self, *exc: object) -> None:
        del self.service.match  # the class's method again

    def idle(self) -> bool:
        with self.lock:
            return self.started == self.finished


def find_chromium() -> str:
    for candidate in (shutil.which("chromium"), shutil.which("chromium-browser"), "/usr/bin/chromium"):
        if candidate and Path(candidate).exists():
            return candidate
    raise RuntimeError("Chromium is not installed: run `make browser` (apt-get install chromium)")


def stroke_path(i: int, steps: int = 4) -> list[tuple[float, float]]:
    """Stroke ``i``: a short drag (about 60 pixels of the 420-pixel canvas, ``steps`` moves) at its own place on a
    5 x 4 grid, slanted one way or the other, so that every stroke changes the drawing."""
    column, row = i % 5, (i // 5) % 4
    x0, y0 = 50 + 75 * column, 60 + 90 * row
    dx, dy = 60, 25 if i % 2 == 0 else -25
    return [(x0 + dx * s / steps, y0 + dy * s / steps) for s in range(steps + 1)]


def draw(page: Any, line: list[tuple[float, float]]) -> None:
    """Drag the mouse along ``line``, given in canvas pixels (0-420), on the pad as it is shown now."""
    box = page.locator(PAD).locator(PAD_CANVAS).first.bounding_box()
    scale = box["width"] / CANVAS
    points = [(box["x"] + x * scale, box["y"] + y * scale) for x, y in line]
    page.mouse.move(*points[0])
    page.mouse.down()
    for point in points[1:]:
        page.mouse.move(*point)
    page.mouse.up()


def choose_alphabet(page: Any, alphabet: str, counter: MatchCounter, timeout: float) -> None:
    page.get_by_label("Alphabet").click()
    page.get_by_role("option", name=alphabet, exact=True).click()
    deadline = time.monotonic() + timeout
    page.wait_for_timeout(300)
    while not counter.idle():  # choosing an alphabet matches again (an empty canvas: nothing to match)
        if time.monotonic() > deadline:
            raise RuntimeError("the server was still matching after the alphabet was chosen")
        page.wait_for_timeout(50)


def one_stroke(page: Any, i: int, counter: MatchCounter, timeout: float) -> Stroke:
    """Draw stroke ``i`` and wait until the ranking has changed after it and the server has no match running."""
    ups_before = page.evaluate("window.__pageBenchmark.ups.length")
    matches_before = counter.started
    draw(page, stroke_path(i))
    page.wait_for_function(f"window.__pageBenchmark.ups.length > {ups_before}", polling=POLL_MS, timeout=timeout * 1000)
    up = page.evaluate("window.__pageBenchmark.ups.at(-1)")
    found = page.wait_for_function(
        f"""() => {{
            if (document.querySelector('{ERROR_TOAST}')) return {{error: document.querySelector('{ERROR_TOAST}').innerText}};
            return window.__pageBenchmark.changes.find(c => c.t > {up}) || false;
        }}""",
        polling=POLL_MS,  # not every frame: the page's own work is what is timed
        timeout=timeout * 1000,
    ).json_value()
    if "error" in found:
        raise RuntimeError(f"the page showed an error after stroke {i + 1}: {found['error']}")
    starts = page.evaluate(_REQUESTS, up)
    join = min((t for name, t in starts if "/queue/join" in name and t < found["t"]), default=None)
    deadline = time.monotonic() + timeout
    while not counter.idle():  # a later answer for the same stroke would land in the next stroke's time
        if time.monotonic() > deadline:
            raise RuntimeError(f"the server was still matching {timeout:.0f} s after stroke {i + 1}")
        time.sleep(0.01)
    with counter.lock:
        matches = counter.started - matches_before
        server = counter.seconds[-1] if matches and counter.seconds else None
    since = lambda t: None if t is None else round(t - up, 1)  # noqa: E731
    return Stroke(latency_ms=round(found["t"] - up, 1), before_request_ms=since(join),
                  request_to_ranking_ms=None if join is None else round(found["t"] - join, 1),
                  matches=matches, server_ms=None if server is None else round(1000 * server, 1),
                  top=found["rows"].split("\n")[0])  # fmt: skip


def run(strokes: int = 20, alphabet: str = "All alphabets", timeout: float = 30, browser_args: tuple[str, ...] = (),
        command: str = "") -> PageReport:  # fmt: skip
    """Launch the app here and Chromium, draw ``strokes`` strokes and time the page's answer to each."""
    from playwright.sync_api import sync_playwright  # noqa: PLC0415

    from harness.api_benchmark import start_app  # noqa: PLC0415

    import app  # noqa: PLC0415 - start_app has put the project on sys.path

    if strokes < 2:
        raise ValueError("strokes must be at least 2: the first is a warm-up, reported on its own")
    logging.getLogger("httpx").setLevel(logging.WARNING)
    chromium = find_chromium()
    demo, url, startup = start_app()
    report = PageReport(strokes=strokes, alphabet=alphabet, startup_s=round(startup, 2), command=command)
    report.machine = {"cpus": os.cpu_count(), "load_average_1_5_15_before": [round(v, 2) for v in os.getloadavg()]}
    try:
        with sync_playwright() as playwright, MatchCounter(app.start_service()) as counter:
            browser = playwright.chromium.launch(executable_path=chromium, headless=True, args=["--no-sandbox", *browser_args])
            report.chromium = browser.version
            try:
                page = browser.new_page(viewport=VIEWPORT)
                page.set_default_timeout(timeout * 1000)
                page.goto(url)
                report.webgl = page.evaluate(_WEBGL)
                page.locator(PAD).locator(f"{PAD_CANVAS}[data-ready]").wait_for()  # pad.js has set the pad up
                if alphabet != "All alphabets":
                    choose_alphabet(page, alphabet, counter, timeout)
                page.locator(PAD).scroll_into_view_if_needed()
                page.evaluate(_PROBE, [f"{PAD} {PAD_CANVAS}", SCORES, ROWS])
                page.evaluate("performance.setResourceTimingBufferSize(100000)")  # a stroke sends dozens
                report.per_stroke = [one_stroke(page, i, counter, timeout) for i in range(strokes)]
            finally:
                browser.close()
    finally:
        report.machine["load_average_1_5_15_after"] = [round(v, 2) for v in os.getloadavg()]
        demo.close()
    report.first_stroke_ms = report.per_stroke[0].latency_ms
    rest = [s.latency_ms for s in report.per_stroke[1:]]
    report.p50_ms, report.p95_ms = round(percentile(rest, 0.5), 1), round(percentile(rest, 0.95), 1)
    report.mean_ms, report.max_ms = round(sum(rest) / len(rest), 1), max(rest)
    for name in ("before_request", "request_to_ranking", "server"):
        values = [getattr(s, f"{name}_ms") for s in report.per_stroke[1:] if getattr(s, f"{name}_ms") is not None]
        setattr(report, f"{'server_match' if name == 'server' else name}_p50_ms", round(percentile(values, 0.5), 1) if values else None)
    report.meets_goal = report.p50_ms <= GOAL_P50_MS
    return report


def table(report: PageReport) -> str:
    verdict = "meets" if report.meets_goal else "misses"
    lines = [
        f"stroke -> new ranking on the page, in Chromium {report.chromium} ({report.strokes} strokes, {report.alphabet}):",
        f"  WebGL renderer             {report.webgl}",
        f"  first stroke (warm-up)     {report.first_stroke_ms:.0f} ms",
        f"  strokes 2-{report.strokes}: p50 / p95   {report.p50_ms:.0f} / {report.p95_ms:.0f} ms (mean {report.mean_ms:.0f}, "
        f"max {report.max_ms:.0f}); {verdict} the goal of a p50 of {report.goal_p50_ms:.0f} ms",
        f"  split, p50: {report.before_request_p50_ms} ms until the page sends the match, then "
        f"{report.request_to_ranking_p50_ms} ms to the new ranking",
        f"  service.match alone        p50 {report.server_match_p50_ms} ms (on the server)",
        f"  matches per stroke         {[s.matches for s in report.per_stroke]}",
        f"  start-up {report.startup_s:.1f} s; machine: {report.machine['cpus']} CPUs, load average "
        f"{report.machine['load_average_1_5_15_before']} before, {report.machine['load_average_1_5_15_after']} after",
    ]
    return "\n".join(lines)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--strokes", type=int, default=20, help="strokes drawn, the first one a warm-up (default 20)")
    parser.add_argument("--alphabet", default="All alphabets", help='what the drawing is matched against (default: "All alphabets")')
    parser.add_argument("--timeout", type=float, default=30.0, help="seconds to wait for each answer")
    parser.add_argument("--browser-arg", action="append", default=[], help="an extra Chromium flag (repeatable)")
    add_json_argument(parser)
    args = parser.parse_args(argv)
    if args.strokes < 2:
        parser.error("--strokes must be at least 2 (the first is a warm-up)")
    args.argv = list(sys.argv[1:] if argv is None else argv)
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    with contextlib.redirect_stdout(sys.stderr):  # Gradio's own messages: stdout is the report's alone
        report = run(args.strokes, args.alphabet, args.timeout, tuple(args.browser_arg),
                     command=" ".join(["python scripts/benchmark_page.py", *args.argv]))  # fmt: skip
    emit(report, table(report), args.json)
    return 0
