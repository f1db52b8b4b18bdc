from __future__ import annotations

import subprocess
import sys
import threading

import pytest
import torch

from safetensors import safe_open
from safetensors.torch import save_file

import siamese
from siamese.data.omniglot import load_omniglot
from siamese.hub import DEFAULT_CHECKPOINT, PROTOTYPES_FILE, checkpoint_fingerprint
from siamese.matching import gallery as gallery_module
from siamese.matching.gallery import ALL_ALPHABETS, DRAWERS, PrototypesStopped, load_gallery
from siamese.matching.support_set import prototypes as mean_prototypes


def test_the_gallery_holds_every_character_once_and_caches_its_embeddings(tmp_path, monkeypatch):
    model = siamese.load_model()
    gallery = load_gallery(model, "fp-test", tmp_path)
    assert len(gallery.names) == 1623 and len(set(gallery.names)) == 1623
    assert len(gallery.alphabet_names) == 50
    assert "Tengwar — character 07" in gallery.names
    assert (tmp_path / "gallery-fp-test.safetensors").is_file()

    def refuse(*args, **kwargs):
        raise AssertionError("a warm cache must not embed the gallery again")

    monkeypatch.setattr(model, "embed", refuse)
    again = load_gallery(model, "fp-test", tmp_path)
    assert torch.equal(again.features, gallery.features)


def test_a_corrupt_cache_is_rebuilt(tmp_path):
    model = siamese.load_model()
    (tmp_path / "gallery-fp.safetensors").write_bytes(b"not safetensors")
    gallery = load_gallery(model, "fp", tmp_path)
    assert gallery.features.shape == (1623, model.embed(gallery.images[:1]).shape[1])


def test_an_alphabet_is_a_slice_and_scans_match_their_own_character(tmp_path):
    model = siamese.load_model()
    gallery = load_gallery(model, "fp", tmp_path)
    support = gallery.support_set(model, "Tengwar")
    assert len(support) == 25 and all(label.startswith("Tengwar") for label in support.labels)
    assert len(gallery.support_set(model, ALL_ALPHABETS)) == 1623
    name = support.labels[6]
    assert support.top_k(gallery.image(name), k=1)[0].label == name


def test_a_prototype_is_the_mean_embedding_of_its_drawings_and_is_cached(tmp_path, monkeypatch):
    model = siamese.load_model()
    gallery = load_gallery(model, "fp", tmp_path)
    drawers = (1, 2)
    prototypes = gallery.prototypes(model, "fp", drawers)
    assert prototypes.shape == gallery.features.shape
    assert torch.allclose(prototypes.norm(dim=1), torch.ones(len(prototypes)), atol=1e-5)  # on the sphere, as drawings are
    second = load_omniglot("all", drawers=(2,))
    i = gallery.index("Tengwar — character 07")
    j = next(k for k, c in enumerate(second.labels) if second.class_names[c] == "Tengwar/character07")
    mean = gallery.features[i] + model.embed([second.images[j]])[0].cpu()
    assert torch.allclose(prototypes[i], mean / mean.norm(), atol=1e-5)
    assert not torch.allclose(prototypes[i], gallery.features[i], atol=1e-3)  # not the one drawing

    def refuse(*args, **kwargs):
        raise AssertionError("cached prototypes must not be computed again")

    monkeypatch.setattr(model, "embed", refuse)
    again = load_gallery(model, "fp", tmp_path)
    assert torch.equal(again.prototypes(model, "fp", drawers), prototypes)


def test_a_checkpoint_s_own_prototypes_are_read_for_its_weights_only(tmp_path, monkeypatch):
    model = siamese.load_model()
    gallery = load_gallery(model, "fp", tmp_path / "cache", precomputed=tmp_path / PROTOTYPES_FILE)
    shipped = torch.nn.functional.normalize(torch.randn(len(gallery.names), gallery.features.shape[1]), dim=1)
    save_file({"features": shipped}, str(tmp_path / PROTOTYPES_FILE), metadata={"fingerprint": "fp"})
    computed = []
    monkeypatch.setattr(gallery_module, "_prototypes", lambda model, names, drawers, stop: computed.append(drawers) or -shipped)
    assert torch.equal(gallery.prototypes(model, "fp"), shipped) and computed == []
    assert torch.equal(gallery.prototypes(model, "other weights"), -shipped) and computed == [DRAWERS]  # not theirs: computed
    assert torch.equal(gallery.prototypes(model, "fp", (1, 2)), -shipped)  # other drawers: computed too


def test_the_default_checkpoint_carries_the_prototypes_of_its_own_weights():
    # Stale prototypes would rank few-shot matches with another model's embeddings: recompute a few characters.
    path = DEFAULT_CHECKPOINT / PROTOTYPES_FILE
    with safe_open(path, framework="pt") as file:
        assert file.metadata()["fingerprint"] == checkpoint_fingerprint(DEFAULT_CHECKPOINT)
        shipped = file.get_tensor("features")
    model = siamese.load_model()
    characters = ["Tengwar/character07", "Korean/character02", "Latin/character26", "Mongolian/character30"]
    rows, features, class_of = [], [], []
    for drawer in DRAWERS:
        data = load_omniglot("all", drawers=(drawer,))
        listing = [data.class_names[c] for c in data.labels]  # drawer 1's order is the gallery's
        rows = rows or [listing.index(c) for c in characters]
        features.append(model.embed([data.images[listing.index(c)] for c in characters]))
        class_of += range(len(characters))
    assert shipped.shape[0] == 1623
    expected = mean_prototypes(torch.cat(features), torch.tensor(class_of), len(characters))
    assert torch.allclose(shipped[rows], expected, atol=1e-4)


def test_prototypes_asked_to_stop_raise_and_cache_nothing(tmp_path):
    model = siamese.load_model()
    gallery = load_gallery(model, "fp", tmp_path)
    stop = threading.Event()
    stop.set()
    with pytest.raises(PrototypesStopped):
        gallery.prototypes(model, "fp", (1, 2), stop=stop)
    assert not list(tmp_path.glob("prototypes-*"))


COMPUTED = DEFAULT_CHECKPOINT.parent / "compact-omniglot"


@pytest.mark.slow
def test_a_process_exiting_while_the_prototypes_are_computed_exits_cleanly(tmp_path):
    # A daemon thread inside PyTorch at exit used to abort the process ("terminate called without an active exception").
    script = f"""
import os, time
os.environ["SIAMESE_MODEL"] = {str(COMPUTED)!r}  # a checkpoint without prototypes of its own: they are computed
from siamese.matching.service import MatchingService
service = MatchingService.start(cache_dir={str(tmp_path)!r})
thread = service.prepare_few_shot()
time.sleep(2)
assert thread.is_alive()
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0 and "terminate called" not in done.stderr, done.stderr[-2000:]
