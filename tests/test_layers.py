"""Which module may import which: a lower layer never imports a higher one.

The checkpoint I/O and the choice of model (``siamese/hub.py``, ``siamese/serving.py``) sit below matching; the
package knows nothing of the page (``app.py``, ``webapp/``) or of what measures it (``harness/``); the page does not
import the harness.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def imported(path: Path) -> set[str]:
    """Every module a file imports, anywhere in it (functions included)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def below(path: Path, forbidden: tuple[str, ...]) -> list[str]:
    return sorted(name for name in imported(path) if name.split(".")[0] in forbidden or name.startswith(forbidden))


@pytest.mark.parametrize("module", ["siamese/hub.py", "siamese/serving.py"])
def test_the_checkpoint_io_imports_nothing_from_matching(module: str) -> None:
    assert below(ROOT / module, ("siamese.matching",)) == []


@pytest.mark.parametrize("path", sorted((ROOT / "siamese").rglob("*.py")), ids=lambda p: str(p.relative_to(ROOT)))
def test_the_package_imports_nothing_of_the_page_or_the_harness(path: Path) -> None:
    assert below(path, ("app", "webapp", "harness", "gradio")) == []


@pytest.mark.parametrize("path", [ROOT / "app.py", *sorted((ROOT / "webapp").glob("*.py"))], ids=lambda p: p.name)
def test_the_page_does_not_import_the_harness(path: Path) -> None:
    assert below(path, ("harness",)) == []


def test_webapp_holds_only_what_the_page_serves() -> None:
    """Each of its modules is imported by the page (app.py, or another of webapp's modules it imports), and what
    measures the page from outside (the load test, the soak, the benchmarks, their report) lives in harness/."""
    modules = {p.stem for p in (ROOT / "webapp").glob("*.py")} - {"__init__"}
    used = {name.split(".", 1)[1].split(".")[0] for path in [ROOT / "app.py", *(ROOT / "webapp").glob("*.py")]
            for name in imported(path) if name.startswith("webapp.")}  # fmt: skip
    assert modules <= used, f"webapp/ modules the page does not import: {sorted(modules - used)}"
    assert not modules & {"load_test", "soak", "api_benchmark", "page_benchmark", "report", "space_rehearsal"}
