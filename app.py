"""siamese: one-shot character matching in the browser.

This file only lays out the page (:func:`build_demo`, one builder per tab) and passes values to
:class:`siamese.matching.service.MatchingService`, which does the matching, comparing and teaching.
Importing it does nothing heavy; :func:`main` prepares the data, loads the models and serves.
Run it with ``make run``, ``python app.py`` or ``siamese serve``.
"""

from __future__ import annotations

import base64
import functools
import logging
import mimetypes
import random
import re
from pathlib import Path
from typing import Any, Callable

import gradio as gr

from siamese.data import prepare_dataset
from siamese.data.base import DataError
from siamese.data.prepare import data_dir
from siamese.matching.gallery import ALL_ALPHABETS
from siamese.matching.inputs import EDITOR_FORM, image_from_data_url
from siamese.matching.service import (CHARACTERS, FEW_SHOT, MAX_SYMBOLS, MAX_TOP_K, ONE_SHOT, Challenge, MatchingService,
                                      TaughtSymbols)  # fmt: skip
from siamese.transforms import limit_image_pixels

from webapp.answer import file_data_url, pictures_html, view_html
from webapp.errors import IMAGE_FORM, explained, in_words, install_error_contract, unchecked
from webapp.gradio_fixes import install_gradio_fixes

log = logging.getLogger("siamese.app")

HERE = Path(__file__).resolve().parent
MAX_FILE_SIZE = "5mb"
# A 420-pixel canvas and a pen 16 pixels wide: a character drawn across most of the canvas has strokes about as
# wide, relative to its size, as Omniglot's scans (preprocessing evens out the rest).
CANVAS = (420, 420)
PEN_WIDTH = 16
# The pad sends its drawing at half the canvas's side: a quarter of the pixels to decode and preprocess after each
# stroke, and the same answer (tests/test_app.py: embeddings within 0.02 in cosine, top-1 on 764 test drawings 82.2%
# against 82.5% at full size).
SENT_SIDE = 210
# The events a stroke starts: only the latest one's answer matters, and a spinner per stroke would flicker.
LIVE = {"trigger_mode": "always_last", "show_progress": "hidden", "api_visibility": "private"}
BEFORE_FIRST_STROKE = "**Draw one character** on the pad: the closest characters appear here after your first stroke, and change with each one."
MATCHES_LABEL, VIEW_LABEL = "Closest characters", "Your drawing as the model sees it"
SHOTS = [("one drawing of each character (one-shot)", ONE_SHOT), ("all of a character's drawings (few-shot)", FEW_SHOT)]


def configure_process() -> None:
    """The process-wide settings the page needs; idempotent."""
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    limit_image_pixels()  # an upload over 16 megapixels (e.g. a 20,000 x 20,000 PNG bomb) is refused from its header
    install_gradio_fixes()  # atomic writes of output images, freed memory returned (see webapp/gradio_fixes.py)
    install_error_contract()  # server paths and a full queue refused in words (see webapp/errors.py)


@functools.cache
def start_service() -> MatchingService:
    """The models and the gallery, loaded once per process (the page and its tests share them)."""
    try:
        prepare_dataset("omniglot")  # on a Space this downloads the official zips once
        service = MatchingService.start(cache_dir=data_dir() / "cache")
        service.prepare_few_shot()  # in the background: ready by the time a visitor switches to it
        return service
    except DataError as error:
        log.warning("no Omniglot gallery (%s); draw & match is off", error)
        return MatchingService.start(cache_dir=data_dir() / "cache", with_gallery=False, gallery_error=str(error))


def new_session_challenge() -> Challenge:
    """Each visitor's own sequence of characters to copy."""
    return Challenge(seed=random.randrange(2**31))


# --- components -------------------------------------------------------------------------------------


def sketchpad(label: str, elem_id: str) -> gr.Sketchpad:
    """A hidden Sketchpad: the input of the named API endpoints, which take a Sketchpad value; the page draws on
    :func:`live_pad`."""
    return explained(gr.Sketchpad(label=label, type="pil", image_mode="RGBA", canvas_size=CANVAS, layers=False,
                                  transforms=(), elem_id=elem_id, visible=False),
                     form=f"Expected a drawing: send {EDITOR_FORM}.")  # fmt: skip


def image_input(**options) -> gr.Image:
    """An image input whose payload, sent through the API, is refused in words when it is not an image file."""
    return explained(gr.Image(type="pil", **options), form=f"Expected an image file: send {IMAGE_FORM}.")


def live_pad(elem_id: str) -> gr.Textbox:
    """A canvas (``webapp/pad.js``) and the textbox that carries its drawing, a PNG data URL, to the server after
    each stroke; the textbox is returned, for events."""
    gr.HTML(f'''<div class="live-pad" data-pad="{elem_id}" data-value="{elem_id}-value" data-pen="{PEN_WIDTH}" data-sent="{SENT_SIDE}">
  <canvas width="{CANVAS[0]}" height="{CANVAS[1]}" aria-label="Drawing canvas"></canvas>
  <div class="pad-tools"><button class="pad-undo" disabled>Undo</button><button class="pad-clear">Clear</button></div>
</div>''', elem_id=elem_id)  # fmt: skip
    return gr.Textbox(elem_id=f"{elem_id}-value", elem_classes=["pad-value"], show_label=False, container=False)


def clear_canvas(elem_id: str) -> str:
    """Browser code that clears a pad as its own Clear button does. A value sent from the server cannot: Gradio skips
    an output equal to the last one it sent, so a second None leaves the drawing there."""
    buttons = f'#{elem_id} button[aria-label=\\"Clear canvas\\"], #{elem_id} .pad-clear'
    return f"() => {{ document.querySelector('{buttons}')?.click(); }}"


def show_on_pad(elem_id: str) -> str:
    """Browser code that puts an image (an example's value) on a pad in place of its drawing; the pad then sends
    it, as after a stroke, so the drawing shown and the answer shown always belong together."""
    return f"(image) => {{ if (image?.url) window.siamesePads?.['{elem_id}']?.show(image.url); }}"


def refused_quietly(trigger: Callable, fn: Callable, inputs: list, outputs: list, **options: Any):
    """``trigger(fn, inputs, outputs)`` for a page-only action that a visitor's mistake can refuse.

    Gradio marks every output of a failed event with an "Error" badge that hides it until the next success (the
    picture to copy, the taught symbols). Here ``fn`` writes only a hidden State, and the outputs are set from it
    once it succeeds: a refusal is its toast alone, and the page stays as it was.
    """
    held = gr.State()
    return trigger(lambda *values: fn(*values), inputs, [held], **options).success(
        lambda values: tuple(values), [held], outputs, show_progress="hidden", api_visibility="private")


# --- the tabs ---------------------------------------------------------------------------------------


def draw_tab(service: MatchingService) -> None:
    """Draw & match: the pad, the answer beside it (under it on a phone), the game, the alphabet's sheet, examples."""

    @in_words
    def match(sketch: dict | None, alphabet: str, top_k: int):
        """Which Omniglot characters a drawing is: the top-k characters with P(character | drawing) (a softmax over
        the candidates, calibrated on validation), the drawing as the model sees it, and a one-line verdict ("no
        confident match" when the best is below the calibrated threshold).

        sketch: the Sketchpad value {"background", "layers", "composite"}; send the drawing as "composite".
        alphabet: one of the 50 Omniglot alphabets or "All alphabets".
        top_k: how many characters to return (1-20).
        """
        result = service.match(sketch, alphabet, top_k)
        return {m.label: m.probability for m in result.matches}, result.view, result.message

    @in_words
    def match_live(drawing: str, alphabet: str, top_k: int, shots: str):
        """The match after each stroke (the pad's PNG data URL), against one drawing of each character or their
        prototypes (``shots``), with the closest characters' pictures and the model's view inline (webapp/answer.py).
        Plain values, not component updates, which would rebuild the components' configs on every stroke: the page
        hides the answer itself while the pad is empty (pad.js, page.css); a cleared pad empties it."""
        if not drawing:
            return None, "", "", BEFORE_FIRST_STROKE
        result = service.match(_pad_image(drawing), alphabet, top_k, shots)
        scores = {m.label: m.probability for m in result.matches}
        pictures = [(file_data_url(str(service.gallery.file(label))), f"{label} · {p:.0%}") for label, p in scores.items()]
        return scores, pictures_html(pictures, MATCHES_LABEL), view_html(result.view, VIEW_LABEL), result.message

    @in_words
    def show_alphabet(alphabet: str):
        sheet = service.alphabet_sheet(alphabet)
        label = f"{alphabet}: its {len(sheet)} characters, to copy from" if sheet else ""
        return gr.Gallery(value=[(str(path), name) for path, name in sheet], label=label, visible=bool(sheet))

    @in_words
    def draw_this_one(challenge: Challenge, alphabet: str):
        challenge, prompt = service.next_challenge(challenge, alphabet)
        text = f"Copy this character (another person drew it), then press **Check my copy**. {challenge.score}."
        return challenge, gr.Image(str(prompt), visible=True), text

    @in_words
    def check_copy(challenge: Challenge, drawing: str, alphabet: str):
        result = service.check_challenge(challenge, _pad_image(drawing))
        challenge, prompt = service.next_challenge(result.challenge, alphabet)
        icon = "✅" if result.found else "❌"
        return challenge, gr.Image(str(prompt), visible=True), f"{icon} {result.message} Next: copy this one."

    if service.gallery is None:
        gr.Markdown(no_gallery_notice(service.gallery_error), elem_id="no-gallery")
    with gr.Row(elem_id="draw-row"):  # page.css: the controls span its first line on a laptop, follow the answer on a phone
        with gr.Row(elem_id="draw-controls"):
            alphabet = gr.Dropdown(service.alphabet_choices(), value=ALL_ALPHABETS, label="Alphabet", allow_custom_value=True,
                                   scale=1, min_width=240)  # fmt: skip
            shots = unchecked(gr.Radio(SHOTS, value=ONE_SHOT, label="Compare your drawing with", elem_id="shots", scale=2))
        with gr.Column(min_width=320):
            drawing = live_pad("draw-pad")
            with gr.Group(elem_id="game"):
                challenge = gr.State(new_session_challenge)
                with gr.Row():
                    prompt = gr.Image(label="Copy this character", height=160, interactive=False, elem_id="prompt",
                                      visible=False, min_width=160)  # fmt: skip
                    with gr.Column(min_width=200):
                        challenge_text = gr.Markdown("**A game:** press **Draw this one** for a character to copy from the "
                                                     "chosen alphabet, and see whether the match finds your copy.",
                                                     elem_id="challenge", padding=True)  # fmt: skip
                        with gr.Row():
                            next_button = gr.Button("Draw this one")
                            check_button = gr.Button("Check my copy", variant="primary")
        with gr.Column(min_width=320, elem_id="answer"):
            verdict = gr.Markdown(BEFORE_FIRST_STROKE, elem_id="verdict")
            scores = gr.Label(label="P(character | drawing), calibrated over the candidates", elem_id="scores",
                              show_heading=False)  # fmt: skip
            matches = gr.HTML(elem_id="matches", container=False)
            view = gr.HTML(elem_id="seen", container=False)
            top_k = unchecked(gr.Slider(1, MAX_TOP_K, value=5, step=1, label="How many matches"))  # the service words a bad top_k
    outputs = [scores, matches, view, verdict]
    sheet = gr.Gallery(label="", height="auto", allow_preview=False, elem_id="sheet", visible=False)
    live_inputs = [drawing, alphabet, top_k, shots]
    drawing.change(match_live, live_inputs, outputs, **LIVE)
    top_k.release(match_live, live_inputs, outputs, **LIVE)
    shots.input(match_live, live_inputs, outputs, **LIVE)
    # .input, not .change: an example sets the alphabet too, and its drawing reaches the pad after.
    alphabet.input(show_alphabet, [alphabet], [sheet], api_visibility="private").then(match_live, live_inputs, outputs, **LIVE)

    game = [challenge, prompt, challenge_text]
    refused_quietly(next_button.click, draw_this_one, [challenge, alphabet], game, api_visibility="private").success(
        None, js=clear_canvas("draw-pad"))
    refused_quietly(check_button.click, check_copy, [challenge, drawing, alphabet], game, api_visibility="private").success(
        None, js=clear_canvas("draw-pad"))

    # For API clients: the same matching as a named endpoint, for a Sketchpad value ("match") or an image file
    # ("match_image"). They return the ranking, the view and the verdict: the characters' images are the page's (the
    # label names them), and each would be one more download per request. No validator: it would decode the drawing
    # a second time, outside the queue's limit; the service checks everything.
    seen = gr.Image(label=VIEW_LABEL, interactive=False, format="png", visible=False)
    api_outputs = [scores, seen, verdict]
    gr.Button(visible=False).click(match, [sketchpad("A drawing", "api-sketch"), alphabet, top_k], api_outputs, api_name="match")
    gr.Button(visible=False).click(match, [image_input(visible=False), alphabet, top_k], api_outputs, api_name="match_image")

    if service.examples.drawings:
        # An example goes onto the pad, where the visitor can draw on or clear it; the pad then asks for its match.
        example = image_input(label="Example drawing", visible=False, elem_id="example")
        drawing_examples = gr.Examples([[str(path), name] for path, name in service.examples.drawings], [example, alphabet],
                                       label="Try a drawing (by a person whose drawings the gallery does not hold)",
                                       elem_id="draw-examples")  # fmt: skip
        drawing_examples.load_input_event.then(None, [example], None, js=show_on_pad("draw-pad")).then(
            show_alphabet, [alphabet], [sheet], api_visibility="private")


def no_gallery_notice(reason: str | None) -> str:
    """What the Draw & match tab says when the Omniglot gallery could not be loaded."""
    why = f" ({reason})" if reason else ""
    return (f"⚠️ **Draw & match is off:** the Omniglot characters to match against could not be loaded{why}. "
            "**Compare two images** and **Teach your own symbols** still work.")  # fmt: skip


def compare_tab(service: MatchingService) -> None:
    """Compare two images: calibrated P(same), a verdict, and both images as the model sees them."""

    @in_words
    def compare(image_a, image_b, domain: str):
        """P(same) for two images (calibrated), a verdict, and both images as the model sees them.

        domain: which model judges the pair, e.g. "Handwritten characters (Omniglot)".
        """
        result = service.compare(image_a, image_b, domain)
        return {"same": result.probability, "different": 1.0 - result.probability}, result.views[0], result.views[1], result.message

    with gr.Row():
        image_a = image_input(label="First image", sources=["upload", "clipboard"])
        image_b = image_input(label="Second image", sources=["upload", "clipboard"])
    domain = unchecked(gr.Radio(list(service.domains), value=CHARACTERS, label="What the images show"))
    compare_button = gr.Button("Compare", variant="primary")
    compare_verdict = gr.Markdown(elem_id="compare-verdict")
    with gr.Row():
        p_same = gr.Label(label="Calibrated P(same)")
        seen_a = gr.Image(label="First, as the model sees it", height=180, interactive=False)
        seen_b = gr.Image(label="Second, as the model sees it", height=180, interactive=False)
    compare_outputs = [p_same, seen_a, seen_b, compare_verdict]
    compare_button.click(compare, [image_a, image_b, domain], compare_outputs, api_name="compare")
    if service.examples.pairs:
        gr.Examples([[str(a), str(b), d] for a, b, d in service.examples.pairs], [image_a, image_b, domain], compare_outputs,
                    compare, run_on_click=True, cache_examples=False, label="Try a pair: the same, then different, for each kind",
                    elem_id="compare-examples")  # fmt: skip


def teach_tab(service: MatchingService) -> None:
    """Teach your own symbols: one drawing each, kept in the session; then a live answer on a second pad."""

    @in_words
    def teach(symbols: TaughtSymbols, sketch: dict | None, name: str):
        symbols = service.teach(symbols, sketch, name)
        return symbols, list(zip(symbols.views, symbols.names)), ""

    @in_words
    def classify(symbols: TaughtSymbols, sketch: dict | None):
        result = service.classify(symbols, sketch, top_k=3)
        return {m.label: m.probability for m in result.matches}, result.view, result.message

    def teach_drawn(symbols: TaughtSymbols, drawing: str, name: str):
        """``teach`` with the pad's drawing (a PNG data URL)."""
        return teach(symbols, _pad_image(drawing, thing="symbol"), name)

    def classify_live(symbols: TaughtSymbols, drawing: str):
        """``classify`` after each stroke on the pad, once a symbol exists; quiet until then."""
        if not symbols.names or not drawing:
            return None, None, ""
        return classify(symbols, _pad_image(drawing, thing="symbol"))

    def forget_all(symbols: TaughtSymbols):
        return TaughtSymbols(), [], None, None, ""

    symbols = gr.State(TaughtSymbols())
    gr.Markdown(f"Draw a symbol, name it and press **Teach**; up to {MAX_SYMBOLS}. Then draw one of them "
                "on the right: the answer updates after each stroke. Your symbols stay in this browser session only.")  # fmt: skip
    with gr.Row():
        with gr.Column():
            gr.Markdown("**A symbol to teach**")
            teach_drawing = live_pad("teach-pad")
            name = gr.Textbox(label="Its name", max_length=40, placeholder="e.g. smiley")
            with gr.Row():
                teach_button = gr.Button("Teach", variant="primary")
                forget_button = gr.Button("Forget all")
            taught = gr.Gallery(label="Taught symbols", height="auto", allow_preview=False, elem_id="taught")
        with gr.Column():
            gr.Markdown("**Draw one of your symbols**")
            query_drawing = live_pad("query-pad")
            symbol_verdict = gr.Markdown(elem_id="symbol-verdict")
            symbol_scores = gr.Label(label="P(symbol | drawing), calibrated over your symbols", elem_id="symbol-scores")
            symbol_seen = gr.Image(label="As the model sees it", height=180, interactive=False, format="png")
    classify_outputs = [symbol_scores, symbol_seen, symbol_verdict]
    refused_quietly(teach_button.click, teach_drawn, [symbols, teach_drawing, name], [symbols, taught, name],
                    api_visibility="private").success(None, js=clear_canvas("teach-pad")).then(
        classify_live, [symbols, query_drawing], classify_outputs, **LIVE)  # fmt: skip
    forget_button.click(forget_all, [symbols], [symbols, taught, *classify_outputs], api_name="forget").success(
        None, js=clear_canvas("query-pad"))
    query_drawing.change(classify_live, [symbols, query_drawing], classify_outputs, **LIVE)
    # For API clients, Sketchpad values as "match" takes them.
    teach_sketch, query_sketch = sketchpad("A symbol", "api-teach-sketch"), sketchpad("A drawing", "api-query-sketch")
    gr.Button(visible=False).click(teach, [symbols, teach_sketch, name], [symbols, taught, name], api_name="teach")
    gr.Button(visible=False).click(classify, [symbols, query_sketch], classify_outputs, api_name="classify")
    if service.examples.symbols:
        symbol_example = image_input(label="Example symbol", visible=False)  # the pads take no value from the server
        symbol_examples = gr.Examples([[str(path), label] for path, label in service.examples.symbols], [symbol_example, name],
                                      label="Try a symbol: click one to teach it", elem_id="teach-examples")  # fmt: skip
        symbol_examples.load_input_event.then(teach, [symbols, symbol_example, name], [symbols, taught, name],
                                              api_visibility="private")  # fmt: skip


def about_tab(service: MatchingService) -> None:
    """About: the served checkpoint, how it works, and its model card."""
    card = with_images_inline(service.model_card(), Path(service.characters.source))
    gr.Markdown(f"**Loaded model:** {service.characters.describe()}\n\n" + (HERE / "docs" / "how_it_works.md").read_text()
                + "\n\n---\n\n" + card)  # fmt: skip


_IMAGE_LINK = re.compile(r"(!\[[^\]]*\]\()([^)\s]+)(\))")


def with_images_inline(markdown: str, folder: Path) -> str:
    """``markdown`` with its images that are files of ``folder`` (a model card's ``curves.png``) as data URLs.

    A card's links are relative to its folder, which the page does not serve: in the page they resolve to
    ``/curves.png``, a 404. A data URL needs no route and works behind a Space's proxy too.
    """

    def inline(link: re.Match) -> str:
        path = folder / link.group(2)
        if link.group(2).startswith(("http:", "https:", "data:", "/")) or not path.is_file():
            return link.group(0)
        kind = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        return f"{link.group(1)}data:{kind};base64,{base64.b64encode(path.read_bytes()).decode()}{link.group(3)}"

    return _IMAGE_LINK.sub(inline, markdown)


def build_demo(service: MatchingService) -> gr.Blocks:
    """The page, its endpoints and its queue, over ``service``."""
    # Uploads and outputs live in Gradio's cache (GRADIO_TEMP_DIR, default /tmp/gradio): without delete_cache they
    # would pile up for as long as the Space runs. Every hour, files older than an hour go; all go at shutdown.
    with gr.Blocks(title="siamese: one-shot matching", delete_cache=(3600, 3600)) as demo:
        gr.Markdown("# One-shot matching with a Siamese network\nDraw a character and see which one it is, compare two "
                    "images, or teach the model your own symbols with one drawing each.", elem_id="intro")  # fmt: skip
        with gr.Tab("Draw & match"):
            draw_tab(service)
        with gr.Tab("Compare two images"):
            compare_tab(service)
        with gr.Tab("Teach your own symbols"):
            teach_tab(service)
        with gr.Tab("About"):
            about_tab(service)

    # Measured with scripts/load_test.py --profile live (16 visitors, a match per stroke, ~1/s each, 2 shared CPUs;
    # docs/reliability.md): p95 1.60 s with two at once, 1.69 s with four, 2.56 s with one, 0 errors. A match costs
    # the server ~80 ms of CPU, so the CPUs are the limit; two (one per CPU) bound the memory of running requests. A
    # queue of 64 at the 8-11 requests/s measured is a wait of 6-8 s for the last in line, beyond which "queue full"
    # at once is kinder than a longer wait.
    demo.queue(default_concurrency_limit=2, max_size=64)
    return demo


@in_words
def _pad_image(drawing: str, thing: str = "character"):
    """The image a pad sent, or the visitor's message (``thing``: what the pad is for, in that message)."""
    return image_from_data_url(drawing, thing=thing)


def launch_kwargs() -> dict:
    """The arguments the page is launched with (the browser test launches it the same way)."""
    return {"max_file_size": MAX_FILE_SIZE, "js": (HERE / "webapp" / "pad.js").read_text(), "css": (HERE / "webapp" / "page.css").read_text()}


def create_demo() -> gr.Blocks:
    """The page as ``main`` serves it: process settings applied, models and gallery loaded."""
    configure_process()
    return build_demo(start_service())


def main() -> None:
    create_demo().launch(**launch_kwargs())


if __name__ == "__main__":
    main()
