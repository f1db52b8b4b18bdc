"""The installed ``siamese`` command, run as a user runs it: in a subprocess, from another folder."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

import siamese
from siamese.data import load_omniglot

ROOT = Path(__file__).resolve().parents[1]
COMMAND = Path(sys.executable).parent / "siamese"


def _siamese(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    assert COMMAND.is_file(), f"{COMMAND} is missing: `make setup` installs the package (pip install -e .)"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "TQDM_DISABLE": "1"}
    return subprocess.run([str(COMMAND), *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def tengwar(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Two drawings of Tengwar's first character and one of its fifth, as PNG files."""
    folder = tmp_path_factory.mktemp("drawings")
    data = load_omniglot("evaluation", drawers=(3, 4))
    first = [i for i, c in enumerate(data.labels) if data.class_names[c] == "Tengwar/character01"]
    fifth = [i for i, c in enumerate(data.labels) if data.class_names[c] == "Tengwar/character05"]
    paths = {}
    for name, index in (("a", first[0]), ("b", first[1]), ("c", fifth[0])):
        paths[name] = folder / f"{name}.png"
        data.images[index].save(paths[name])
    return paths


def test_compare_prints_p_same_high_for_the_same_character_and_low_for_another(tengwar: dict[str, Path], tmp_path: Path) -> None:
    same = _siamese("compare", str(tengwar["a"]), str(tengwar["b"]), cwd=tmp_path)
    other = _siamese("compare", str(tengwar["a"]), str(tengwar["c"]), cwd=tmp_path)
    assert same.returncode == 0 and other.returncode == 0, same.stderr + other.stderr
    p_same, p_other = float(same.stdout.split()[0]), float(other.stdout.split()[0])
    assert 0 <= p_other < 0.5 <= p_same <= 1
    model = siamese.load_model()
    from PIL import Image

    expected = float(model.compare([Image.open(tengwar["a"])], [Image.open(tengwar["b"])])[0, 0])
    assert abs(p_same - expected) < 1e-4  # the command scores exactly as the Python API


def test_match_lists_the_top_k_characters_of_the_alphabet(tengwar: dict[str, Path], tmp_path: Path) -> None:
    result = _siamese("match", str(tengwar["a"]), "--alphabet", "Tengwar", "--top-k", "3", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 4  # three characters, then the verdict
    assert all(line.split("  ", 1)[1].startswith("Tengwar — character ") for line in lines[:3])
    scores = [float(line.split()[0]) for line in lines[:3]]
    assert scores == sorted(scores, reverse=True)


def test_embed_prints_one_json_line_per_image(tengwar: dict[str, Path], tmp_path: Path) -> None:
    result = _siamese("embed", str(tengwar["a"]), str(tengwar["c"]), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["image"] for r in rows] == [str(tengwar["a"]), str(tengwar["c"])]
    assert len(rows[0]["embedding"]) == len(rows[1]["embedding"]) > 8 and rows[0]["embedding"] != rows[1]["embedding"]


def test_evaluate_and_train_are_the_scripts_commands(tmp_path: Path) -> None:
    result = _siamese("evaluate", "lake-runs", "--json", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["n_trials"] == 400
    bad = _siamese("train", "--loss", "triplet", "--out-dir", str(tmp_path / "run"), cwd=tmp_path)
    assert bad.returncode == 2 and bad.stderr.strip().startswith("error: Unknown loss 'triplet'")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["compare", "missing.png", "missing.png"], "error: No image file at missing.png."),
        (["compare", "{text}", "{text}"], "error: {text}: The file is not an image that can be read: send a PNG, JPEG, GIF, WebP, BMP or TIFF file."),
        (["match", "{drawing}", "--alphabet", "Klingon"],
         "error: Unknown alphabet 'Klingon': choose one of the 50 Omniglot alphabets or 'All alphabets'."),
        (["compare", "{drawing}", "{drawing}", "--domain", "cats"], "error: Unknown domain 'cats'; choose characters, faces or digits."),
        (["embed", "{drawing}", "--model", "no/such-folder/here"], "error: No checkpoint folder at no/such-folder/here."),
    ],
)
def test_bad_input_gets_one_line_and_status_2(args: list[str], message: str, tengwar: dict[str, Path], tmp_path: Path) -> None:
    text = tmp_path / "notes.png"
    text.write_text("not an image")
    fill = {"text": str(text), "drawing": str(tengwar["a"])}
    result = _siamese(*[a.format(**fill) for a in args], cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip() == message.format(**fill)
    assert result.stdout == ""


@pytest.mark.slow
def test_the_wheel_installs_with_the_bundled_model_and_the_command(tmp_path: Path) -> None:
    build = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--wheel-dir", str(tmp_path / "dist"), str(ROOT)],
                           capture_output=True, text=True, timeout=600)  # fmt: skip
    assert build.returncode == 0, build.stderr[-2000:]
    wheel = next((tmp_path / "dist").glob("siamese-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    assert "siamese/checkpoints/ensemble-omniglot/model.safetensors" in names
    entry_points = next(n for n in names if n.endswith("entry_points.txt"))
    assert "siamese = siamese.cli:main" in zipfile.ZipFile(wheel).read(entry_points).decode()
    target = tmp_path / "site"
    install = subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "--target", str(target), str(wheel)],
                             capture_output=True, text=True, timeout=600)  # fmt: skip
    assert install.returncode == 0, install.stderr[-2000:]
    check = "import siamese; m = siamese.load_model(); print(siamese.__file__, m.num_parameters())"
    env = {**os.environ, "PYTHONPATH": str(target)}
    run = subprocess.run([sys.executable, "-c", check], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    where, parameters = run.stdout.split()
    assert where.startswith(str(target)) and int(parameters) > 1000
