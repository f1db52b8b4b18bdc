"""The Space rehearsal (harness/space_rehearsal.py): the front matter as committed, and (slow) the whole rehearsal,
a fresh folder and environment, the official data URLs from a loopback mirror, two starts of `python app.py`."""

from __future__ import annotations

from pathlib import Path

import gradio
import pytest

from harness import space_rehearsal

ROOT = Path(__file__).resolve().parents[2]


def test_the_front_matter_makes_a_gradio_space_that_needs_no_unpublished_repo() -> None:
    meta = space_rehearsal.front_matter(ROOT / "README.md")
    assert meta["sdk"] == "gradio" and meta["app_file"] == "app.py"
    assert meta["sdk_version"] == gradio.__version__  # the version the tests run is the one a Space installs
    # A Space downloads preload_from_hub's repos when it is built: none is published, the bundled checkpoint serves.
    assert "preload_from_hub" not in meta and "models" not in meta, meta
    assert "preload_from_hub:" in (ROOT / "README.md").read_text().split("\n---\n", 1)[1]  # the README says how to add it


def test_front_matter_reads_scalars_and_lists(tmp_path: Path) -> None:
    readme = tmp_path / "README.md"
    readme.write_text('---\ntitle: x\nsdk: gradio\npython_version: "3.11"\nmodels:\n  - a/b\n  - c/d\n---\n# x\n')
    assert space_rehearsal.front_matter(readme) == {"title": "x", "sdk": "gradio", "python_version": "3.11", "models": ["a/b", "c/d"]}
    readme.write_text("# no front matter\n")
    with pytest.raises(ValueError, match="no front matter"):
        space_rehearsal.front_matter(readme)


@pytest.mark.slow
@pytest.mark.timeout(2400)
def test_the_space_rehearsal_builds_serves_and_answers_a_drawing() -> None:
    report = space_rehearsal.rehearse(port=space_rehearsal.SPACE_PORT)
    assert report.files > 50 and report.build_seconds > 0
    assert report.first_match[0] == f"{space_rehearsal.ALPHABET} — character {space_rehearsal.CHARACTER:02d}", report
    assert 0 < report.restart_seconds < report.first_start_seconds, report  # the restart downloads and embeds nothing
    assert any("bundled checkpoint checkpoints/ensemble-omniglot" in line for line in report.log_lines), report.log_lines
    assert not Path(report.folder).exists()  # removed afterwards
