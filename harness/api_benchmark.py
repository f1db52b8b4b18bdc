"""``match`` over the HTTP API against Gradio's own floor: the same client, the same process, reference endpoints.

    python scripts/benchmark_app.py [--requests 50] [--alphabet Tengwar] [--top-k 5] [--profile] [--json [PATH]]

Starts the app in this process (timing the import, which loads the model and the cached gallery) and, beside it,
a second ``gr.Blocks`` (:func:`reference_demo`): ``text`` returns a short string, ``image`` one 168x168 greyscale
PIL image (as large as the drawing-as-the-model-sees-it output, through the same ``gr.Image`` postprocessing).
One ``gradio_client`` client per server, each downloading
the output files as a client gets them, sends ``--requests`` rounds, one request at a time; each round calls every
endpoint once, in an order that rotates from round to round, so that whatever else the machine does at that
moment falls on all of them alike. It prints p50/p95 per endpoint and the ratio of ``match`` to ``image`` (the
goal is at most :data:`GOAL_RATIO`): what ``match`` costs beyond Gradio's round trip with one image.

``--profile`` then sends as many rounds again from clients with ``ssl_verify=False`` (which set up each HTTP
request without loading a certificate bundle), and then ``--requests`` of each endpoint with timers around the
stages of a request (server: Gradio's preprocessing of the drawing, the service's preprocessing, embedding and
ranking, the postprocessing and file caching of each output; client: the upload, each download, the SSL set-up of
each new connection) and prints the mean milliseconds and calls per request of each stage. The timers go on after
the measured rounds, so they do not weigh on the figures above.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import inspect
import logging
import os
import sys
import tempfile
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from siamese.utils import free_port, percentile

from harness.report import add_json_argument, emit
# match (the app's), then the reference server's text and image: Gradio's floor, with no output file and with one.
ENDPOINTS = ("match", "text", "image")
GOAL_RATIO = 1.5  # match / image, p50
CANVAS = 420  # app.CANVAS: the size of the drawing the page sends
VIEW = 168  # the drawing as the model sees it: 56 x 56 shown three times larger


@dataclass
class Latency:
    requests: int
    p50_ms: float
    p95_ms: float
    mean_ms: float


@dataclass
class ApiReport:
    requests: int
    alphabet: str
    top_k: int
    startup_s: float
    endpoints: dict[str, Latency] = field(default_factory=dict)
    ratio_match_over_image_p50: float = 0.0
    ratio_match_over_image_p95: float = 0.0
    goal_ratio: float = GOAL_RATIO
    meets_goal: bool = False
    # With --profile: the same rounds from clients with ssl_verify=False, and stage -> {ms, calls} per request
    endpoints_unverified: dict[str, Latency] = field(default_factory=dict)
    ratio_unverified_p50: float | None = None
    profile: dict[str, dict[str, dict[str, float]]] | None = None
    machine: dict = field(default_factory=dict)
    command: str = ""


# --- the servers ---------------------------------------------------------------------------------------------


def reference_demo():
    """A second server beside the app, whose endpoints do no work, only answer: Gradio's floor for a round trip with
    no output file (``text``) and with one image (``image``, a view as the app's "as the model sees it")."""
    import gradio as gr  # noqa: PLC0415
    from PIL import Image  # noqa: PLC0415

    views = [Image.linear_gradient("L").resize((VIEW, VIEW)).rotate(angle) for angle in range(0, 360, 15)]
    counter = iter(range(10**12))

    def text() -> str:
        return "ok"

    def image() -> Image.Image:
        return views[next(counter) % len(views)]  # images that differ, as the model's views do: each is encoded

    with gr.Blocks() as demo:
        out_text = gr.Textbox()
        out_image = gr.Image(height=180, interactive=False, format="png")  # as app.py's "as the model sees it"
        gr.Button(visible=False).click(text, None, out_text, api_name="text")
        gr.Button(visible=False).click(image, None, out_image, api_name="image")
    return demo


def start_app() -> tuple[Any, str, float]:
    """``app.py``'s page launched in this process as ``make run`` launches it: (demo, url, start-up seconds)."""
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    started = time.perf_counter()
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    import app  # noqa: PLC0415 - timing the start-up is the point

    demo = app.create_demo()  # loads the models and the cached gallery
    startup = time.perf_counter() - started
    _, url, _ = demo.launch(prevent_thread_lock=True, server_port=free_port(), quiet=True, **app.launch_kwargs())
    return demo, url, startup


def canvas_drawings(folder: Path, count: int) -> list[str]:
    """``count`` Omniglot drawings (drawer 2 of the test alphabets) as the page sends them: 420x420 RGBA PNGs,
    black ink on opaque white."""
    from PIL import Image  # noqa: PLC0415

    from siamese.data import load_omniglot  # noqa: PLC0415

    images = load_omniglot("test", drawers=(2,)).images
    paths = []
    for i in range(count):
        path = folder / f"drawing-{i:03d}.png"
        images[(i * 37) % len(images)].convert("L").resize((CANVAS, CANVAS), Image.Resampling.BILINEAR).convert("RGBA").save(path)
        paths.append(str(path))
    return paths


# --- requests ---------------------------------------------------------------------------------------------------


class Callers:
    """One ``gradio_client`` client per server, downloading outputs; ``call(name, i)`` sends one request and checks
    the answer. ``ssl_verify=False`` only changes how the client sets up each HTTP request (no certificate bundle
    loaded); the servers are plain HTTP on loopback either way."""

    def __init__(self, app_url: str, reference_url: str, files: list[str], alphabet: str, top_k: int, downloads: Path,
                 ssl_verify: bool = True) -> None:  # fmt: skip
        from gradio_client import Client  # noqa: PLC0415

        self.app = Client(app_url, verbose=False, download_files=str(downloads / "app"), ssl_verify=ssl_verify)
        self.reference = Client(reference_url, verbose=False, download_files=str(downloads / "reference"), ssl_verify=ssl_verify)
        self.files, self.alphabet, self.top_k = files, alphabet, top_k

    def call(self, name: str, i: int) -> None:
        from gradio_client import handle_file  # noqa: PLC0415

        if name == "text":
            if self.reference.predict(api_name="/text") != "ok":
                raise RuntimeError("text: malformed answer")
            return
        if name == "image":
            if not Path(self.reference.predict(api_name="/image")).is_file():
                raise RuntimeError("image: the image was not downloaded")
            return
        sketch = {"background": None, "layers": [], "composite": handle_file(self.files[i % len(self.files)])}
        scores, view, verdict = self.app.predict(sketch, self.alphabet, self.top_k, api_name="/match")
        if len(scores["confidences"]) != self.top_k or not verdict:
            raise RuntimeError(f"match: malformed answer {str(scores)[:200]}")
        if not Path(view).is_file():
            raise RuntimeError("match: the output image was not downloaded")


def interleaved(callers: Callers, rounds: int, endpoints: tuple[str, ...] = ENDPOINTS, offset: int = 0) -> dict[str, list[float]]:
    """Seconds per request of each endpoint over ``rounds`` rounds, the order rotating from round to round."""
    seconds: dict[str, list[float]] = {name: [] for name in endpoints}
    for r in range(rounds):
        for k in range(len(endpoints)):
            name = endpoints[(r + k) % len(endpoints)]
            begin = time.perf_counter()
            callers.call(name, offset + r)
            seconds[name].append(time.perf_counter() - begin)
    return seconds


def latency(seconds: list[float]) -> Latency:
    return Latency(len(seconds), round(1000 * percentile(seconds, 0.5), 1), round(1000 * percentile(seconds, 0.95), 1),
                   round(1000 * sum(seconds) / len(seconds), 1))  # fmt: skip


# --- where the time goes ------------------------------------------------------------------------------------------


class StageTimer:
    """Timers put around functions (``wrap``) and taken off again (``restore``): seconds and calls per stage."""

    def __init__(self) -> None:
        self.totals: dict[str, float] = defaultdict(float)
        self.calls: dict[str, int] = defaultdict(int)
        self._lock = threading.Lock()
        self._undo: list[Callable[[], None]] = []

    def add(self, stage: str, seconds: float) -> None:
        with self._lock:
            self.totals[stage] += seconds
            self.calls[stage] += 1

    def wrap(self, owner: Any, attribute: str, stage: str | Callable[..., str]) -> None:
        """Time ``owner.attribute``; ``stage`` may be a function of the call's arguments (e.g. per component).
        An async function's time is its wall time, waits on the event loop included."""
        original = getattr(owner, attribute)
        name_of = stage if callable(stage) else (lambda *args, **kwargs: stage)
        if inspect.iscoroutinefunction(original):

            @functools.wraps(original)
            async def timed(*args, **kwargs):
                begin = time.perf_counter()
                try:
                    return await original(*args, **kwargs)
                finally:
                    self.add(name_of(*args, **kwargs), time.perf_counter() - begin)
        else:

            @functools.wraps(original)
            def timed(*args, **kwargs):
                begin = time.perf_counter()
                try:
                    return original(*args, **kwargs)
                finally:
                    self.add(name_of(*args, **kwargs), time.perf_counter() - begin)

        own = attribute in vars(owner)  # else it comes from the class: taking the timer off is deleting it
        setattr(owner, attribute, timed)
        self._undo.append(lambda: setattr(owner, attribute, original) if own else delattr(owner, attribute))

    def restore(self) -> None:
        while self._undo:
            self._undo.pop()()

    def reset(self) -> None:
        with self._lock:
            self.totals.clear()
            self.calls.clear()

    def per_request(self, requests: int) -> dict[str, dict[str, float]]:
        """Each stage's mean milliseconds and calls per request, the costliest first."""
        ranked = sorted(self.totals.items(), key=lambda kv: -kv[1])
        return {stage: {"ms": round(1000 * total / requests, 2), "calls": round(self.calls[stage] / requests, 2)} for stage, total in ranked}


def _component_name(component: Any) -> str:
    return f"{type(component).__name__}#{component.elem_id}" if component.elem_id else type(component).__name__


def instrument(timer: StageTimer, demos: list[Any]) -> None:
    """Timers around each stage of a request, on the servers (both in this process) and in the client."""
    import gradio_client.client as client_module  # noqa: PLC0415
    import httpx._transports.default as httpx_transport  # noqa: PLC0415
    from gradio import blocks, processing_utils  # noqa: PLC0415

    import app  # noqa: PLC0415
    from siamese.matching.support_set import SupportSet  # noqa: PLC0415

    service = app.start_service()
    timed: set[tuple[int, str]] = set()  # a component shared by two endpoints is timed once
    for demo in demos:
        for block_fn in demo.fns.values():
            if block_fn.api_name not in ENDPOINTS:
                continue
            for components, method in ((block_fn.inputs, "preprocess"), (block_fn.outputs, "postprocess")):
                for component in components:
                    if (id(component), method) not in timed:
                        timed.add((id(component), method))
                        timer.wrap(component, method, f"server: {_component_name(component)}.{method}")
    # Each output's files are checked, hashed and copied into Gradio's cache, twice per output (for the session's
    # state and for the reply); hash_file and the copy happen inside save_file_to_cache.
    timer.wrap(processing_utils, "async_move_files_to_cache",
               lambda data, block, *a, **k: f"server: move_files_to_cache({_component_name(block)})")  # fmt: skip
    timer.wrap(processing_utils, "save_file_to_cache", "server:   of which save_file_to_cache (hash + copy or touch)")
    timer.wrap(processing_utils, "hash_file", "server:     of which hash_file")
    timer.wrap(processing_utils, "save_pil_to_cache", "server:   of which save_pil_to_cache (encode + write)")
    timer.wrap(blocks.Blocks, "process_api", "server: process_api (preprocess + handler + postprocess)")
    timer.wrap(blocks.Blocks, "call_function", "server: call_function (the handler)")
    timer.wrap(service, "_view", "server:   of which service: decode + preprocess")
    timer.wrap(SupportSet, "top_k", "server:   of which service: embed + rank")
    timer.wrap(client_module.Endpoint, "_upload_file", "client: upload the drawing")
    timer.wrap(client_module.Endpoint, "_download_file", "client: download an output file")
    # gradio_client opens a new httpx client (a new connection) for every HTTP request: the join, the event
    # stream, each upload and each download; with ssl_verify=True each one loads the certificate bundle first.
    timer.wrap(httpx_transport, "create_ssl_context", "client: SSL context of a new httpx client")


def profile(callers: Callers, unverified: Callers, demos: list[Any], requests: int) -> dict[str, dict[str, dict[str, float]]]:
    """Each stage's mean milliseconds and calls per request, per endpoint (each endpoint sent ``requests`` times in a
    row); then ``match`` again from a client with ``ssl_verify=False``."""
    timer = StageTimer()
    instrument(timer, demos)
    found = {}
    try:
        for name, via in [*((name, callers) for name in ENDPOINTS), ("match", unverified)]:
            timer.reset()
            begin = time.perf_counter()
            for i in range(requests):
                via.call(name, 1000 + i)
            whole = {"ms": round(1000 * (time.perf_counter() - begin) / requests, 2), "calls": 1.0}
            found[name if via is callers else f"{name}, client with ssl_verify=False"] = {"client: the whole request": whole,
                                                                                          **timer.per_request(requests)}  # fmt: skip
    finally:
        timer.restore()
    return found


# --- the report ----------------------------------------------------------------------------------------------------


def run(requests: int = 50, alphabet: str = "Tengwar", top_k: int = 5, with_profile: bool = False, warmup: int = 3,
        command: str = "") -> ApiReport:  # fmt: skip
    """Start both servers, warm each endpoint up, measure ``requests`` interleaved rounds (and profile if asked)."""
    logging.getLogger("httpx").setLevel(logging.WARNING)  # app.configure_process logs every request at INFO
    demo, url, startup = start_app()
    report = ApiReport(requests=requests, alphabet=alphabet, top_k=top_k, startup_s=round(startup, 2), command=command)
    report.machine = {"cpus": os.cpu_count(), "load_average_1_5_15_before": [round(v, 2) for v in os.getloadavg()]}
    reference = None
    try:
        with tempfile.TemporaryDirectory(prefix="benchmark-app-") as temporary:
            folder = Path(temporary)
            reference = reference_demo()
            _, reference_url, _ = reference.launch(prevent_thread_lock=True, server_port=free_port(), quiet=True)
            drawings = canvas_drawings(folder, max(requests, 1))
            callers = Callers(url, reference_url, drawings, alphabet, top_k, folder / "downloads")
            interleaved(callers, warmup, offset=10_000)  # the first of each builds what later ones reuse
            seconds = interleaved(callers, requests)
            report.endpoints = {name: latency(values) for name, values in seconds.items()}
            match, image = report.endpoints["match"], report.endpoints["image"]
            report.ratio_match_over_image_p50 = round(match.p50_ms / image.p50_ms, 2)
            report.ratio_match_over_image_p95 = round(match.p95_ms / image.p95_ms, 2)
            report.meets_goal = report.ratio_match_over_image_p50 <= GOAL_RATIO
            if with_profile:
                unverified = Callers(url, reference_url, drawings, alphabet, top_k, folder / "downloads", ssl_verify=False)
                interleaved(unverified, warmup, offset=10_000)
                rounds = interleaved(unverified, requests)
                report.endpoints_unverified = {name: latency(values) for name, values in rounds.items()}
                by_name = report.endpoints_unverified
                report.ratio_unverified_p50 = round(by_name["match"].p50_ms / by_name["image"].p50_ms, 2)
                report.profile = profile(callers, unverified, [demo, reference], requests)
    finally:
        report.machine["load_average_1_5_15_after"] = [round(v, 2) for v in os.getloadavg()]
        if reference is not None:
            reference.close()
        demo.close()
    return report


def table(report: ApiReport) -> str:
    lines = [f"{'endpoint':<8} {'p50 ms':>8} {'p95 ms':>8} {'mean ms':>8}  ({report.requests} each, interleaved)"]
    for name, row in report.endpoints.items():
        lines.append(f"{name:<8} {row.p50_ms:>8.1f} {row.p95_ms:>8.1f} {row.mean_ms:>8.1f}")
    if report.endpoints_unverified:
        lines.append(f"with ssl_verify=False clients ({report.requests} rounds more, interleaved):")
        for name, row in report.endpoints_unverified.items():
            lines.append(f"{name:<8} {row.p50_ms:>8.1f} {row.p95_ms:>8.1f} {row.mean_ms:>8.1f}")
        lines.append(f"with ssl_verify=False, at p50: match / image {report.ratio_unverified_p50:.2f}x")
    verdict = "meets" if report.meets_goal else "misses"
    lines.append(f"match / image: {report.ratio_match_over_image_p50:.2f}x at p50, {report.ratio_match_over_image_p95:.2f}x "
                 f"at p95 ({verdict} the goal of {report.goal_ratio:g}x at p50)")
    lines.append(f"start-up (import, models, gallery): {report.startup_s:.2f} s; alphabet {report.alphabet}, top {report.top_k}")
    lines.append(f"machine: {report.machine['cpus']} CPUs, load average {report.machine['load_average_1_5_15_before']} "
                 f"before, {report.machine['load_average_1_5_15_after']} after")  # fmt: skip
    for name, stages in (report.profile or {}).items():
        lines.append(f"\nprofile of {name} ({report.requests} requests in a row; per request):")
        lines.append(f"  {'stage':<64} {'ms':>8} {'calls':>6}")
        lines += [f"  {stage:<64} {row['ms']:>8.2f} {row['calls']:>6g}" for stage, row in stages.items()]
    return "\n".join(lines)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=50, help="rounds of the four endpoints (default 50)")
    parser.add_argument("--alphabet", default="Tengwar", help='an Omniglot alphabet or "All alphabets"')
    parser.add_argument("--top-k", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=3, help="rounds sent first and not counted (default 3)")
    parser.add_argument("--profile", action="store_true", help="then time the stages of each endpoint's requests")
    add_json_argument(parser)
    args = parser.parse_args(argv)
    if args.requests < 1:
        parser.error("--requests must be at least 1")
    args.argv = list(sys.argv[1:] if argv is None else argv)
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    with contextlib.redirect_stdout(sys.stderr):  # Gradio's own messages: stdout is the report's alone
        report = run(args.requests, args.alphabet, args.top_k, args.profile, args.warmup,
                     command=" ".join(["python scripts/benchmark_app.py", *args.argv]))  # fmt: skip
    emit(report, table(report), args.json)
    return 0
