"""What the web app does, as plain functions over images: match, compare and teach.

``app.py`` lays out the page and calls a :class:`MatchingService`; everything here takes and
returns images, numbers and strings, so it is tested without a browser and reused by any front end.
Errors meant for visitors are :class:`~siamese.transforms.ImageInputError` (bad images and
drawings) or :class:`InputError` (bad choices); their messages can be shown as they are.
"""

from __future__ import annotations

import atexit
import logging
import random
import threading
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import torch
from PIL import Image

from siamese.hub import CHECKPOINTS_DIR, PROTOTYPES_FILE, Calibration
from siamese.serving import LoadedModel, load_bundled, resolve_model
from siamese.matching.examples import Examples, prepare_examples
from siamese.matching.gallery import ALL_ALPHABETS, Gallery, PrototypesStopped, load_gallery
from siamese.matching.inputs import DrawingError, image_from_editor
from siamese.matching.support_set import Match, SupportSet
from siamese.models import SiameseNet
from siamese.transforms import has_ink, preprocess, to_image

log = logging.getLogger("siamese")

CHARACTERS = "Handwritten characters (Omniglot)"
#: Other domains the compare tab offers when their checkpoint is present.
DOMAIN_CHECKPOINTS = {"Faces (AT&T)": CHECKPOINTS_DIR / "compact-faces", "Digits (MNIST)": CHECKPOINTS_DIR / "compact-digits"}
#: What each domain's examples show (:func:`siamese.matching.examples.prepare_examples`).
DOMAIN_EXAMPLES = {CHARACTERS: "characters", "Faces (AT&T)": "faces", "Digits (MNIST)": "digits"}
MAX_TOP_K = 20
#: What a drawing is compared with: one drawing of each character (the gallery's), or each character's prototype,
#: the mean embedding of all its drawings.
ONE_SHOT, FEW_SHOT = "one-shot", "few-shot"
MAX_SYMBOLS = 20
MAX_NAME_LENGTH = 40


class InputError(ValueError):
    """A choice the service cannot act on (an unknown alphabet, a bad top-k, a full symbol set)."""


@dataclass
class MatchResult:
    matches: list[Match]  # best first, with P(character | drawing) over all the candidates
    view: Image.Image  # the query as the model sees it
    message: str
    confident: bool  # the best match's posterior reaches the calibration's threshold


@dataclass
class CompareResult:
    probability: float  # calibrated P(same)
    views: tuple[Image.Image, Image.Image]
    message: str

    @property
    def same(self) -> bool:
        return self.probability >= 0.5  # calibrated: likelier the same than not


@dataclass
class TaughtSymbols:
    """One visitor's symbols: names, embeddings and views. Plain data, kept in the session only."""

    names: list[str] = field(default_factory=list)
    features: list[list[float]] = field(default_factory=list)
    views: list[Image.Image] = field(default_factory=list)


@dataclass(frozen=True)
class Challenge:
    """One visitor's game of "Draw this one": the character to copy now, and the score so far."""

    seed: int = 0  # the session's own sequence of characters
    rounds: int = 0  # drawings checked
    found: int = 0  # of those, the ones whose best match was the character
    label: str = ""  # the character to copy ("" before the first round)
    alphabet: str = ALL_ALPHABETS  # where it was drawn from, and what the drawing is matched against

    @property
    def score(self) -> str:
        return f"Score: {self.found} of {self.rounds}"


@dataclass
class ChallengeResult:
    challenge: Challenge  # the updated score
    found: bool
    rank: int | None  # the character's place in the ranking (1 = best; None below the top MAX_TOP_K)
    message: str


class MatchingService:
    """The loaded models and the Omniglot gallery, and the operations of the page."""

    def __init__(self, characters: LoadedModel, gallery: Gallery | None, domains: dict[str, LoadedModel] | None = None,
                 examples: Examples | None = None, gallery_error: str | None = None) -> None:  # fmt: skip
        self.characters, self.gallery = characters, gallery
        self.gallery_error = gallery_error  # why there is no gallery, for the page to say
        self.examples = examples or Examples()
        self.domains = {CHARACTERS: characters, **(domains or {})}
        self.calibration: Calibration = characters.calibration
        self._alphabets: dict[tuple[str, str], SupportSet] = {}  # (alphabet, shots)

    @classmethod
    def start(cls, cache_dir: str | Path, with_gallery: bool = True, threads: int | None = 1,
              gallery_error: str | None = None) -> "MatchingService":  # fmt: skip
        """Resolve the models (see :func:`siamese.serving.resolve_model`) and load the cached gallery (or, without
        it, keep ``gallery_error``: why it could not be loaded).

        ``threads`` sets PyTorch's intra-op threads (``None`` leaves them). One per request serves
        best: a query is one small image, and on a 2-core machine two threads per operation wait on
        each other whenever anything else runs.
        """
        if threads is not None:
            torch.set_num_threads(threads)
        characters = resolve_model()
        log.info("characters model: %s", characters.describe())
        domains = {name: load_bundled(folder) for name, folder in DOMAIN_CHECKPOINTS.items()
                   if (folder / "model.safetensors").is_file()}  # fmt: skip
        gallery = (load_gallery(characters.model, characters.fingerprint, cache_dir, characters.folder / PROTOTYPES_FILE)
                   if with_gallery else None)  # fmt: skip
        examples = prepare_examples(cache_dir, {name: DOMAIN_EXAMPLES[name] for name in [CHARACTERS, *domains]})
        return cls(characters, gallery, domains, examples, gallery_error)

    def prepare_few_shot(self) -> threading.Thread | None:
        """Compute (or read) the characters' prototypes in a background thread, so that :data:`FEW_SHOT` answers
        at once when first asked; a match asking earlier waits for them. None without a gallery."""
        if self.gallery is None:
            return None
        gallery, stop = self.gallery, threading.Event()

        def compute() -> None:
            try:
                gallery.prototypes(self.model, self.characters.fingerprint, stop=stop)
            except PrototypesStopped:
                pass  # the process is exiting; the next start computes them

        thread = threading.Thread(target=compute, name="siamese-prototypes", daemon=True)
        thread.start()
        # A daemon thread still inside PyTorch when the interpreter exits aborts the process ("terminate called
        # without an active exception"): at exit it stops after the drawer at hand (seconds), and is waited for.
        atexit.register(lambda: (stop.set(), thread.join(timeout=60)))
        return thread

    @property
    def model(self) -> SiameseNet:
        return self.characters.model

    def model_card(self) -> str:
        """The characters model's card (Markdown, front matter removed), or where to read it."""
        folder = Path(self.characters.source)
        card = folder / "README.md"
        if not card.is_file():
            return f"The model card is at https://huggingface.co/{self.characters.source}." if self.characters.origin != "bundled" else ""
        text = card.read_text(encoding="utf-8")
        if text.startswith("---"):
            text = text.split("---", 2)[-1]
        return text.strip()

    def alphabet_choices(self) -> list[str]:
        """The alphabets a drawing can be matched against, "All alphabets" first."""
        return [ALL_ALPHABETS, *self.gallery.alphabet_names] if self.gallery else []

    # --- draw & match ---------------------------------------------------------------------

    def match(self, drawing: Any, alphabet: str = ALL_ALPHABETS, top_k: int = 5, shots: str = ONE_SHOT) -> MatchResult:
        """The ``top_k`` characters of ``alphabet`` most like the drawing, compared with one drawing of each
        (``shots`` :data:`ONE_SHOT`) or with each character's prototype over all its drawings (:data:`FEW_SHOT`)."""
        if self.gallery is None:
            raise InputError("No Omniglot gallery is loaded: run `python scripts/prepare_data.py omniglot`.")
        if shots not in (ONE_SHOT, FEW_SHOT):
            raise InputError(f"Unknown comparison {str(shots)[:40]!r}: choose {ONE_SHOT!r} or {FEW_SHOT!r}.")
        key = (alphabet, shots) if isinstance(alphabet, str) else None
        if key not in self._alphabets:
            self._check_alphabet(alphabet)
            fingerprint = self.characters.fingerprint if shots == FEW_SHOT else None
            self._alphabets[key] = self.gallery.support_set(self.model, alphabet, fingerprint)
        each = "one drawing of each" if shots == ONE_SHOT else "all the drawings of each"
        return self._rank(self._alphabets[key], drawing, top_k, f"compared with {each}")

    def alphabet_sheet(self, alphabet: str) -> list[tuple[Path, str]]:
        """Every character of ``alphabet`` as (image file, name), to copy from; none for all alphabets."""
        if self.gallery is None or alphabet == ALL_ALPHABETS:
            return []
        self._check_alphabet(alphabet)
        return [(self.gallery.files[i], self.gallery.names[i]) for i in self.gallery.indices(alphabet)]

    # --- draw this one ----------------------------------------------------------------------

    def next_challenge(self, challenge: Challenge, alphabet: str = ALL_ALPHABETS) -> tuple[Challenge, Path]:
        """The next character to copy, from ``alphabet``, and its image as another person drew it."""
        if self.gallery is None:
            raise InputError("No Omniglot gallery is loaded: run `python scripts/prepare_data.py omniglot`.")
        self._check_alphabet(alphabet)
        candidates = self.gallery.indices(alphabet)
        # Seeded by (session, round): the same session replays the same characters, a new one gets others.
        pick = int(candidates[random.Random(f"{challenge.seed}-{challenge.rounds}").randrange(len(candidates))])
        label = self.gallery.names[pick]
        return replace(challenge, label=label, alphabet=alphabet), self.gallery.prompt_file(label)

    def check_challenge(self, challenge: Challenge, drawing: Any) -> ChallengeResult:
        """Score the visitor's copy: found when the character ranks first among its alphabet (or all)."""
        if not challenge.label:
            raise InputError('Press "Draw this one" first: it shows a character to copy.')
        result = self.match(drawing, challenge.alphabet, MAX_TOP_K)
        labels = [m.label for m in result.matches]
        rank = labels.index(challenge.label) + 1 if challenge.label in labels else None
        scored = replace(challenge, rounds=challenge.rounds + 1, found=challenge.found + (rank == 1), label="")  # round over
        best, candidates = result.matches[0], len(self._alphabets[(challenge.alphabet, ONE_SHOT)])
        if rank == 1:
            message = f"Found it: your copy matches {best.label} ({best.probability:.0%})."
        elif rank is not None:
            message = f"Not this time: the best match was {best.label}; {challenge.label} came {_ordinal(rank)} of {candidates}."
        else:
            message = f"Not this time: the best match was {best.label}; {challenge.label} was not in the top {MAX_TOP_K} of {candidates}."
        return ChallengeResult(scored, rank == 1, rank, f"{message} {scored.score}.")

    # --- compare two images -----------------------------------------------------------------

    def compare(self, image_a: Any, image_b: Any, domain: str = CHARACTERS) -> CompareResult:
        """Calibrated P(same) for two images under one domain's model."""
        if not isinstance(domain, str) or domain not in self.domains:
            raise InputError(f"Unknown domain {str(domain)[:80]!r}: choose one of {', '.join(self.domains)}.")
        model = self.domains[domain].model
        views = [self._view(model, image, which) for image, which in ((image_a, "first"), (image_b, "second"))]
        probability = float(model.compare(views[0][None], views[1][None])[0, 0])
        things = DOMAIN_EXAMPLES.get(domain, "images")  # "characters", "faces", "digits"
        verdict = f"the same {things[:-1]}" if probability >= 0.5 else f"different {things}"
        message = f"P(same) = {probability:.3f}: most likely {verdict}."
        kind = model.preprocess_config.kind
        return CompareResult(probability, (to_image(views[0], kind), to_image(views[1], kind)), message)

    # --- teach your own symbols ------------------------------------------------------------

    def teach(self, symbols: TaughtSymbols, drawing: Any, name: str) -> TaughtSymbols:
        """The symbols plus ``drawing`` named ``name`` (a name taught again is replaced)."""
        name = _clean_name(name)
        view = self._view(self.model, drawing, thing="symbol")
        feature = self.model.embed(view[None])[0].cpu().tolist()
        kept = [i for i, known in enumerate(symbols.names) if known != name]
        if len(kept) >= MAX_SYMBOLS:
            raise InputError(f"You can teach up to {MAX_SYMBOLS} symbols; remove one first.")
        return TaughtSymbols(
            names=[symbols.names[i] for i in kept] + [name],
            features=[symbols.features[i] for i in kept] + [feature],
            views=[symbols.views[i] for i in kept] + [to_image(view)],
        )

    def classify(self, symbols: TaughtSymbols, drawing: Any, top_k: int = 3) -> MatchResult:
        """Which of the taught symbols the drawing is."""
        if not symbols.names:
            raise InputError("Teach at least one symbol first: draw it, name it and press Teach.")
        support = SupportSet(self.model)
        support.load_features(torch.tensor(symbols.features), symbols.names)
        return self._rank(support, drawing, top_k)

    # --- shared -----------------------------------------------------------------------------

    def _check_alphabet(self, alphabet: Any) -> None:
        if not isinstance(alphabet, str) or (alphabet != ALL_ALPHABETS and alphabet not in self.gallery.alphabet_names):
            raise InputError(f"Unknown alphabet {str(alphabet)[:80]!r}: choose one of the 50 Omniglot alphabets or {ALL_ALPHABETS!r}.")

    def _rank(self, support: SupportSet, drawing: Any, top_k: int, compared: str = "") -> MatchResult:
        """The ranking and verdict of ``drawing`` against ``support`` (``compared``: what each candidate is, said in
        the verdict)."""
        top_k = _check_top_k(top_k)
        view = self._view(self.model, drawing)
        matches = support.top_k(view, min(top_k, len(support)), self.calibration)
        best = matches[0]
        confident = best.probability >= self.calibration.threshold
        candidates = f"{len(support)} candidates" + (f", {compared}" if compared else "")
        if confident:
            message = f"**{best.label}** ({best.probability:.0%} likely, of {candidates})"
        else:
            message = (f"**No confident match.** The closest is {best.label} at {best.probability:.0%}, below the "
                       f"{self.calibration.threshold:.0%} a confident answer needs" + (f" ({compared})." if compared else "."))  # fmt: skip
        return MatchResult(matches, to_image(view), message, confident)

    @staticmethod
    def _view(model: SiameseNet, image: Any, which: str = "", thing: str = "character") -> torch.Tensor:
        """One image through the shared preprocessing; blank drawings are refused (``thing``: what is drawn, in the
        message: "character" or "symbol")."""
        label = f"The {which} image" if which else "The drawing"
        if image is None and which:
            raise DrawingError(f"{label} is missing: upload an image.")
        view = preprocess(image_from_editor(image, thing), model.preprocess_config)
        if model.preprocess_config.kind == "ink" and not has_ink(view):
            raise DrawingError(f"{label} is blank: {'it has no strokes' if which else f'draw a {thing} with the pen first'}.")
        return view


def _check_top_k(top_k: Any) -> int:
    try:
        k = int(top_k)
    except (TypeError, ValueError, OverflowError):  # OverflowError: int(float("inf"))
        raise InputError(f"top_k must be a whole number from 1 to {MAX_TOP_K}, got {str(top_k)[:40]!r}.") from None
    if not 1 <= k <= MAX_TOP_K:
        raise InputError(f"top_k must be a whole number from 1 to {MAX_TOP_K}, got {str(k)[:40]}.")
    return k


def _ordinal(n: int) -> str:
    return f"{n}{'th' if 10 <= n % 100 <= 20 else {1: 'st', 2: 'nd', 3: 'rd'}.get(n % 10, 'th')}"


def _clean_name(name: Any) -> str:
    text = " ".join(str(name or "").split())  # one line, no stray whitespace
    if not text:
        raise InputError("Give the symbol a name.")
    if len(text) > MAX_NAME_LENGTH:
        raise InputError(f"Symbol names are at most {MAX_NAME_LENGTH} characters; this one has {len(text)}.")
    if not text.isprintable():
        raise InputError("Symbol names cannot contain control characters.")
    return text
