"""Many visitors at once: N concurrent ``gradio_client`` users on loopback for D seconds, mixing match and compare.

    python scripts/load_test.py [--users 16] [--duration 60] [--json [PATH]]
    python scripts/load_test.py --concurrency 1 --max-size 64      # try other queue settings
    python scripts/load_test.py --url http://127.0.0.1:7860/ --pid 1234  # drive a server that is already running

Starts the app (``app.py``) in a child process on a free loopback port, as ``make run`` does, waits until it
answers, warms it up (one match, one compare), then runs ``--users`` threads, each with its own client (its own
session), for ``--duration`` seconds. Each user alternates ``match`` (an Omniglot drawing against all 1,623
characters, top 5) and ``compare`` (two drawings); its loop is bounded by the duration and by
``--max-requests-per-user``, and each request by ``--request-timeout``. A request counts as an error if it raises,
times out, or returns something that is not a ranking / a probability in [0, 1].

Reports requests served, errors (with the first messages), throughput, p50/p95/p99 latency (the whole round trip:
upload, queue, model, reply) and the server's resident memory (RSS: after start-up, after warm-up, peak, end),
as a table or as JSON. Exit status 1 if any request failed.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from siamese.utils import free_port, percentile

ROOT = Path(__file__).resolve().parents[1]

CHARACTERS = "Handwritten characters (Omniglot)"
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
    requests: int = 0
    errors: int = 0
    by_endpoint: dict[str, int] = field(default_factory=dict)
    throughput_per_s: float = 0.0
    p50_s: float | None = None
    p95_s: float | None = None
    p99_s: float | None = None
    max_s: float | None = None
    rss_after_startup_mb: float | None = None
    rss_start_mb: float | None = None  # after the warm-up requests
    rss_peak_mb: float | None = None
    rss_end_mb: float | None = None
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


def start_server(concurrency: str, max_size: str, log_path: Path, timeout: float = 300) -> tuple[subprocess.Popen, str, float]:
    """The app in a child process; returns it, its URL and how long it took to answer."""
    import httpx  # noqa: PLC0415

    port = free_port()
    env = {**os.environ, "GRADIO_ANALYTICS_ENABLED": "False", "PYTHONUNBUFFERED": "1"}
    log = open(log_path, "w")  # noqa: SIM115 - closed with the process
    started = time.monotonic()
    process = subprocess.Popen([sys.executable, "-c", _SERVER, str(port), concurrency, max_size], cwd=ROOT, env=env,
                               stdout=log, stderr=subprocess.STDOUT)  # fmt: skip
    url = f"http://127.0.0.1:{port}/"
    while time.monotonic() - started < timeout:
        if process.poll() is not None:
            raise RuntimeError(f"the app exited with status {process.returncode}; see {log_path}")
        try:
            if httpx.get(url + "gradio_api/info", timeout=5).status_code == 200:
                return process, url, time.monotonic() - started
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    stop_server(process)
    raise RuntimeError(f"the app did not answer within {timeout:.0f} s; see {log_path}")


def stop_server(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=15)


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


def one_request(client, kind: str, files: list[str], i: int, timeout: float):
    """Send one request; returns None when the answer is well-formed, else what was wrong."""
    from gradio_client import handle_file  # noqa: PLC0415

    if kind == "match":
        sketch = {"background": None, "layers": [], "composite": handle_file(files[i % len(files)])}
        scores, gallery, view, verdict = client.submit(sketch, "All alphabets", 5, api_name="/match").result(timeout=timeout)
        if len(scores["confidences"]) != 5 or len(gallery) != 5 or not verdict:
            return f"match: malformed answer {str(scores)[:200]}"
    else:
        a, b = handle_file(files[i % len(files)]), handle_file(files[(i * 7 + 3) % len(files)])
        label, view_a, view_b, verdict = client.submit(a, b, CHARACTERS, api_name="/compare").result(timeout=timeout)
        same = {c["label"]: c["confidence"] for c in label["confidences"]}.get("same")
        if same is None or not 0.0 <= same <= 1.0 or "P(same)" not in verdict:
            return f"compare: malformed answer {str(label)[:200]}"
    return None


def user(number: int, url: str, files: list[str], end: float, max_requests: int, timeout: float,
         latencies: list, failures: list, counts: dict, lock: threading.Lock) -> None:  # fmt: skip
    from gradio_client import Client  # noqa: PLC0415

    try:
        client = Client(url, verbose=False)
    except Exception as error:  # noqa: BLE001 - a visitor who cannot even connect is an error
        with lock:
            failures.append(f"user {number}: could not connect: {type(error).__name__}: {error}")
        return
    for i in range(max_requests):
        if time.monotonic() >= end:
            break
        kind = "match" if (number + i) % 2 == 0 else "compare"
        started = time.monotonic()
        try:
            problem = one_request(client, kind, files, number * 1000 + i, timeout)
        except Exception as error:  # noqa: BLE001 - every failure is counted and reported
            problem = f"{kind}: {type(error).__name__}: {str(error)[:300]}"
        elapsed = time.monotonic() - started
        with lock:
            counts[kind] = counts.get(kind, 0) + 1
            if problem is None:
                latencies.append(elapsed)
            else:
                failures.append(problem)


def run(args: argparse.Namespace) -> Report:
    report = Report(users=args.users, duration_s=args.duration, command=" ".join(["python scripts/load_test.py", *args.argv]))
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
            from gradio_client import Client  # noqa: PLC0415

            warm = Client(url, verbose=False)
            for kind in ("match", "compare"):  # the first of each builds what later ones reuse
                problem = one_request(warm, kind, files, 0, args.request_timeout)
                if problem:
                    raise RuntimeError(f"warm-up failed: {problem}")
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

            peak = PeakMemory(pid)
            peak.start()
            latencies: list[float] = []
            failures: list[str] = []
            counts: dict[str, int] = {}
            lock = threading.Lock()
            began = time.monotonic()
            end = began + args.duration
            threads = [threading.Thread(target=user, daemon=True, name=f"user-{n}",
                                        args=(n, url, files, end, args.max_requests_per_user, args.request_timeout,
                                              latencies, failures, counts, lock))
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
            with lock:
                if stuck:
                    failures.append(f"{stuck} user(s) still waiting {wall:.0f} s after the start")
                report.requests = len(latencies)
                report.errors = len(failures)
                report.first_errors = failures[:10]
                report.by_endpoint = dict(sorted(counts.items()))
                report.throughput_per_s = round(len(latencies) / wall, 2)
                for name, q in (("p50_s", 0.5), ("p95_s", 0.95), ("p99_s", 0.99), ("max_s", 1.0)):
                    value = percentile(latencies, q)
                    setattr(report, name, round(value, 3) if value is not None else None)
            report.rss_end_mb = rss_mb(pid) if pid else None
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
        ("users x duration", f"{report.users} x {report.duration_s:g} s"),
        ("queue (concurrency, max size)", f"{report.queue.get('default_concurrency_limit')}, {report.queue.get('max_size')}"),
        ("requests served", f"{report.requests}  ({', '.join(f'{k} {v}' for k, v in report.by_endpoint.items())})"),
        ("errors", str(report.errors)),
        ("throughput", f"{report.throughput_per_s:.2f} requests/s"),
        ("latency p50 / p95 / p99 / max", " / ".join(ms(v) for v in (report.p50_s, report.p95_s, report.p99_s, report.max_s))),
        ("server RSS after start-up", mb(report.rss_after_startup_mb)),
        ("server RSS start (after warm-up)", mb(report.rss_start_mb)),
        ("server RSS peak / end", f"{mb(report.rss_peak_mb)} / {mb(report.rss_end_mb)}"),
        ("server start-up", "-" if report.startup_s is None else f"{report.startup_s:.1f} s"),
        ("machine", f"{report.machine['cpus']} CPUs, load average {report.machine['load_average_1_5_15']}"),
    ]
    width = max(len(name) for name, _ in rows)
    lines = [f"{name:<{width}}  {value}" for name, value in rows]
    lines += [f"  error: {message}" for message in report.first_errors]
    return "\n".join(lines)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", type=int, default=16, help="concurrent users (default 16)")
    parser.add_argument("--duration", type=float, default=60.0, help="seconds of load (default 60)")
    parser.add_argument("--max-requests-per-user", type=int, default=10_000, help="a bound on each user's loop")
    parser.add_argument("--request-timeout", type=float, default=120.0, help="seconds before a request counts as hung")
    parser.add_argument("--concurrency", default="app", help="the queue's default_concurrency_limit (default: app.py's)")
    parser.add_argument("--max-size", default="app", help="the queue's max_size, 0 for none (default: app.py's)")
    parser.add_argument("--url", help="drive this running app instead of starting one")
    parser.add_argument("--pid", type=int, help="with --url: the server's process id, for its memory")
    parser.add_argument("--json", nargs="?", const="-", metavar="PATH", help="write the report as JSON (to stdout: -)")
    args = parser.parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    report = run(args)
    if args.json == "-":
        print(json.dumps(asdict(report), indent=2))
    else:
        print(table(report))
        if args.json:
            Path(args.json).write_text(json.dumps(asdict(report), indent=2) + "\n")
    return 1 if report.errors else 0


if __name__ == "__main__":
    sys.exit(main())
