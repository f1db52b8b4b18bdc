"""The soak (harness/soak.py): the app under a steady mix of visitors and bad uploads, shortened to 60 s for CI.

The 10-minute run and its figures are in docs/reliability.md (docs/soak.json, docs/soak-rss.png).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness import soak

from test_app_errors import CONTRACT  # tests/ is on sys.path

RSS_GROWTH_LIMIT_MB = 150  # as for the load test: a leak of a few kB per request shows over 60 s


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_sixty_seconds_of_visitors_every_bad_upload_answered_in_words(tmp_path: Path) -> None:
    out, picture = tmp_path / "soak.json", tmp_path / "soak-rss.png"
    status = soak.main(["--duration", "60", "--interval", "10", "--json", str(out), "--plot", str(picture), "--quiet"])
    report = json.loads(out.read_text())  # main() printed the table
    assert status == 0 and report["errors"] == 0, report["first_errors"]
    assert report["bad"] >= 4 and report["bad_answered"] == report["bad"], report["first_errors"]
    assert {"match", "compare", "teach", "classify"} <= set(report["by_kind"]), report["by_kind"]
    assert len(report["samples"]) == 7 and all(s["rss_mb"] for s in report["samples"]), report["samples"]
    assert sum(s["requests"] for s in report["samples"]) == report["requests"]
    assert report["rss_slope_mb_per_min"] is not None
    assert report["rss_end_mb"] - report["rss_start_mb"] < RSS_GROWTH_LIMIT_MB, report
    assert picture.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_the_bad_uploads_expect_the_sentences_of_the_error_contract(tmp_path: Path) -> None:
    good = tmp_path / "good.png"
    from PIL import Image  # noqa: PLC0415

    Image.new("L", (105, 105), 255).save(good)
    sentences = set(soak.bad_files(tmp_path, str(good)).values())
    assert len(sentences) == 3 and sentences <= {row.sentence for row in CONTRACT}, sentences


def test_the_rss_slope_is_the_least_squares_line_in_mb_per_minute() -> None:
    assert soak.slope_per_min([(0, 100.0), (30, 100.5), (60, 101.0), (90, 101.5)]) == pytest.approx(1.0)
    assert soak.slope_per_min([(0, 500.0), (60, 400.0)]) == pytest.approx(-100.0)
    assert soak.slope_per_min([(10, 1.0)]) is None and soak.slope_per_min([(5, 1.0), (5, 2.0)]) is None


def test_a_report_is_drawn_as_rss_over_time(tmp_path: Path) -> None:
    report = soak.Report(users=2, duration_s=90, interval_s=30, warm_up_s=30, requests=10, bad=1, bad_answered=1,
                         rss_slope_mb_per_min=0.5, rss_flat=True, machine={"cpus": 2, "load_average_1_5_15": [0.5, 0.5, 0.5]})  # fmt: skip
    report.samples = [soak.Sample(t, 5, 0, 0, 0, 0.1, 0.2, 900.0 + t / 60) for t in (0.0, 30.0, 60.0, 90.0)]
    soak.plot(report, str(tmp_path / "rss.png"))
    assert (tmp_path / "rss.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "2 x 90 s" in soak.table(report) and "+0.50 MB/min (flat" in soak.table(report)
