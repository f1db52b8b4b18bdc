"""Many visitors at once: the load test (harness/load_test.py), shortened (16 users for 15 s, busy and live), and the
cache fix it led to.

The full measurement (16 users, 60 s) and the queue settings chosen from it are in docs/reliability.md.
"""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import pytest
from PIL import Image, ImageDraw

from harness import load_test

RSS_GROWTH_LIMIT_MB = 150  # measured: +30 MB over 15-60 s with 16 users; a leak of a few kB per request shows
# The live profile for 16 x 15 s, measured at load 4-6 on 2 CPUs: 214-218 strokes (the pen's clock: ~1 a second once
# connected) and 101-166 answers, as many as the server serves there (~10 matches/s of the 16/s asked). Both bounds
# leave room for a busier CI machine.
LIVE_MIN_STROKES = 16 * 15 * 0.6
LIVE_MIN_REQUESTS = 16 * 15 * 0.25


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_sixteen_users_for_fifteen_seconds_without_an_error(tmp_path: Path) -> None:
    out = tmp_path / "load.json"
    status = load_test.main(["--users", "16", "--duration", "15", "--request-timeout", "60", "--json", str(out)])
    report = json.loads(out.read_text())  # main() printed the table
    assert status == 0 and report["errors"] == 0, report["first_errors"]
    assert report["requests"] >= 16 and set(report["by_endpoint"]) == {"match", "compare"}
    assert report["p99_s"] is not None and report["p99_s"] < 60
    assert report["rss_end_mb"] - report["rss_start_mb"] < RSS_GROWTH_LIMIT_MB, report


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_sixteen_visitors_drawing_for_fifteen_seconds_without_an_error(tmp_path: Path) -> None:
    """The live profile: each visitor's stroke sends a match, about one a second, the next after the answer."""
    out = tmp_path / "live.json"
    status = load_test.main(["--profile", "live", "--users", "16", "--duration", "15", "--request-timeout", "60",
                             "--json", str(out)])  # fmt: skip
    report = json.loads(out.read_text())
    assert status == 0 and report["errors"] == 0, report["first_errors"]
    assert set(report["by_endpoint"]) == {"match"}
    assert report["strokes"] >= LIVE_MIN_STROKES, report  # the visitors drew about one stroke a second
    assert report["requests"] >= LIVE_MIN_REQUESTS, report  # and got answers all along, not one each
    assert report["rss_end_mb"] - report["rss_start_mb"] < RSS_GROWTH_LIMIT_MB, report


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_bursts_of_large_images_do_not_grow_memory_without_bound(tmp_path: Path) -> None:
    """16 visitors at once, each sending a 16-megapixel drawing (the most the app decodes), three times over.

    Before ``gradio_fixes.return_freed_memory_to_the_system`` each burst left the server larger: 0.65 GB at the start, then
    1.96, 2.93, 3.19, 3.58 GB after the first four bursts; with it, 1.67, 1.67, 1.67, 1.68 GB.
    """
    from gradio_client import Client, handle_file

    big = tmp_path / "big.png"
    Image.new("L", (4000, 4000), 255).save(big)
    process, url, _ = load_test.start_server("app", "app", tmp_path / "server.log")
    try:
        after = []
        for _ in range(3):
            failures: list[str] = []

            def visit() -> None:
                try:
                    Client(url, verbose=False).submit({"background": None, "layers": [], "composite": handle_file(str(big))},
                                                      "All alphabets", 3, api_name="/match").result(timeout=120)  # fmt: skip
                except Exception as error:  # noqa: BLE001
                    if "blank" not in str(error):  # a white page is blank: the expected answer
                        failures.append(str(error))

            threads = [threading.Thread(target=visit) for _ in range(16)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(180)
            assert not failures, failures[:3]
            after.append(load_test.rss_mb(process.pid))
    finally:
        load_test.stop_server(process)
    print(f"server RSS after each burst: {', '.join(f'{v:.0f} MB' for v in after)}")
    assert after[2] - after[0] < 300, after


def test_percentiles_interpolate_between_ranks() -> None:
    assert load_test.percentile([], 0.5) is None
    assert load_test.percentile([3.0], 0.99) == 3.0
    assert load_test.percentile([1.0, 2.0, 3.0, 4.0], 0.5) == 2.5
    assert load_test.percentile(list(map(float, range(101))), 0.95) == pytest.approx(95.0)


def test_rss_is_read_for_this_process_and_none_for_a_missing_one() -> None:
    import os

    assert load_test.rss_mb(os.getpid()) > 10
    assert load_test.rss_mb(2**22 + 12345) is None


def test_cpu_time_is_read_for_this_process_and_none_for_a_missing_one() -> None:
    import os

    before = load_test.cpu_s(os.getpid())
    sum(i * i for i in range(3_000_000))
    assert before is not None and load_test.cpu_s(os.getpid()) > before
    assert load_test.cpu_s(2**22 + 12345) is None


def test_the_live_visitor_draws_on_the_page_canvas_with_its_pen_and_starts_afresh_every_eight_strokes() -> None:
    import random

    import app
    from harness import live_client

    assert load_test.CANVAS == app.CANVAS and load_test.PEN_WIDTH == app.PEN_WIDTH
    assert live_client.SENT_SIDE == app.SENT_SIDE
    visitor = load_test.Visitor(random.Random(0), start=0.0)
    visitor.draw_until(5.0)  # strokes 0.8-1.2 s apart from t=0: 5 to 7 by then
    assert 5 <= visitor.strokes <= 7 and visitor.drawings == 0 and visitor.canvas.size == app.CANVAS
    assert visitor.canvas.mode == "RGBA" and visitor.canvas.getextrema()[0] == (0, 255)  # black ink on white
    visitor.draw_until(9.0 * 1.2)
    assert visitor.strokes >= 9 and visitor.drawings == 1
    again = load_test.Visitor(random.Random(0), start=0.0)
    again.draw_until(9.0 * 1.2)
    assert again.canvas.tobytes() == visitor.canvas.tobytes()  # seeded: the same drawings every run


def test_output_images_are_written_whole_while_others_read_them(tmp_path: Path) -> None:
    """The race the load test found: Gradio rewrote a cached output in place while another visitor downloaded it."""
    import app
    from gradio import processing_utils

    from webapp import gradio_fixes

    app.configure_process()
    assert processing_utils.save_pil_to_cache is gradio_fixes.save_pil_to_cache
    image = Image.new("L", (168, 168), 255)
    ImageDraw.Draw(image).line([(10, 10), (150, 150)], fill=0, width=9)
    path = Path(processing_utils.save_pil_to_cache(image, str(tmp_path)))
    whole = path.read_bytes()
    stop = time.monotonic() + 2.0
    short: list[int] = []
    reads = [0]

    def writer() -> None:
        while time.monotonic() < stop:
            processing_utils.save_pil_to_cache(image, str(tmp_path))

    def reader() -> None:
        while time.monotonic() < stop:
            data = path.read_bytes()
            reads[0] += 1
            if data != whole:
                short.append(len(data))

    threads = [threading.Thread(target=writer), threading.Thread(target=writer), threading.Thread(target=reader)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert reads[0] > 100 and not short, f"{len(short)} of {reads[0]} reads were not the whole file"
    assert sorted(p.name for p in path.parent.iterdir()) == [path.name]  # no temporary files left


def test_the_queue_keeps_a_small_analytics_store(monkeypatch: pytest.MonkeyPatch) -> None:
    """Gradio's default store (10,000 events, summarised in pandas after every event) costs each answer more as the
    hours go by (8.7 ms of CPU per summary at 10,000 events, 2.7 at 500, measured on the busy machine)."""
    import gradio as gr

    import app

    for name in ("GRADIO_ANALYTICS_MAX_EVENTS", "GRADIO_ANALYTICS_CACHE_FREQUENCY"):
        monkeypatch.delenv(name, raising=False)
    app.configure_process()
    queue = gr.Blocks().queue()._queue
    assert (queue.ANALYTICS_MAX_EVENTS, queue.ANAYLTICS_CACHE_FREQUENCY) == (500, 100)
    monkeypatch.setenv("GRADIO_ANALYTICS_MAX_EVENTS", "50")  # an administrator's setting wins
    app.configure_process()
    assert gr.Blocks().queue()._queue.ANALYTICS_MAX_EVENTS == 50


def test_waiting_for_a_server_ends_with_its_log_when_it_exits_or_stays_silent(tmp_path: Path) -> None:
    import subprocess
    import sys

    log = tmp_path / "server.log"
    log.write_text("Traceback: the model folder is missing\n")
    exited = subprocess.Popen([sys.executable, "-c", "raise SystemExit(3)"])
    exited.wait()
    with pytest.raises(RuntimeError, match="status 3(.|\n)*the model folder is missing"):
        load_test.wait_until_answering(exited, f"http://127.0.0.1:{load_test.free_port()}/", log, timeout=5)
    silent = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        with pytest.raises(TimeoutError, match="did not answer within 1 s(.|\n)*the model folder is missing"):
            load_test.wait_until_answering(silent, f"http://127.0.0.1:{load_test.free_port()}/", log, timeout=1)
    finally:
        load_test.stop_server(silent, grace=5)
    assert silent.poll() is not None  # stopped, not left behind
