"""The page in a real browser: Debian's Chromium, driven by Playwright, on the app launched here.

* ``webapp/pen.js`` selects the pen: a drag on a fresh canvas draws, as it does after "Clear canvas"
  and in a sketchpad that mounts later (another tab), without clicking the Brush button.
* A character traced with the mouse from an Omniglot scan the gallery does not hold (drawer 2 of
  Tengwar, an evaluation alphabet) is among the top 3 matches shown on the page.

Needs ``chromium`` on the PATH (``make browser`` installs Debian's package) and ``playwright`` (in
requirements-dev.txt); ``playwright install`` is not used. The test fails, not skips, without them.
A screenshot of the match lands in ``test-output/browser/``.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from siamese.data.omniglot import load_omniglot

try:
    from playwright.sync_api import expect, sync_playwright
except ImportError:  # the browser fixture fails with a message instead
    expect = sync_playwright = None

ROOT = Path(__file__).resolve().parents[1]
OUTPUT = ROOT / "test-output" / "browser"
ALPHABET, CHARACTER = "Tengwar", 10  # two strokes; the traced drawing ranks first with P(same) ~0.99
EXPECTED = f"{ALPHABET} — character {CHARACTER:02d}"
CANVAS = 420  # app.CANVAS, in pixels; the editor shows it zoomed (the zoom % in its top bar)
MAX_STROKES, MAX_MOVES = 8, 15  # each mouse move costs 0.1-0.3 s with software rendering

# DOM of Gradio 6.31's Sketchpad, Label and toasts that the test relies on.
PAD = ".pen-canvas"  # elem_classes of app.sketchpad()
PAD_CANVAS = ".pixi-target canvas"  # the editor's drawing surface (the whole view, image centred in it)
ZOOM = ".zoom-number"  # e.g. "69%"
SELECTED_BRUSH = 'button.highlight[aria-label="Brush"]'  # the selected tool carries .highlight
SCORES = ".confidence-set .text"  # gr.Label's rows, best first: "Tengwar — character 10"
CAPTIONS = ".caption-label"  # gr.Gallery's captions: "Tengwar — character 10 · 0.99"
ERROR_TOAST = '[data-testid="toast-body"].error'  # gr.Error, e.g. "The canvas is empty: ..."
ERROR_TEXT = '[data-testid="toast-text"]'


# --- the app and the browser ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def url(app_url: str) -> str:
    return app_url


@pytest.fixture(scope="module")
def browser():
    if sync_playwright is None:
        pytest.fail("playwright is not installed: pip install -r requirements-dev.txt", pytrace=False)
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None and Path("/usr/bin/chromium").exists():
        chromium = "/usr/bin/chromium"
    if chromium is None:
        pytest.fail("Chromium is not installed: run `make browser` (apt-get install chromium)", pytrace=False)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, headless=True, args=["--no-sandbox"])
        yield browser
        browser.close()


@pytest.fixture
def page(browser, url: str):
    page = browser.new_page(viewport={"width": 1280, "height": 1000})
    page.set_default_timeout(30_000)
    page.goto(url)
    page.locator(PAD).first.locator(ZOOM).wait_for()  # the editor is ready
    yield page
    page.close()


# --- strokes from a scan --------------------------------------------------------------------------

_AROUND = [(-1, 0), (-1, 1), (0, 1), (1, 1), (1, 0), (1, -1), (0, -1), (-1, -1)]  # (dy, dx), clockwise from north


def _thin(ink: np.ndarray) -> np.ndarray:
    """Zhang-Suen thinning: the ink as lines one pixel wide."""
    skeleton = np.pad(ink, 1)
    changed = True
    while changed:
        changed = False
        for first in (True, False):
            p = [np.roll(skeleton, (-dy, -dx), axis=(0, 1)) for dy, dx in _AROUND]
            count = sum(q.astype(int) for q in p)
            crossings = sum((~p[i] & p[(i + 1) % 8]).astype(int) for i in range(8))
            if first:
                keep = (p[0] & p[2] & p[4]) | (p[2] & p[4] & p[6])
            else:
                keep = (p[0] & p[2] & p[6]) | (p[0] & p[4] & p[6])
            remove = skeleton & (count >= 2) & (count <= 6) & (crossings == 1) & ~keep
            if remove.any():
                skeleton &= ~remove
                changed = True
    return skeleton[1:-1, 1:-1]


def strokes(scan: Image.Image, min_length: int = 6) -> list[list[tuple[int, int]]]:
    """Pen strokes (x, y) over a scan's ink: its skeleton walked from line ends, longest first, each
    cut down to at most MAX_MOVES + 1 points."""
    left = {(int(y), int(x)) for y, x in zip(*np.nonzero(_thin(~np.asarray(scan.convert("1"), dtype=bool))))}

    def after(y: int, x: int) -> list[tuple[int, int]]:
        return [(y + dy, x + dx) for dy, dx in _AROUND if (y + dy, x + dx) in left]

    paths = []
    while left:
        point = min([p for p in left if len(after(*p)) <= 1] or left)  # a line end, top first: deterministic
        path = [point]
        left.discard(point)
        while steps := after(*point):
            point = min(steps, key=lambda q: (abs(q[0] - point[0]) + abs(q[1] - point[1]), q))  # straight on first
            path.append(point)
            left.discard(point)
        if len(path) >= min_length:
            paths.append(path)
    result = []
    for path in sorted(paths, key=len, reverse=True)[:MAX_STROKES]:
        every = -(-(len(path) - 1) // MAX_MOVES) or 1
        kept = path[::every] if (len(path) - 1) % every == 0 else [*path[::every], path[-1]]
        result.append([(x, y) for y, x in kept])
    return result


# --- on the page ----------------------------------------------------------------------------------


def draw(page, pad, lines: list[list[tuple[float, float]]]) -> None:
    """Drag the mouse along each line, given in canvas pixels (0-420)."""
    box = pad.locator(PAD_CANVAS).first.bounding_box()
    zoom = float(pad.locator(ZOOM).inner_text().strip().rstrip("%")) / 100
    centre_x, centre_y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2

    def at(x: float, y: float) -> tuple[float, float]:
        return centre_x + (x - CANVAS / 2) * zoom, centre_y + (y - CANVAS / 2) * zoom

    for line in lines:
        page.mouse.move(*at(*line[0]))
        page.mouse.down()
        for point in line[1:]:
            page.mouse.move(*at(*point))
        page.mouse.up()


def match(page) -> list[str]:
    """Press Match and return the characters the Label shows, best first (fails on an error toast)."""
    page.get_by_role("button", name="Match").click()
    page.wait_for_function(f"document.querySelector('{SCORES}') || document.querySelector('{ERROR_TOAST}')")
    errors = page.locator(ERROR_TOAST)
    assert errors.count() == 0, f"Match showed an error: {errors.first.locator(ERROR_TEXT).inner_text()}"
    return page.locator(SCORES).all_inner_texts()


def pen_is_selected(pad, after: str) -> None:
    message = f"pen.js did not select the Brush tool {after}"
    expect(pad.locator(SELECTED_BRUSH), message).to_be_visible(timeout=5_000)


@pytest.mark.timeout(120)
def test_the_pen_draws_without_choosing_the_brush(page) -> None:
    pad = page.locator(PAD).first
    pen_is_selected(pad, "when the page opened")
    draw(page, pad, [[(150, 200), (270, 210), (200, 300)]])
    assert match(page), "a drag on the fresh canvas drew nothing"

    pad.get_by_role("button", name="Clear canvas").click()
    pen_is_selected(pad, "after Clear")
    undo = pad.get_by_role("button", name="Undo")
    assert undo.is_disabled()  # the canvas is clear
    draw(page, pad, [[(150, 200), (270, 210)]])
    assert undo.is_enabled(), "a drag after Clear drew nothing"

    page.get_by_role("tab", name="Teach your own symbols").click()  # two sketchpads mount there now
    page.wait_for_function(f"[...document.querySelectorAll('{PAD}')].filter(p => p.offsetParent).length === 2")
    for teach_pad in page.locator(PAD).all():
        if teach_pad.is_visible():
            pen_is_selected(teach_pad, "in a sketchpad of another tab")


@pytest.mark.timeout(120)
def test_a_character_traced_with_the_mouse_is_among_the_top_3(page) -> None:
    scans = load_omniglot("test", drawers=(2,))  # the gallery holds drawer 1's images
    wanted = scans.class_names.index(f"{ALPHABET}/character{CHARACTER:02d}")
    scan = scans.images[int(np.flatnonzero(scans.labels == wanted)[0])]
    lines = [[(x * CANVAS / scan.width, y * CANVAS / scan.height) for x, y in line] for line in strokes(scan)]
    assert 1 <= len(lines) <= MAX_STROKES and all(len(line) <= MAX_MOVES + 1 for line in lines)

    page.get_by_label("Alphabet").click()
    page.get_by_role("option", name=ALPHABET, exact=True).click()
    pad = page.locator(PAD).first
    draw(page, pad, [[(100, 100), (300, 300)]])  # a scribble, cleared again: the character is drawn after Clear
    pad.get_by_role("button", name="Clear canvas").click()
    pen_is_selected(pad, "after Clear")
    started = time.monotonic()
    draw(page, pad, lines)
    drawn = time.monotonic() - started
    shown = match(page)

    OUTPUT.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=OUTPUT / "match.png", full_page=True)
    captions = page.locator(CAPTIONS).all_inner_texts()
    assert [c.split(" · ")[0] for c in captions] == shown  # the gallery shows the same characters
    assert EXPECTED in shown[:3], f"{EXPECTED} not in the top 3 {shown[:3]} (drawn in {drawn:.1f} s; see {OUTPUT})"
