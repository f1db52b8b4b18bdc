"""Many visitors at once: N concurrent ``gradio_client`` users on loopback for D seconds.

    python scripts/load_test.py [--users 16] [--duration 60] [--json [PATH]]
    python scripts/load_test.py --profile live                   # visitors drawing: a match per stroke, ~1/s each
    python scripts/load_test.py --concurrency 1 --max-size 64      # try other queue settings
    python scripts/load_test.py --url http://127.0.0.1:7860/ --pid 1234  # drive a server that is already running

Starts the app (``app.py``) in a child process on a free loopback port, as ``make run`` does, waits until it
answers, warms it up (one match, one compare), then runs ``--users`` threads, each with its own client (its own
session), for ``--duration`` seconds, in one of two profiles:

- ``busy`` (the default): each user sends requests back to back, alternating ``match`` (an Omniglot drawing
  against all 1,623 characters, top 5) and ``compare`` (two drawings): the most the server can be asked.
- ``live``: each user draws as a visitor on the "Draw & match" page does, where every stroke sends a ``match``
  (``trigger_mode="always_last"``): a pen stroke on a 420x420 canvas every 0.8-1.2 s (seeded by ``--seed``), a
  fresh drawing every 8 strokes, alphabets alternating per drawing between "All alphabets" and one named
  alphabet. A request goes only after the previous answer came, carrying every stroke drawn meanwhile, so a slow
  answer makes the next go at once, as the browser does.

Each user's loop is bounded by the duration and by ``--max-requests-per-user``, and each request by
``--request-timeout``. A request counts as an error if it raises, times out, or returns something that is not a
ranking / a probability in [0, 1].

Reports requests served, errors (with the first messages), throughput, p50/p95/p99 latency (the whole round trip:
upload, queue, model, reply), how many answers took over 1 s (a drawing visitor notices the lag), the strokes
drawn (live) and the server's resident memory (RSS: after start-up, after warm-up, peak, end), as a table or as
JSON. Exit status 1 if any request failed.
"""

from __future__ import annotations

import argparse
import math
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from siamese.utils import free_port, percentile

from harness.report import add_json_argument, emit
ROOT = Path(__file__).resolve().parents[1]

CHARACTERS = "Handwritten characters (Omniglot)"
ALL_ALPHABETS = "All alphabets"
PROFILES = ("busy", "live")
NOTICED_S = 1.0  # an answer later than this lags behind the pen: the visitor has drawn the next stroke
# The live profile's visitor: the page's canvas and pen (app.CANVAS, app.PEN_WIDTH; a test keeps them equal).
CANVAS = (420, 420)
PEN_WIDTH = 16
STROKE_INTERVAL_S = (0.8, 1.2)
STROKES_PER_DRAWING = 8
# The child process: the app as app.py launches it, with other queue settings if asked for.
_SERVER = """
import sys, app
concurrency, max_size = sys.argv[2], sys.argv[3]
demo = app.create_demo()
if concurrency != "app" or max_size != "app":
    current = demo._queue
    demo.queue(
        default_concurrency_limit=current.default_concurrency_limit if concurrency == "app" else int(concurrency),
        max_size=current.max_size if max_size == "app" else (int(max_size) or None),
    )
print("queue:", demo._queue.default_concurrency_limit, demo._queue.max_size, flush=True)
demo.launch(server_name="127.0.0.1", server_port=int(sys.argv[1]), quiet=True, **app.launch_kwargs())
"""


@dataclass
class Report:
    users: int
    duration_s: float
    profile: str = "busy"
    requests: int = 0
    errors: int = 0
    by_endpoint: dict[str, int] = field(default_factory=dict)
    throughput_per_s: float = 0.0
    p50_s: float | None = None
    p95_s: float | None = None
    p99_s: float | None = None
    max_s: float | None = None
    over_1s: int = 0  # requests answered later than NOTICED_S
    over_1s_share: float | None = None
    strokes: int = 0  # live: strokes drawn; a request carries all those drawn since the previous one
    rss_after_startup_mb: float | None = None
    rss_start_mb: float | None = None  # after the warm-up requests
    rss_peak_mb: float | None = None
    rss_end_mb: float | None = None
    # What one request costs the server, whatever else the machine runs: its CPU seconds during the load / requests.
    server_cpu_per_request_s: float | None = None
    startup_s: float | None = None
    queue: dict = field(default_factory=dict)
    first_errors: list[str] = field(default_factory=list)
    machine: dict = field(default_factory=dict)
    command: str = ""


# --- memory ------------------------------------------------------------------------------------------------


def rss_mb(pid: int) -> float | None:
    """Resident memory of a process in MB (psutil when installed, else /proc); None if it cannot be read."""
    try:
        import psutil  # noqa: PLC0415

        return psutil.Process(pid).memory_info().rss / 2**20
    except ImportError:
        pass
    except Exception:  # noqa: BLE001 - the process is gone
        return None
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def cpu_s(pid: int) -> float | None:
    """CPU time (user + system) a process has used, in seconds, from /proc; None if it cannot be read."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return None


class PeakMemory(threading.Thread):
    """Samples a process's RSS every ``interval`` seconds until stopped; ``peak`` is the highest seen."""

    def __init__(self, pid: int | None, interval: float = 0.5) -> None:
        super().__init__(daemon=True)
        self.pid, self.interval, self.peak = pid, interval, None
        self.halt = threading.Event()

    def run(self) -> None:
        while self.pid is not None and not self.halt.is_set():
            value = rss_mb(self.pid)
            if value is not None:
                self.peak = value if self.peak is None else max(self.peak, value)
            self.halt.wait(self.interval)


# --- the server ----------------------------------------------------------------------------------------------


def start_server(concurrency: str, max_size: str, log_path: Path, timeout: float = 300,
                 cores: str | None = None) -> tuple[subprocess.Popen, str, float]:  # fmt: skip
    """The app in a child process (on the CPU ``cores`` only, through ``taskset``, when given, e.g. "0");
    returns it, its URL and how long it took to answer."""
    port = free_port()
    env = {**os.environ, "GRADIO_ANALYTICS_ENABLED": "False", "PYTHONUNBUFFERED": "1"}
    log = open(log_path, "w")  # noqa: SIM115 - closed with the process
    started = time.monotonic()
    pinned = ["taskset", "--cpu-list", cores] if cores else []
    process = subprocess.Popen([*pinned, sys.executable, "-c", _SERVER, str(port), concurrency, max_size], cwd=ROOT, env=env,
                               stdout=log, stderr=subprocess.STDOUT)  # fmt: skip
    url = f"http://127.0.0.1:{port}/"
    try:
        wait_until_answering(process, url + "gradio_api/info", log_path, timeout)
    except (RuntimeError, TimeoutError):
        stop_server(process)
        raise
    return process, url, time.monotonic() - started


def wait_until_answering(process: subprocess.Popen, url: str, log_path: Path, timeout: float) -> None:
    """Return once ``url`` answers 200; the end of the server's log goes with the error when it exits or stays silent."""
    import httpx  # noqa: PLC0415

    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if process.poll() is not None:
            raise RuntimeError(f"the app exited with status {process.returncode}; the end of {log_path}:\n{log_path.read_text()[-3000:]}")
        try:
            if httpx.get(url, timeout=5).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise TimeoutError(f"{url} did not answer within {timeout:.0f} s; the end of {log_path}:\n{log_path.read_text()[-3000:]}")


def stop_server(process: subprocess.Popen, grace: float = 15) -> None:
    """Stop the app as Ctrl-C does, killing it when it has not gone within ``grace`` seconds."""
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=grace)


# --- the users ------------------------------------------------------------------------------------------------


def drawings(folder: Path, count: int = 64) -> list[str]:
    """``count`` Omniglot drawings (drawer 2 of the test alphabets) saved as PNG files, as a visitor sends them."""
    from siamese.data import load_omniglot  # noqa: PLC0415

    data = load_omniglot("test", drawers=(2,))
    paths = []
    for i in range(count):
        path = folder / f"drawing-{i:03d}.png"
        data.images[(i * 37) % len(data.images)].convert("L").save(path)
        paths.append(str(path))
    return paths


def match_request(client, path: str, alphabet: str, timeout: float) -> str | None:
    """Send a drawing to ``match`` as a Sketchpad value; None when the answer is well-formed, else what is wrong."""
    from gradio_client import handle_file  # noqa: PLC0415

    sketch = {"background": None, "layers": [], "composite": handle_file(path)}
    answer = client.submit(sketch, alphabet, 5, api_name="/match").result(timeout=timeout)
    scores, verdict = answer[0], answer[-1]  # the ranking first, the verdict last
    if len(scores["confidences"]) != 5 or not verdict:
        return f"match: malformed answer {str(scores)[:200]}"
    return None


def one_request(client, kind: str, files: list[str], i: int, timeout: float) -> str | None:
    """Send one request; returns None when the answer is well-formed, else what was wrong."""
    from gradio_client import handle_file  # noqa: PLC0415

    if kind == "match":
        return match_request(client, files[i % len(files)], ALL_ALPHABETS, timeout)
    a, b = handle_file(files[i % len(files)]), handle_file(files[(i * 7 + 3) % len(files)])
    label, view_a, view_b, verdict = client.submit(a, b, CHARACTERS, api_name="/compare").result(timeout=timeout)
    same = {c["label"]: c["confidence"] for c in label["confidences"]}.get("same")
    if same is None or not 0.0 <= same <= 1.0 or "P(same)" not in verdict:
        return f"compare: malformed answer {str(label)[:200]}"
    return None


@dataclass
class Tally:
    """What the users' threads record, under one lock."""

    latencies: list[float] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)
    strokes: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, kind: str, elapsed: float, problem: str | None) -> None:
        with self.lock:
            self.counts[kind] = self.counts.get(kind, 0) + 1
            if problem is None:
                self.latencies.append(elapsed)
            else:
                self.failures.append(problem)

    def timed(self, kind: str, send) -> None:
        """Run ``send()`` (None or what was wrong) and record its round trip; every failure is counted."""
        started = time.monotonic()
        try:
            problem = send()
        except Exception as error:  # noqa: BLE001 - every failure is counted and reported
            problem = f"{kind}: {type(error).__name__}: {str(error)[:300]}"
        self.record(kind, time.monotonic() - started, problem)


def new_client(url: str):
    """A ``gradio_client.Client`` (its own session) that measures the server rather than itself.

    gradio_client opens a new ``httpx`` client for each upload, request and downloaded file; with certificate checks
    each loads the CA bundle, 60 ms of CPU, so the users would spend more CPU than the server they share the machine
    with. Loopback HTTP has no certificate to check.
    """
    from gradio_client import Client  # noqa: PLC0415

    return Client(url, verbose=False, ssl_verify=False)


def connect(number: int, url: str, tally: Tally):
    """A user's own client, or None, recorded as an error: a visitor who cannot connect."""
    try:
        return new_client(url)
    except Exception as error:  # noqa: BLE001
        with tally.lock:
            tally.failures.append(f"user {number}: could not connect: {type(error).__name__}: {error}")
        return None


def user(number: int, url: str, files: list[str], end: float, max_requests: int, timeout: float, tally: Tally) -> None:
    """The busy profile: requests back to back, alternating match and compare."""
    client = connect(number, url, tally)
    for i in range(max_requests if client else 0):
        if time.monotonic() >= end:
            break
        kind = "match" if (number + i) % 2 == 0 else "compare"
        tally.timed(kind, lambda: one_request(client, kind, files, number * 1000 + i, timeout))


class Visitor:
    """A visitor's pen on the page's canvas: a stroke every 0.8-1.2 s from ``start``, a fresh drawing every 8 strokes.

    The strokes fall on their own clock, whatever the server does; ``draw_until`` catches the canvas up to a moment.
    """

    def __init__(self, rng: random.Random, start: float) -> None:
        from PIL import Image  # noqa: PLC0415

        self.rng, self.next_stroke, self.strokes, self.drawings = rng, start, 0, 0
        self.canvas = Image.new("RGBA", CANVAS, "white")

    def draw_until(self, moment: float) -> None:
        """Draw every stroke due by ``moment``."""
        from PIL import Image, ImageDraw  # noqa: PLC0415

        while self.next_stroke <= moment:
            if self.strokes and self.strokes % STROKES_PER_DRAWING == 0:
                self.canvas, self.drawings = Image.new("RGBA", CANVAS, "white"), self.drawings + 1
            ImageDraw.Draw(self.canvas).line(self.stroke(), fill="black", width=PEN_WIDTH, joint="curve")
            self.strokes += 1
            self.next_stroke += self.rng.uniform(*STROKE_INTERVAL_S)

    def stroke(self) -> list[tuple[float, float]]:
        """A pen stroke: 2-5 segments turning gently from a point near the middle, where a character is drawn."""
        width, height = CANVAS
        x, y = self.rng.uniform(0.3, 0.7) * width, self.rng.uniform(0.3, 0.7) * height
        angle, points = self.rng.uniform(0, 2 * math.pi), [(x, y)]
        for _ in range(self.rng.randint(2, 5)):
            angle += self.rng.uniform(-1.2, 1.2)
            length = self.rng.uniform(30, 80)
            x = min(max(x + length * math.cos(angle), 20), width - 20)
            y = min(max(y + length * math.sin(angle), 20), height - 20)
            points.append((x, y))
        return points


def alphabet_names(client) -> list[str]:
    """The named alphabets of the page's "Alphabet" dropdown, as a visitor can choose them."""
    for component in client.config["components"]:
        props = component.get("props", {})
        if component.get("type") == "dropdown" and props.get("label") == "Alphabet":
            values = [choice[1] if isinstance(choice, (list, tuple)) else choice for choice in props.get("choices", [])]
            return [value for value in values if value != ALL_ALPHABETS]
    return []


def live_user(number: int, url: str, folder: Path, seed: int, named: list[str], end: float, max_requests: int,
              timeout: float, tally: Tally) -> None:  # fmt: skip
    """The live profile: a match per stroke, the next only after the answer, with every stroke drawn meanwhile."""
    client = connect(number, url, tally)
    if client is None:
        return
    alphabets = [ALL_ALPHABETS, named[number % len(named)]]
    rng = random.Random(seed * 1_000 + number)
    visitor = Visitor(rng, time.monotonic() + rng.uniform(*STROKE_INTERVAL_S))  # the visitors do not start in step
    for i in range(max_requests):
        time.sleep(max(min(visitor.next_stroke, end) - time.monotonic(), 0))
        if time.monotonic() >= end:
            break
        visitor.draw_until(time.monotonic())
        path = folder / f"live-{number:03d}-{i:05d}.png"
        visitor.canvas.save(path)
        alphabet = alphabets[(number + visitor.drawings) % len(alphabets)]
        tally.timed("match", lambda: match_request(client, str(path), alphabet, timeout))
    visitor.draw_until(min(time.monotonic(), end))  # the pen went on while the last answer was awaited
    with tally.lock:
        tally.strokes += visitor.strokes


def run(args: argparse.Namespace) -> Report:
    command = " ".join(["python scripts/load_test.py", *args.argv])
    report = Report(users=args.users, duration_s=args.duration, profile=args.profile, command=command)
    report.machine = {"cpus": os.cpu_count(), "load_average_1_5_15": [round(v, 2) for v in os.getloadavg()]}
    with tempfile.TemporaryDirectory(prefix="load-test-") as temporary:
        folder = Path(temporary)
        files = drawings(folder)
        process, pid = None, args.pid
        try:
            if args.url:
                url = args.url if args.url.endswith("/") else args.url + "/"
            else:
                process, url, report.startup_s = start_server(args.concurrency, args.max_size, folder / "server.log")
                pid = process.pid
            report.rss_after_startup_mb = rss_mb(pid) if pid else None
            warm = new_client(url)
            for kind in ("match", "compare"):  # the first of each builds what later ones reuse
                problem = one_request(warm, kind, files, 0, args.request_timeout)
                if problem:
                    raise RuntimeError(f"warm-up failed: {problem}")
            named = alphabet_names(warm)
            if args.profile == "live" and not named:
                raise RuntimeError("the page offers no named alphabet (no 'Alphabet' dropdown) to draw in")
            info = warm.view_api(print_info=False, return_format="dict")
            report.queue = {"default_concurrency_limit": args.concurrency, "max_size": args.max_size,
                            "endpoints": len(info["named_endpoints"])}  # fmt: skip
            if process is not None:
                head = (folder / "server.log").read_text().splitlines()
                settings = [line for line in head if line.startswith("queue:")]
                if settings:
                    limit, size = settings[0].split()[1:3]
                    report.queue.update(default_concurrency_limit=limit, max_size=size)
            report.rss_start_mb = rss_mb(pid) if pid else None
            cpu_start = cpu_s(pid) if pid else None

            peak = PeakMemory(pid)
            peak.start()
            tally = Tally()
            began = time.monotonic()
            end = began + args.duration
            target, inputs = (user, (files,)) if args.profile == "busy" else (live_user, (folder, args.seed, named))
            limits = (end, args.max_requests_per_user, args.request_timeout, tally)
            threads = [threading.Thread(target=target, args=(n, url, *inputs, *limits), daemon=True, name=f"user-{n}")
                       for n in range(args.users)]  # fmt: skip
            for thread in threads:
                thread.start()
            deadline = end + args.request_timeout + 30
            for thread in threads:
                thread.join(max(deadline - time.monotonic(), 0.1))
            stuck = sum(thread.is_alive() for thread in threads)
            wall = time.monotonic() - began
            peak.halt.set()
            peak.join(5)
            with tally.lock:
                latencies, failures = tally.latencies, tally.failures
                if stuck:
                    failures.append(f"{stuck} user(s) still waiting {wall:.0f} s after the start")
                report.requests = len(latencies)
                report.errors = len(failures)
                report.first_errors = failures[:10]
                report.by_endpoint = dict(sorted(tally.counts.items()))
                report.throughput_per_s = round(len(latencies) / wall, 2)
                report.strokes = tally.strokes
                report.over_1s = sum(latency > NOTICED_S for latency in latencies)
                report.over_1s_share = round(report.over_1s / len(latencies), 3) if latencies else None
                for name, q in (("p50_s", 0.5), ("p95_s", 0.95), ("p99_s", 0.99), ("max_s", 1.0)):
                    value = percentile(latencies, q)
                    setattr(report, name, round(value, 3) if value is not None else None)
            report.rss_end_mb = rss_mb(pid) if pid else None
            cpu_end = cpu_s(pid) if pid else None
            if cpu_start is not None and cpu_end is not None and report.requests:
                report.server_cpu_per_request_s = round((cpu_end - cpu_start) / report.requests, 3)
            report.rss_peak_mb = max(v for v in (peak.peak, report.rss_end_mb, report.rss_start_mb) if v is not None) if pid else None
        finally:
            if process is not None:
                stop_server(process)
    for name in ("rss_after_startup_mb", "rss_start_mb", "rss_peak_mb", "rss_end_mb", "startup_s"):
        value = getattr(report, name)
        if value is not None:
            setattr(report, name, round(value, 1))
    return report


def table(report: Report) -> str:
    ms = lambda s: "-" if s is None else f"{1000 * s:.0f} ms"  # noqa: E731
    mb = lambda v: "-" if v is None else f"{v:.0f} MB"  # noqa: E731
    rows = [
        ("profile, users x duration", f"{report.profile}, {report.users} x {report.duration_s:g} s"),
        ("queue (concurrency, max size)", f"{report.queue.get('default_concurrency_limit')}, {report.queue.get('max_size')}"),
        ("requests served", f"{report.requests}  ({', '.join(f'{k} {v}' for k, v in report.by_endpoint.items())})"),
        ("errors", str(report.errors)),
        ("throughput", f"{report.throughput_per_s:.2f} requests/s"),
        ("latency p50 / p95 / p99 / max", " / ".join(ms(v) for v in (report.p50_s, report.p95_s, report.p99_s, report.max_s))),
        (f"answered later than {NOTICED_S:g} s",
         "-" if report.over_1s_share is None else f"{report.over_1s} ({report.over_1s_share:.0%})"),
        ("server RSS after start-up", mb(report.rss_after_startup_mb)),
        ("server RSS start (after warm-up)", mb(report.rss_start_mb)),
        ("server RSS peak / end", f"{mb(report.rss_peak_mb)} / {mb(report.rss_end_mb)}"),
        ("server CPU per request", ms(report.server_cpu_per_request_s)),
        ("server start-up", "-" if report.startup_s is None else f"{report.startup_s:.1f} s"),
        ("machine", f"{report.machine['cpus']} CPUs, load average {report.machine['load_average_1_5_15']}"),
    ]
    if report.profile == "live":
        per_user = report.strokes / report.users / report.duration_s if report.users and report.duration_s else 0.0
        rows.insert(3, ("strokes drawn", f"{report.strokes}  ({per_user:.2f} per user per s)"))
    width = max(len(name) for name, _ in rows)
    lines = [f"{name:<{width}}  {value}" for name, value in rows]
    lines += [f"  error: {message}" for message in report.first_errors]
    return "\n".join(lines)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--profile", choices=PROFILES, default="busy",
                        help="busy: match and compare back to back; live: a match per stroke, ~1/s (default busy)")
    parser.add_argument("--users", type=int, default=16, help="concurrent users (default 16)")
    parser.add_argument("--duration", type=float, default=60.0, help="seconds of load (default 60)")
    parser.add_argument("--max-requests-per-user", type=int, default=10_000, help="a bound on each user's loop")
    parser.add_argument("--request-timeout", type=float, default=120.0, help="seconds before a request counts as hung")
    parser.add_argument("--seed", type=int, default=0, help="live: seeds the strokes and their timing (default 0)")
    parser.add_argument("--concurrency", default="app", help="the queue's default_concurrency_limit (default: app.py's)")
    parser.add_argument("--max-size", default="app", help="the queue's max_size, 0 for none (default: app.py's)")
    parser.add_argument("--url", help="drive this running app instead of starting one")
    parser.add_argument("--pid", type=int, help="with --url: the server's process id, for its memory")
    add_json_argument(parser)
    args = parser.parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    report = run(args)
    emit(report, table(report), args.json)
    return 1 if report.errors else 0


if __name__ == "__main__":
    sys.exit(main())
