"""The page's operations without a browser: match, compare, teach, and the messages for bad input."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image, ImageDraw

from siamese.data import load_omniglot
from siamese.serving import resolve_model
from siamese.matching import DrawingError
from siamese.matching.examples import DRAWINGS
from siamese.matching.gallery import ALL_ALPHABETS
from dataclasses import replace

from siamese.matching.service import CHARACTERS, FEW_SHOT, MAX_SYMBOLS, ONE_SHOT, Challenge, InputError, MatchingService, TaughtSymbols
from siamese.matching.support_set import SupportSet
from siamese.transforms import ImageInputError


@pytest.fixture(scope="module")
def service(tmp_path_factory) -> MatchingService:
    return MatchingService.start(cache_dir=tmp_path_factory.mktemp("cache"), threads=None)


@pytest.fixture(scope="module")
def drawer_two() -> dict[str, Image.Image]:
    """Tengwar by drawer 2: the gallery shows drawer 1, so these are new drawings of its characters."""
    data = load_omniglot("test", drawers=(2,))
    return {f"Tengwar — character {name.rsplit('character', 1)[1]}": data.images[i]
            for i, name in ((i, data.class_names[c]) for i, c in enumerate(data.labels)) if name.startswith("Tengwar/")}  # fmt: skip


def _editor(image: Image.Image) -> dict:
    return {"background": None, "layers": [], "composite": image.convert("RGBA")}


def test_a_new_drawing_of_a_character_is_found_in_its_alphabet(service, drawer_two):
    hits = [service.match(_editor(image), "Tengwar", top_k=3).matches[0].label == name for name, image in drawer_two.items()]
    assert np.mean(hits) >= 0.8


def test_match_returns_top_k_sorted_with_the_view_and_a_verdict(service, drawer_two):
    name, image = next(iter(drawer_two.items()))
    result = service.match(image, ALL_ALPHABETS, top_k=5)
    assert len(result.matches) == 5
    assert [m.probability for m in result.matches] == sorted((m.probability for m in result.matches), reverse=True)
    assert result.view.size == (168, 168) and result.message


def test_match_gives_p_character_under_the_checkpoints_calibration(service, drawer_two):
    assert service.calibration.fitted and 0 < service.calibration.threshold < 1
    image = next(iter(drawer_two.values()))
    every = service.match(image, "Tengwar", top_k=20).matches
    support = service.gallery.support_set(service.model, "Tengwar")
    assert len(every) == 20 < len(support)
    posterior = service.calibration.posterior(support.logits([image])[0])
    assert float(posterior.sum()) == pytest.approx(1.0, abs=1e-6)  # over all 25 characters, not the 20 shown
    assert [m.probability for m in every] == pytest.approx(sorted(posterior.tolist(), reverse=True)[:20], abs=1e-6)


def test_no_confident_match_is_said_when_the_best_posterior_is_below_the_threshold(service):
    scribble = Image.new("L", (200, 200), 255)
    ImageDraw.Draw(scribble).ellipse([20, 20, 180, 180], outline=0, width=10)
    ImageDraw.Draw(scribble).line([(20, 20), (180, 180)], fill=0, width=10)
    result = service.match(scribble, ALL_ALPHABETS, top_k=1)
    if result.matches[0].probability >= service.calibration.threshold:
        pytest.fail(f"the scribble matched {result.matches[0].label} with {result.matches[0].probability:.2f}; pick a stranger scribble")
    assert not result.confident and "No confident match" in result.message
    assert f"{service.calibration.threshold:.0%}" in result.message


def test_the_alphabet_sheet_lists_every_character_as_a_file(service):
    sheet = service.alphabet_sheet("Tengwar")
    assert [name for _, name in sheet] == [f"Tengwar — character {i:02d}" for i in range(1, len(sheet) + 1)]
    assert len(sheet) == len(service.gallery.indices("Tengwar"))
    for path, name in sheet[:3]:
        assert Image.open(path).size == service.gallery.image(name).size
    assert service.alphabet_sheet(ALL_ALPHABETS) == []
    with pytest.raises(InputError, match="Unknown alphabet"):
        service.alphabet_sheet("Klingon")


def test_draw_this_one_shows_another_drawer_and_keeps_score(service, drawer_two):
    challenge, prompt = service.next_challenge(Challenge(seed=3), "Tengwar")
    assert challenge.label.startswith("Tengwar — ") and challenge.rounds == 0
    gallery_image = service.gallery.image(challenge.label)
    assert Image.open(prompt).tobytes() != gallery_image.tobytes()  # another person's drawing, not the gallery's
    again, _ = service.next_challenge(Challenge(seed=3), "Tengwar")
    assert again.label == challenge.label  # seeded by (session, round)

    copy = drawer_two[challenge.label]  # the prompt itself: drawer 2's drawing of that character
    result = service.check_challenge(challenge, copy)
    expected = service.match(copy, "Tengwar", 1).matches[0].label == challenge.label
    assert result.found == expected and result.challenge.rounds == 1 and result.challenge.found == int(expected)
    assert f"Score: {int(expected)} of 1" in result.message and result.challenge.label == ""

    wrong = next(name for name in drawer_two if name != challenge.label)
    missed = service.check_challenge(replace(challenge, label=wrong), copy)
    assert missed.challenge.rounds == 1 and (missed.rank is None or missed.rank > 1 or missed.found)
    with pytest.raises(InputError, match="Draw this one"):
        service.check_challenge(Challenge(), copy)


def test_examples_are_files_for_every_tab(service):
    assert len(service.examples.drawings) == 3 and len(service.examples.symbols) == 3
    assert [d for _, _, d in service.examples.pairs] == [d for d in service.domains for _ in range(2)]
    for path in [p for p, _ in service.examples.drawings + service.examples.symbols] + [p for a, b, _ in service.examples.pairs for p in (a, b)]:
        assert Image.open(path).size[0] > 0
    for (a, b, domain), same in zip(service.examples.pairs, [True, False] * len(service.domains)):
        assert service.compare(Image.open(a), Image.open(b), domain).same == same, (domain, same)


def test_the_showcase_drawings_are_answered_rightly_and_confidently(service):
    for (path, alphabet), (_, character) in zip(service.examples.drawings, DRAWINGS):
        result = service.match(Image.open(path), alphabet, 3)
        assert result.matches[0].label == f"{alphabet} — character {character:02d}", (alphabet, result.message)
        assert result.confident, result.message


def test_few_shot_ranks_the_same_drawing_against_prototypes_and_says_so(service, drawer_two, monkeypatch):
    every_drawer = service.gallery.prototypes
    monkeypatch.setattr(service.gallery, "prototypes", lambda model, fingerprint: every_drawer(model, fingerprint, (1, 3, 4)))
    drawing = drawer_two["Tengwar — character 07"]
    one, few = (service.match(drawing, "Tengwar", 20, shots) for shots in (ONE_SHOT, FEW_SHOT))
    assert "one drawing of each" in one.message and "all the drawings of each" in few.message
    expected = SupportSet(service.model)
    index = service.gallery.indices("Tengwar")
    expected.load_features(every_drawer(service.model, service.characters.fingerprint, (1, 3, 4))[index],
                           [service.gallery.names[i] for i in index])  # fmt: skip
    assert [(m.label, round(m.probability, 6)) for m in few.matches] == [
        (m.label, round(m.probability, 6)) for m in expected.top_k(service._view(service.model, drawing), 20, service.calibration)]
    assert [m.probability for m in few.matches] != [m.probability for m in one.matches]
    with pytest.raises(InputError, match="Unknown comparison"):
        service.match(drawing, "Tengwar", 5, "two-shot")


@pytest.mark.parametrize("pair, verdict", [(0, "most likely the same character."), (1, "most likely different characters.")])
def test_compare_says_what_the_images_show_in_plain_words(service, pair, verdict):
    a, b, domain = service.examples.pairs[pair]
    assert service.compare(Image.open(a), Image.open(b), domain).message.endswith(verdict)
    faces = [(a, b) for a, b, d in service.examples.pairs if d == "Faces (AT&T)"]
    assert service.compare(Image.open(faces[0][0]), Image.open(faces[0][1]), "Faces (AT&T)").message.endswith("the same face.")


def test_teaching_a_blank_drawing_speaks_of_symbols(service):
    with pytest.raises(DrawingError, match="draw a symbol with the pen first"):
        service.teach(TaughtSymbols(), Image.new("L", (420, 420), 255), "blank")
    with pytest.raises(DrawingError, match="The canvas is empty: draw a symbol first"):
        service.teach(TaughtSymbols(), None, "empty")


@pytest.mark.parametrize("value", [None, {"background": None, "layers": [], "composite": None}])
def test_an_empty_canvas_is_a_friendly_message(service, value):
    with pytest.raises(DrawingError, match="empty"):
        service.match(value, ALL_ALPHABETS, 5)


def test_a_blank_drawing_is_a_friendly_message(service):
    with pytest.raises(DrawingError, match="blank"):
        service.match({"background": None, "layers": [], "composite": Image.new("RGBA", (420, 420), "white")}, ALL_ALPHABETS, 5)


@pytest.mark.parametrize("alphabet", ["Klingon", "", None, "../../etc/passwd"])
def test_an_unknown_alphabet_is_named_in_the_message(service, drawer_two, alphabet):
    with pytest.raises(InputError, match="Unknown alphabet"):
        service.match(next(iter(drawer_two.values())), alphabet, 5)


@pytest.mark.parametrize("top_k", [0, -3, 21, 10**9, "many", None])
def test_a_bad_top_k_is_refused(service, drawer_two, top_k):
    with pytest.raises(InputError, match="top_k"):
        service.match(next(iter(drawer_two.values())), "Tengwar", top_k)


def test_compare_identical_shifted_and_different_characters(service, drawer_two):
    images = list(drawer_two.values())
    a = images[0]
    shifted = Image.new("L", (140, 130), 255)
    shifted.paste(a.convert("L"), (30, 20))
    assert service.compare(a, a).probability >= 0.99
    assert service.compare(a, shifted).probability >= 0.95
    assert service.compare(a, a.convert("L").rotate(8, fillcolor=255)).probability >= 0.8
    different = service.compare(a, images[1])
    assert different.probability < service.compare(a, shifted).probability
    assert len(different.views) == 2 and "P(same)" in different.message


def test_compare_refuses_a_missing_image_and_an_unknown_domain(service, drawer_two):
    a = next(iter(drawer_two.values()))
    with pytest.raises(ImageInputError, match="second image is missing"):
        service.compare(a, None, CHARACTERS)
    with pytest.raises(InputError, match="Unknown domain"):
        service.compare(a, a, "cats")


def test_taught_symbols_are_recognised_in_new_drawings(service, drawer_two):
    names = list(drawer_two)[:5]
    data = load_omniglot("test", drawers=(3,))
    third = {f"Tengwar — character {data.class_names[c].rsplit('character', 1)[1]}": data.images[i]
             for i, c in enumerate(data.labels) if data.class_names[c].startswith("Tengwar/")}  # fmt: skip
    symbols = TaughtSymbols()
    for name in names:
        symbols = service.teach(symbols, _editor(drawer_two[name]), name)
    assert symbols.names == names
    hits = [service.classify(symbols, _editor(third[name])).matches[0].label == name for name in names]
    assert sum(hits) >= 4


def test_teaching_a_name_again_replaces_it_and_twenty_is_the_limit(service, drawer_two):
    images = list(drawer_two.values())
    symbols = TaughtSymbols()
    for i in range(MAX_SYMBOLS):
        symbols = service.teach(symbols, images[i % len(images)], f"symbol {i}")
    symbols = service.teach(symbols, images[0], "symbol 3")  # replacing is allowed when full
    assert len(symbols.names) == MAX_SYMBOLS and symbols.names[-1] == "symbol 3"
    with pytest.raises(InputError, match=f"up to {MAX_SYMBOLS}"):
        service.teach(symbols, images[0], "one more")
    assert symbols.names == [f"symbol {i}" for i in range(MAX_SYMBOLS) if i != 3] + ["symbol 3"]


@pytest.mark.parametrize("name, message", [("", "name"), ("   ", "name"), ("x" * 41, "at most 40"), ("a\x00b", "control")])
def test_bad_symbol_names_are_refused(service, drawer_two, name, message):
    with pytest.raises(InputError, match=message):
        service.teach(TaughtSymbols(), next(iter(drawer_two.values())), name)


def test_unicode_names_are_kept(service, drawer_two):
    symbols = service.teach(TaughtSymbols(), next(iter(drawer_two.values())), "  ☺ smiley  ")
    assert symbols.names == ["☺ smiley"]


def test_classify_without_symbols_says_to_teach_first(service, drawer_two):
    with pytest.raises(InputError, match="Teach at least one"):
        service.classify(TaughtSymbols(), next(iter(drawer_two.values())))


def test_the_bundled_model_is_used_without_configuration():
    assert resolve_model(env={}).origin == "bundled"


def test_the_compare_domains_are_the_shipped_checkpoints_described_as_such(service):
    assert set(service.domains) == {CHARACTERS, "Faces (AT&T)", "Digits (MNIST)"}
    for name in ("Faces (AT&T)", "Digits (MNIST)"):
        loaded = service.domains[name]
        assert loaded.origin == "bundled" and "bundled checkpoint" in loaded.describe() and "SIAMESE_MODEL" not in loaded.describe()
