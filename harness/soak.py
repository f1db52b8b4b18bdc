"""The app for a set time under a steady mix of visitors: does it keep answering, in words, without growing?

    python scripts/soak.py --duration 600 --json docs/soak.json --plot docs/soak-rss.png
    python scripts/soak.py --duration 60 --interval 10        # the short version CI runs

Starts the app (``app.py``) in a child process, as the load test does (``harness/load_test.py``), and runs
``--users`` visitors, each with its own ``gradio_client`` session, for ``--duration`` seconds. Each visitor waits
0.5-1.5 s (seeded) between requests and goes round a fixed mix: match a drawing, teach it as a symbol, classify a
drawing among the symbols taught, compare two drawings; once ten symbols are taught, it forgets them. About one
request in ten (``--bad-every``) is a bad upload instead: a text file named ``.png``, an empty file, a truncated
PNG or a 20,000 x 20,000 PNG bomb, sent to match or compare. A bad upload counts as answered when the app refuses
it with the sentence the package's ``open_image`` gives that same file (docs/errors.md lists them all).

Every ``--interval`` seconds a sample records the requests answered in that interval, the errors among them,
p50/p95 latency and the server's RSS. At the end: the totals, and the slope of RSS after the warm-up (a straight
line fitted to the samples after ``--warm-up`` seconds), which is "flat" under 1 MB per minute. The report goes
out as a table or JSON, and ``--plot`` draws RSS over time. Exit status 1 when a good request failed or a bad one
got anything but its sentence.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

from siamese.transforms import ImageInputError, open_image
from siamese.utils import percentile

from harness.load_test import CHARACTERS, drawings, match_request, new_client, one_request, rss_mb, start_server, stop_server
from harness.report import add_json_argument, emit

FLAT_MB_PER_MIN = 1.0
TAUGHT_BEFORE_FORGETTING = 10
THINK_S = (0.5, 1.5)
GOOD_MIX = ("match", "teach", "classify", "compare", "match", "compare", "match", "teach", "classify")


@dataclass
class Sample:
    t_s: float  # seconds since the visitors started
    requests: int  # good requests answered in the interval
    errors: int  # good requests that failed in the interval
    bad: int  # bad uploads answered in the interval
    bad_wrong: int  # of which, answered with anything but their sentence
    p50_s: float | None
    p95_s: float | None
    rss_mb: float | None


@dataclass
class Report:
    users: int
    duration_s: float
    interval_s: float
    warm_up_s: float
    requests: int = 0
    errors: int = 0
    by_kind: dict[str, int] = field(default_factory=dict)
    bad: int = 0
    bad_answered: int = 0  # refused with their sentence
    p50_s: float | None = None
    p95_s: float | None = None
    rss_start_mb: float | None = None  # after the warm-up requests, before the visitors
    rss_end_mb: float | None = None
    rss_peak_mb: float | None = None
    rss_slope_mb_per_min: float | None = None  # after the warm-up
    rss_flat: bool | None = None
    samples: list[Sample] = field(default_factory=list)
    first_errors: list[str] = field(default_factory=list)
    machine: dict = field(default_factory=dict)
    command: str = ""

    @property
    def passed(self) -> bool:
        return self.errors == 0 and self.bad_answered == self.bad


# --- the bad uploads ----------------------------------------------------------------------------------------


def bad_files(folder: Path, good: str) -> dict[str, str]:
    """Bad uploads, each with the sentence the package gives it: what the app must answer."""
    from PIL import Image  # noqa: PLC0415

    paths = {"text named .png": folder / "notes.png", "empty file": folder / "empty.png",
             "truncated PNG": folder / "truncated.png", "PNG bomb": folder / "bomb.png"}  # fmt: skip
    paths["text named .png"].write_bytes(b"this is not a png, just text with a .png name\n")
    paths["empty file"].write_bytes(b"")
    png = Path(good).read_bytes()
    paths["truncated PNG"].write_bytes(png[: len(png) // 2])
    Image.new("1", (20_000, 20_000), 1).save(paths["PNG bomb"])  # 400 megapixels in ~90 kB
    sentences = {}
    for name, path in paths.items():
        try:
            open_image(path)
        except ImageInputError as error:
            sentences[str(path)] = str(error)
        else:
            raise RuntimeError(f"{name}: open_image read it, so it is not a bad upload")
    return sentences


# --- the visitors -------------------------------------------------------------------------------------------


class Event(NamedTuple):
    at: float  # monotonic seconds when the answer came
    kind: str  # match, teach, classify, compare, forget, bad, connect
    seconds: float
    outcome: str  # ok, error (a good request); bad, bad_wrong (a bad upload, answered with its sentence or not)
    message: str = ""


@dataclass
class Log:
    """What the visitors record, under one lock."""

    events: list[Event] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, kind: str, elapsed: float, outcome: str, message: str = "") -> None:
        with self.lock:
            self.events.append(Event(time.monotonic(), kind, elapsed, outcome, message))

    def between(self, start: float, end: float) -> list[Event]:
        with self.lock:
            return [event for event in self.events if start <= event.at < end]


@dataclass
class Counts:
    """What a list of events adds up to."""

    latencies: list[float]  # of the good requests answered
    errors: int
    bad: int
    bad_wrong: int

    @classmethod
    def of(cls, events: list[Event]) -> Counts:
        outcomes = [event.outcome for event in events]
        return cls(latencies=[event.seconds for event in events if event.outcome == "ok"], errors=outcomes.count("error"),
                   bad=outcomes.count("bad") + outcomes.count("bad_wrong"), bad_wrong=outcomes.count("bad_wrong"))  # fmt: skip


def _rounded(value: float | None, digits: int) -> float | None:
    return None if value is None else round(value, digits)


def teach_request(client, path: str, name: str, timeout: float) -> str | None:
    from gradio_client import handle_file  # noqa: PLC0415

    sketch = {"background": None, "layers": [], "composite": handle_file(path)}
    gallery = client.submit(sketch, name, api_name="/teach").result(timeout=timeout)[0]
    return None if gallery and gallery[-1]["caption"] == name else f"teach: {name!r} is not the last taught symbol"


def classify_request(client, path: str, timeout: float) -> str | None:
    from gradio_client import handle_file  # noqa: PLC0415

    sketch = {"background": None, "layers": [], "composite": handle_file(path)}
    scores = client.submit(sketch, api_name="/classify").result(timeout=timeout)[0]
    return None if scores.get("confidences") else f"classify: malformed answer {str(scores)[:200]}"


def bad_request(client, path: str, good: str, i: int, timeout: float) -> str:
    """Send a bad upload to match or compare; the message of the refusal (an ``AppError``)."""
    from gradio_client import handle_file  # noqa: PLC0415
    from gradio_client.exceptions import AppError  # noqa: PLC0415

    try:
        if i % 2:
            client.submit({"background": None, "layers": [], "composite": handle_file(path)}, "All alphabets", 5,
                          api_name="/match").result(timeout=timeout)  # fmt: skip
        else:
            client.submit(handle_file(path), handle_file(good), CHARACTERS, api_name="/compare").result(timeout=timeout)
    except AppError as error:
        return str(error)
    return "(answered as if it were an image)"


def visitor(number: int, url: str, files: list[str], bad: dict[str, str], args: argparse.Namespace, end: float,
            log: Log) -> None:  # fmt: skip
    """One visitor's session: the mix, a pause between requests, a bad upload every ``args.bad_every``."""
    try:
        client = new_client(url)
    except Exception as error:  # noqa: BLE001 - a visitor who cannot connect is an error
        log.add("connect", 0.0, "error", f"visitor {number}: could not connect: {type(error).__name__}: {error}")
        return
    rng = random.Random(args.seed * 1_000 + number)
    bad_paths, taught, i = sorted(bad), 0, 0
    while time.monotonic() < end:
        time.sleep(rng.uniform(*THINK_S))
        if time.monotonic() >= end:
            break
        i += 1
        drawing = files[(number * 101 + i) % len(files)]
        started = time.monotonic()
        if i % args.bad_every == 0:
            path = bad_paths[(number + i // args.bad_every) % len(bad_paths)]
            try:
                message = bad_request(client, path, drawing, i // args.bad_every, args.request_timeout)
            except Exception as error:  # noqa: BLE001 - anything but the refusal is counted
                message = f"{type(error).__name__}: {error}"
            log.add("bad", time.monotonic() - started, "bad" if message == bad[path] else "bad_wrong",
                    "" if message == bad[path] else f"{Path(path).name}: {message[:300]}")  # fmt: skip
            continue
        kind = GOOD_MIX[i % len(GOOD_MIX)]
        if kind == "teach" and taught == TAUGHT_BEFORE_FORGETTING:
            kind = "forget"
        elif kind == "classify" and taught == 0:
            kind = "teach"  # nothing to classify among yet
        try:
            if kind == "match":
                problem = match_request(client, drawing, "All alphabets", args.request_timeout)
            elif kind == "compare":
                problem = one_request(client, "compare", files, number * 1000 + i, args.request_timeout)
            elif kind == "teach":
                problem = teach_request(client, drawing, f"symbol {number}-{i}", args.request_timeout)
                taught += problem is None
            elif kind == "classify":
                problem = classify_request(client, drawing, args.request_timeout)
            else:
                client.submit(api_name="/forget").result(timeout=args.request_timeout)
                problem, taught = None, 0
        except Exception as error:  # noqa: BLE001 - every failure is counted and reported
            problem = f"{kind}: {type(error).__name__}: {str(error)[:300]}"
        log.add(kind, time.monotonic() - started, "ok" if problem is None else "error", problem or "")


# --- the samples ----------------------------------------------------------------------------------------------


def sample(log: Log, start: float, end: float, t_s: float, pid: int) -> Sample:
    """What happened between ``start`` and ``end`` (monotonic seconds), at ``t_s``, and the server's RSS now."""
    counts = Counts.of(log.between(start, end))
    return Sample(t_s=round(t_s, 1), requests=len(counts.latencies), errors=counts.errors, bad=counts.bad,
                  bad_wrong=counts.bad_wrong, p50_s=_rounded(percentile(counts.latencies, 0.5), 3),
                  p95_s=_rounded(percentile(counts.latencies, 0.95), 3), rss_mb=_rounded(rss_mb(pid), 1))  # fmt: skip


def slope_per_min(points: list[tuple[float, float]]) -> float | None:
    """The least-squares slope of (seconds, MB) points, in MB per minute; None with fewer than two."""
    if len(points) < 2:
        return None
    n = len(points)
    mean_t, mean_v = sum(t for t, _ in points) / n, sum(v for _, v in points) / n
    spread = sum((t - mean_t) ** 2 for t, _ in points)
    if spread == 0:
        return None
    return 60.0 * sum((t - mean_t) * (v - mean_v) for t, v in points) / spread


def run(args: argparse.Namespace) -> Report:
    warm_up = args.warm_up if args.warm_up is not None else min(120.0, args.duration / 3)
    report = Report(users=args.users, duration_s=args.duration, interval_s=args.interval, warm_up_s=warm_up,
                    command=" ".join(["python scripts/soak.py", *args.argv]))  # fmt: skip
    report.machine = {"cpus": os.cpu_count(), "load_average_1_5_15": [round(v, 2) for v in os.getloadavg()]}
    with tempfile.TemporaryDirectory(prefix="soak-") as temporary:
        folder = Path(temporary)
        files = drawings(folder)
        bad = bad_files(folder, files[0])
        process, url, _ = start_server("app", "app", folder / "server.log")
        try:
            warm = new_client(url)
            for kind in ("match", "compare"):
                problem = one_request(warm, kind, files, 0, args.request_timeout)
                if problem:
                    raise RuntimeError(f"warm-up failed: {problem}")
            report.rss_start_mb = rss_mb(process.pid)
            log = Log()
            began = time.monotonic()
            report.samples.append(Sample(0.0, 0, 0, 0, 0, None, None, _rounded(report.rss_start_mb, 1)))
            end = began + args.duration
            threads = [threading.Thread(target=visitor, args=(n, url, files, bad, args, end, log), daemon=True, name=f"visitor-{n}")
                       for n in range(args.users)]  # fmt: skip
            for thread in threads:
                thread.start()
            last = began
            while True:
                now = min(last + args.interval, end)
                time.sleep(max(now - time.monotonic(), 0))
                if now == end:  # the last interval also counts the answers to requests sent before the end
                    for thread in threads:
                        thread.join(args.request_timeout + 30)
                report.samples.append(sample(log, last, now if now < end else float("inf"), now - began, process.pid))
                if args.progress:
                    print(_progress(report.samples[-1]), flush=True)
                if now == end:
                    break
                last = now
            stuck = sum(thread.is_alive() for thread in threads)
            report.rss_end_mb = rss_mb(process.pid)
        finally:
            stop_server(process)
    counts = Counts.of(log.events)
    report.requests, report.errors = len(counts.latencies), counts.errors + stuck
    report.by_kind = dict(sorted(Counter(event.kind for event in log.events).items()))
    report.bad, report.bad_answered = counts.bad, counts.bad - counts.bad_wrong
    report.first_errors = [event.message for event in log.events if event.outcome in ("error", "bad_wrong")][:10]
    if stuck:
        report.first_errors.append(f"{stuck} visitor(s) still waiting after the end")
    report.p50_s, report.p95_s = (_rounded(percentile(counts.latencies, q), 3) for q in (0.5, 0.95))
    rss = [s.rss_mb for s in report.samples if s.rss_mb is not None]
    report.rss_peak_mb = max(rss) if rss else None
    slope = slope_per_min([(s.t_s, s.rss_mb) for s in report.samples if s.t_s > warm_up and s.rss_mb is not None])
    report.rss_slope_mb_per_min = _rounded(slope, 2)
    report.rss_flat = None if slope is None else abs(slope) < FLAT_MB_PER_MIN
    return report


def _progress(s: Sample) -> str:
    ms = lambda v: "-" if v is None else f"{1000 * v:.0f} ms"  # noqa: E731
    return (f"{s.t_s:6.0f} s  requests {s.requests:4d}  errors {s.errors}  bad {s.bad} (wrong {s.bad_wrong})  "
            f"p50 {ms(s.p50_s)}  p95 {ms(s.p95_s)}  RSS {s.rss_mb} MB")  # fmt: skip


# --- the report -----------------------------------------------------------------------------------------------


def table(report: Report) -> str:
    ms = lambda s: "-" if s is None else f"{1000 * s:.0f} ms"  # noqa: E731
    mb = lambda v: "-" if v is None else f"{v:.0f} MB"  # noqa: E731
    slope = report.rss_slope_mb_per_min
    rows = [
        ("visitors x duration", f"{report.users} x {report.duration_s:g} s (samples every {report.interval_s:g} s)"),
        ("good requests answered", f"{report.requests}  ({', '.join(f'{k} {v}' for k, v in report.by_kind.items() if k != 'bad')})"),
        ("errors on good requests", str(report.errors)),
        ("bad uploads answered with their sentence", f"{report.bad_answered} of {report.bad}"),
        ("latency p50 / p95", f"{ms(report.p50_s)} / {ms(report.p95_s)}"),
        ("server RSS start / peak / end", f"{mb(report.rss_start_mb)} / {mb(report.rss_peak_mb)} / {mb(report.rss_end_mb)}"),
        (f"RSS slope after {report.warm_up_s:.0f} s",
         "-" if slope is None else f"{slope:+.2f} MB/min ({'flat' if report.rss_flat else 'growing'}: the bound is {FLAT_MB_PER_MIN:g})"),
        ("machine", f"{report.machine['cpus']} CPUs, load average {report.machine['load_average_1_5_15']}"),
    ]  # fmt: skip
    width = max(len(name) for name, _ in rows)
    lines = [f"{name:<{width}}  {value}" for name, value in rows]
    lines += [f"  error: {message}" for message in report.first_errors]
    return "\n".join(lines)


def plot(report: Report, path: str) -> None:
    """RSS over time, the warm-up shaded and the fitted slope after it drawn, as a PNG."""
    import matplotlib  # noqa: PLC0415

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415

    from siamese.utils import replacing  # noqa: PLC0415

    points = [(s.t_s / 60, s.rss_mb) for s in report.samples if s.rss_mb is not None]
    figure, axes = plt.subplots(figsize=(7, 3.5), dpi=110)
    axes.axvspan(0, report.warm_up_s / 60, color="0.9", label="warm-up")
    axes.plot([t for t, _ in points], [v for _, v in points], marker="o", markersize=3, label="server RSS")
    after = [(t, v) for t, v in points if t * 60 > report.warm_up_s]
    if report.rss_slope_mb_per_min is not None and after:
        mean_t, mean_v = sum(t for t, _ in after) / len(after), sum(v for _, v in after) / len(after)
        ends = [after[0][0], after[-1][0]]
        axes.plot(ends, [mean_v + report.rss_slope_mb_per_min * (t - mean_t) for t in ends], linestyle="--",
                  label=f"fit after warm-up: {report.rss_slope_mb_per_min:+.2f} MB/min")  # fmt: skip
    axes.set_xlabel("minutes")
    axes.set_ylabel("RSS (MB)")
    axes.set_title(f"{report.users} visitors, {report.requests} good requests, {report.errors} errors, "
                   f"{report.bad_answered}/{report.bad} bad uploads answered", fontsize=9)  # fmt: skip
    axes.legend(fontsize=8, loc="lower right")
    low = min(v for _, v in points) if points else 0
    axes.set_ylim(max(low - 100, 0), (max(v for _, v in points) if points else 1) + 100)
    figure.tight_layout()
    with replacing(path) as temporary:
        figure.savefig(temporary, format="png")
    plt.close(figure)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=float, default=600.0, help="seconds of visitors (default 600)")
    parser.add_argument("--users", type=int, default=4, help="visitors at once, each its own session (default 4)")
    parser.add_argument("--interval", type=float, default=30.0, help="seconds between samples (default 30)")
    parser.add_argument("--warm-up", type=float, default=None, help="seconds left out of the RSS slope (default: a third, at most 120)")
    parser.add_argument("--bad-every", type=int, default=10, help="every n-th request of a visitor is a bad upload (default 10)")
    parser.add_argument("--request-timeout", type=float, default=120.0, help="seconds before a request counts as hung")
    parser.add_argument("--seed", type=int, default=0, help="seeds the pauses between requests (default 0)")
    parser.add_argument("--plot", metavar="PATH", help="draw RSS over time to this PNG")
    parser.add_argument("--quiet", dest="progress", action="store_false", help="no line per sample while it runs")
    add_json_argument(parser)
    args = parser.parse_args(argv)
    if args.duration <= 0 or args.interval <= 0 or args.users < 1 or args.bad_every < 2:
        parser.error("--duration and --interval must be positive, --users at least 1, --bad-every at least 2")
    args.argv = list(argv) if argv is not None else sys.argv[1:]
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.json == "-":
        args.progress = False  # stdout is the JSON
    report = run(args)
    emit(report, table(report), args.json)
    if args.plot:
        plot(report, args.plot)
    return 0 if report.passed else 1
