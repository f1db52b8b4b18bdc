"""How many visitors can draw at once: a light client that speaks Gradio's HTTP protocol itself.

    python scripts/live_capacity.py                                  # step 10, 20, 30, ... visitors; server and client on a core each
    python scripts/live_capacity.py --visitors 40 --duration 60      # one load
    python scripts/live_capacity.py --url http://127.0.0.1:7860/ --pid 1234   # a server that is already running

Each visitor draws as the "Draw & match" page does: a pen stroke every 0.8-1.2 s on a 420 x 420 canvas, a fresh
drawing every 8 strokes, alphabets alternating per drawing between "All alphabets" and one named alphabet, and what
the page's pad sends after a stroke: the canvas as a PNG data URL, to the pad's change event (``queue/join`` with
its ``fn_index``, then the session's ``queue/data`` event stream until the answer). As the page's
``trigger_mode="always_last"``, the next drawing goes only after the answer came, carrying every stroke drawn
meanwhile. All visitors share one process and one event loop (``asyncio`` + ``httpx``), and the drawings are
rendered before the clock starts, so the client's own CPU stays small; it is reported beside the server's.

With ``--server-cores`` and ``--client-cores`` (default: 0 and 1) the server runs under ``taskset`` and the client
pins itself, so the two do not share a core. **Capacity per server core** is the most visitors whose answers keep
p95 at or under ``--p95-ms`` (500) with no errors, found by stepping the number of visitors.

The ``gradio_client`` harness (``scripts/load_test.py``) stays the API client's view; this is the page's.
"""

from __future__ import annotations

import asyncio
import base64
import io
import json
import os
import random
import statistics
import time
import uuid
from dataclasses import asdict, dataclass, field
from typing import Any

import httpx
from PIL import Image

from siamese.utils import percentile

from harness.load_test import ALL_ALPHABETS, NOTICED_S, STROKE_INTERVAL_S, STROKES_PER_DRAWING, Visitor, cpu_s

PAD_VALUE = "draw-pad-value"  # the textbox the page's pad writes its data URL into (app.live_pad)
SENT_SIDE = 210  # app.SENT_SIDE: the pad sends its canvas at this side (tests/test_load.py keeps them equal)
DRAWINGS = 12  # rendered once, shared by all visitors (each starts at its own drawing)


@dataclass(frozen=True)
class LiveEvent:
    """The page's event that a stroke starts: its ``fn_index``, the component that triggers it and the values of
    its other inputs (each component's value on the page, the alphabet set per drawing)."""

    fn_index: int
    trigger_id: int
    values: tuple[Any, ...]  # the first input is the drawing, left None here
    alphabet_input: int | None  # which input is the alphabet
    alphabets: tuple[str, ...]  # the named alphabets of its dropdown


def live_event(config: dict[str, Any], pad_value: str = PAD_VALUE) -> LiveEvent:
    """Find the pad's change event in the page's ``/config``, as the browser does."""
    components = {component["id"]: component for component in config["components"]}
    pad = next((c["id"] for c in components.values() if c.get("props", {}).get("elem_id") == pad_value), None)
    if pad is None:
        raise RuntimeError(f"The page has no #{pad_value} component; is this the siamese app?")
    for index, dependency in enumerate(config["dependencies"]):
        if [pad, "change"] in [list(target) for target in dependency.get("targets", [])]:
            inputs = dependency["inputs"]
            values, alphabet_input, alphabets = [], None, ()
            for position, component_id in enumerate(inputs):
                props = components[component_id].get("props", {})
                values.append(props.get("value"))
                if props.get("label") == "Alphabet":
                    alphabet_input = position
                    choices = [c[1] if isinstance(c, (list, tuple)) else c for c in props.get("choices", [])]
                    alphabets = tuple(c for c in choices if c != ALL_ALPHABETS)
            if inputs[0] != pad:
                raise RuntimeError("The pad's change event does not take the drawing first.")
            return LiveEvent(dependency.get("id", index), pad, tuple(values), alphabet_input, alphabets)
    raise RuntimeError(f"No event runs when #{pad_value} changes.")


def render_drawings(count: int = DRAWINGS, seed: int = 0, side: int = SENT_SIDE) -> list[list[str]]:
    """``count`` drawings of ``STROKES_PER_DRAWING`` strokes each: the canvas's PNG data URL after each stroke, at
    ``side`` pixels (what the pad sends; 420, the whole canvas, is what it sent before app.SENT_SIDE)."""
    drawings = []
    for number in range(count):
        pen = Visitor(random.Random(seed * 1_000 + number), start=0.0)
        urls = []
        for stroke in range(STROKES_PER_DRAWING):
            pen.draw_until(pen.next_stroke)
            buffer = io.BytesIO()
            pen.canvas.convert("RGB").resize((side, side), Image.Resampling.BILINEAR).save(buffer, format="PNG")
            urls.append("data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii"))
        drawings.append(urls)
    return drawings


@dataclass
class LoadResult:
    visitors: int
    duration_s: float
    answers: int = 0
    errors: int = 0
    first_errors: list[str] = field(default_factory=list)
    strokes: int = 0
    p50_ms: float | None = None
    p95_ms: float | None = None
    later_than_1s: int = 0
    client_cpu_s: float = 0.0
    server_cpu_s: float | None = None
    server_cpu_ms_per_answer: float | None = None

    @property
    def answers_per_s(self) -> float:
        return self.answers / self.duration_s


class _Tally:
    def __init__(self) -> None:
        self.latencies: list[float] = []
        self.errors: list[str] = []
        self.strokes = 0


async def _answer(client: httpx.AsyncClient, event: LiveEvent, data: list[Any], session: str, timeout: float) -> str | None:
    """Send one drawing as the page does; None when the answer came, else what went wrong."""
    body = {"data": data, "fn_index": event.fn_index, "session_hash": session, "event_data": None, "trigger_id": event.trigger_id}
    joined = await client.post("gradio_api/queue/join", json=body, timeout=timeout)
    if joined.status_code != 200:
        return f"queue/join answered {joined.status_code}: {joined.text[:200]}"
    event_id = joined.json().get("event_id")
    async with client.stream("GET", "gradio_api/queue/data", params={"session_hash": session}, timeout=timeout) as stream:
        async for line in stream.aiter_lines():
            if not line.startswith("data:"):
                continue
            message = json.loads(line[5:])
            if message.get("msg") == "process_completed" and message.get("event_id", event_id) == event_id:
                if not message.get("success"):
                    return f"refused: {(message.get('output') or {}).get('error')}"
                return None
    return "the event stream ended without an answer"


async def _visitor(number: int, client: httpx.AsyncClient, event: LiveEvent, drawings: list[list[str]], seed: int,
                   end: float, timeout: float, tally: _Tally) -> None:  # fmt: skip
    rng = random.Random(seed * 7_919 + number)
    session = uuid.uuid4().hex
    named = event.alphabets[number % len(event.alphabets)] if event.alphabets else ALL_ALPHABETS
    strokes, next_stroke = 0, time.monotonic() + rng.uniform(*STROKE_INTERVAL_S)  # visitors do not start in step
    while True:
        await asyncio.sleep(max(min(next_stroke, end) - time.monotonic(), 0))
        now = time.monotonic()
        if now >= end:
            break
        while next_stroke <= now:  # the pen went on while the last answer was awaited
            strokes += 1
            next_stroke += rng.uniform(*STROKE_INTERVAL_S)
        drawing, stroke = divmod(strokes - 1, STROKES_PER_DRAWING)
        data = list(event.values)
        data[0] = drawings[(number + drawing) % len(drawings)][stroke]
        if event.alphabet_input is not None:
            data[event.alphabet_input] = [ALL_ALPHABETS, named][(number + drawing) % 2]
        started = time.monotonic()
        try:
            problem = await _answer(client, event, data, session, timeout)
        except (httpx.HTTPError, asyncio.TimeoutError) as error:
            problem = f"{type(error).__name__}: {error}"
        if started < end:
            if problem is None:
                tally.latencies.append(time.monotonic() - started)
            else:
                tally.errors.append(problem)
    tally.strokes += strokes


async def _run(url: str, visitors: int, duration: float, seed: int, timeout: float, server_pid: int | None,
               drawings: list[list[str]]) -> LoadResult:  # fmt: skip
    limits = httpx.Limits(max_connections=2 * visitors + 4, max_keepalive_connections=2 * visitors + 4)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=timeout) as client:
        config = (await client.get("config")).json()
        event = live_event(config)
        warm = list(event.values)
        warm[0] = drawings[0][-1]
        await _answer(client, event, warm, uuid.uuid4().hex, timeout)  # the first answer pays for lazy set-up
        tally = _Tally()
        server_before, client_before = cpu_s(server_pid) if server_pid else None, time.process_time()
        started = time.monotonic()
        end = started + duration
        await asyncio.gather(*[_visitor(n, client, event, drawings, seed, end, timeout, tally) for n in range(visitors)])
        client_cpu = time.process_time() - client_before
        server_after = cpu_s(server_pid) if server_pid else None
        elapsed = time.monotonic() - started
    result = LoadResult(visitors=visitors, duration_s=elapsed, answers=len(tally.latencies), errors=len(tally.errors),
                        first_errors=tally.errors[:3], strokes=tally.strokes, client_cpu_s=client_cpu)  # fmt: skip
    if tally.latencies:
        result.p50_ms = 1000 * statistics.median(tally.latencies)
        result.p95_ms = 1000 * percentile(tally.latencies, 0.95)
        result.later_than_1s = sum(latency > NOTICED_S for latency in tally.latencies)
    if server_before is not None and server_after is not None:
        result.server_cpu_s = server_after - server_before
        result.server_cpu_ms_per_answer = 1000 * result.server_cpu_s / max(result.answers, 1)
    return result


def run_load(url: str, visitors: int, duration: float, seed: int = 0, timeout: float = 30.0, server_pid: int | None = None,
             drawings: list[list[str]] | None = None) -> LoadResult:  # fmt: skip
    """``visitors`` drawing for ``duration`` seconds against the app at ``url``; the server's CPU is read from
    ``server_pid`` when given."""
    return asyncio.run(_run(url, visitors, duration, seed, timeout, server_pid, drawings or render_drawings(seed=seed)))


def capacity(results: list[LoadResult], p95_ms: float) -> int:
    """The most visitors whose answers kept p95 within ``p95_ms`` with no errors (0 when none did)."""
    kept = [r.visitors for r in results if r.errors == 0 and r.p95_ms is not None and r.p95_ms <= p95_ms]
    return max(kept, default=0)


def pin_to(cores: set[int] | None) -> None:
    """Run this process on ``cores`` only (Linux); nothing when None."""
    if cores:
        os.sched_setaffinity(0, cores)


def as_dict(result: LoadResult) -> dict[str, Any]:
    return {**asdict(result), "answers_per_s": result.answers_per_s}


# --- the command ------------------------------------------------------------------------------------------------


@dataclass
class CapacityReport:
    p95_bound_ms: float
    server_cores: str | None
    client_cores: str | None
    loads: list[dict[str, Any]] = field(default_factory=list)
    visitors_per_server_core: int = 0
    server_cpu_ms_per_answer: float | None = None  # at the heaviest load that kept the bound (else the lightest)
    machine: dict[str, Any] = field(default_factory=dict)
    command: str = ""


def main(argv: list[str] | None = None) -> int:
    import argparse  # noqa: PLC0415
    import sys  # noqa: PLC0415
    import tempfile  # noqa: PLC0415
    from pathlib import Path  # noqa: PLC0415

    from harness.load_test import start_server, stop_server  # noqa: PLC0415
    from harness.report import add_json_argument, emit  # noqa: PLC0415

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--visitors", default="10,20,30,40,50,60,80", help="comma-separated loads to step through")
    parser.add_argument("--duration", type=float, default=30.0, help="seconds of drawing per load (default: 30)")
    parser.add_argument("--p95-ms", type=float, default=500.0, help="the answer time a load must keep at p95 (default: 500)")
    parser.add_argument("--server-cores", default="0", help="CPU list for the server (taskset); '' for any")
    parser.add_argument("--client-cores", default="1", help="CPU list for this client; '' for any")
    parser.add_argument("--url", help="drive a server that is already running, instead of starting one")
    parser.add_argument("--pid", type=int, help="with --url: the server's process id, to read its CPU time")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--sent-side", type=int, default=SENT_SIDE, help=f"pixels a side of the drawings sent (default: {SENT_SIDE}, as the pad)")
    parser.add_argument("--stop-after-miss", action=argparse.BooleanOptionalAction, default=True,
                        help="stop stepping once a load misses the bound (default: on)")  # fmt: skip
    add_json_argument(parser)
    args = parser.parse_args(argv)
    try:
        loads = [int(v) for v in args.visitors.split(",") if v.strip()]
    except ValueError:
        print(f"error: --visitors takes whole numbers separated by commas, got {args.visitors!r}.", file=sys.stderr)
        return 2
    if not loads or min(loads) < 1:
        print("error: --visitors needs at least one load of 1 or more visitors.", file=sys.stderr)
        return 2
    client_cores = {int(c) for c in args.client_cores.split(",") if c.strip()} if args.client_cores else None
    if client_cores and not client_cores <= os.sched_getaffinity(0):
        print(f"error: --client-cores {args.client_cores} is not among this machine's CPUs {sorted(os.sched_getaffinity(0))}.",
              file=sys.stderr)  # fmt: skip
        return 2
    report = CapacityReport(args.p95_ms, args.server_cores or None, args.client_cores or None,
                            command="python scripts/live_capacity.py " + " ".join(sys.argv[1:] if argv is None else argv))  # fmt: skip
    report.machine = {"cpus": os.cpu_count(), "load_average_1_5_15_before": [round(v, 2) for v in os.getloadavg()]}
    drawings = render_drawings(seed=args.seed, side=args.sent_side)  # before the clock and pinning: not the client's load
    process = None
    try:
        if args.url:
            url, pid = args.url, args.pid
        else:
            log = Path(tempfile.mkdtemp(prefix="live-capacity-")) / "server.log"
            process, url, _ = start_server("app", "app", log, cores=args.server_cores or None)
            pid = process.pid
        pin_to(client_cores)
        results: list[LoadResult] = []
        for visitors in loads:
            result = run_load(url, visitors, args.duration, args.seed, server_pid=pid, drawings=drawings)
            results.append(result)
            report.loads.append(as_dict(result))
            print(_row(result), file=sys.stderr, flush=True)
            missed = result.errors or result.p95_ms is None or result.p95_ms > args.p95_ms
            if missed and args.stop_after_miss:
                break
    finally:
        if process is not None:
            stop_server(process)
    report.visitors_per_server_core = capacity(results, args.p95_ms)
    kept = [r for r in results if r.visitors == report.visitors_per_server_core] or results[:1]
    report.server_cpu_ms_per_answer = kept[0].server_cpu_ms_per_answer
    report.machine["load_average_1_5_15_after"] = [round(v, 2) for v in os.getloadavg()]
    emit(report, table(report), args.json)
    return 1 if any(r.errors for r in results if r.visitors <= max(report.visitors_per_server_core, loads[0])) else 0


def _row(r: LoadResult) -> str:
    cpu = "" if r.server_cpu_ms_per_answer is None else f"{r.server_cpu_ms_per_answer:9.1f}"
    p50 = "-" if r.p50_ms is None else f"{r.p50_ms:.0f}"
    p95 = "-" if r.p95_ms is None else f"{r.p95_ms:.0f}"
    return (f"{r.visitors:9d}{r.answers:9d}{r.answers_per_s:10.1f}{p50:>9s}{p95:>9s}{r.later_than_1s:9d}{r.errors:8d}"
            f"{cpu:>10s}{1000 * r.client_cpu_s / max(r.answers, 1):10.1f}")  # fmt: skip


def table(report: CapacityReport) -> str:
    where = f"server on CPU {report.server_cores or 'any'}, client on CPU {report.client_cores or 'any'}"
    lines = [f"visitors drawing (a stroke every 0.8-1.2 s), {where}",
             f"{'visitors':>9s}{'answers':>9s}{'per s':>10s}{'p50 ms':>9s}{'p95 ms':>9s}{'> 1 s':>9s}{'errors':>8s}"
             f"{'srv ms/a':>10s}{'cli ms/a':>10s}"]  # fmt: skip
    for load in report.loads:
        lines.append(_row(LoadResult(**{k: v for k, v in load.items() if k != "answers_per_s"})))
    lines.append(f"capacity: {report.visitors_per_server_core} visitors per server core at p95 <= {report.p95_bound_ms:.0f} ms"
                 + (f"; server CPU {report.server_cpu_ms_per_answer:.1f} ms per answer" if report.server_cpu_ms_per_answer else ""))  # fmt: skip
    return "\n".join(lines)
