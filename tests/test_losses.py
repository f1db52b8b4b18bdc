"""Pair losses with hand-computed values; label 1 means "same" everywhere."""

from __future__ import annotations

import math

import pytest
import torch
from torch.nn import functional as F

from siamese import CompactNet
from siamese.losses import LOSSES, bce_loss, contrastive_loss


@pytest.mark.parametrize(
    ("logit", "same", "expected"),
    [
        (0.0, 1, math.log(2)),
        (0.0, 0, math.log(2)),
        (2.0, 1, math.log1p(math.exp(-2))),  # -log(sigmoid(2))
        (2.0, 0, math.log1p(math.exp(2))),  # -log(1 - sigmoid(2))
        (-3.0, 0, math.log1p(math.exp(-3))),
        (-3.0, 1, math.log1p(math.exp(3))),
    ],
)
def test_bce_known_values(logit: float, same: int, expected: float) -> None:
    loss = bce_loss(torch.tensor([logit]), torch.tensor([same]))
    assert loss.item() == pytest.approx(expected, rel=1e-6)


def test_bce_is_the_mean_over_the_batch_and_accepts_integer_labels() -> None:
    logits = torch.tensor([0.0, 2.0, -3.0])
    same = torch.tensor([1, 1, 0])  # int64 labels
    expected = (math.log(2) + math.log1p(math.exp(-2)) + math.log1p(math.exp(-3))) / 3
    assert bce_loss(logits, same).item() == pytest.approx(expected, rel=1e-6)
    assert bce_loss(logits, same.bool()).item() == pytest.approx(expected, rel=1e-6)


def test_bce_is_stable_for_extreme_logits() -> None:
    loss = bce_loss(torch.tensor([200.0, -200.0]), torch.tensor([0.0, 1.0]))
    assert torch.isfinite(loss)
    assert loss.item() == pytest.approx(200.0, rel=1e-6)
    assert bce_loss(torch.tensor([200.0, -200.0]), torch.tensor([1.0, 0.0])).item() == pytest.approx(0.0, abs=1e-6)


@pytest.mark.parametrize(
    ("distance", "same", "margin", "expected"),
    [
        (0.5, 1, 1.0, 0.5 * 0.25),  # same: 0.5 d^2
        (0.0, 1, 1.0, 0.0),
        (2.0, 1, 1.0, 0.5 * 4.0),  # same pairs are pulled in however far apart
        (0.3, 0, 1.0, 0.5 * 0.49),  # different: 0.5 (m - d)^2
        (0.0, 0, 1.0, 0.5),
        (1.5, 0, 1.0, 0.0),  # different beyond the margin: nothing to push
        (1.0, 0, 1.0, 0.0),
        (1.5, 0, 2.0, 0.5 * 0.25),  # the margin is honoured
    ],
)
def test_contrastive_known_values(distance: float, same: int, margin: float, expected: float) -> None:
    loss = contrastive_loss(torch.tensor([distance]), torch.tensor([same]), margin=margin)
    assert loss.item() == pytest.approx(expected, abs=1e-7)


def test_contrastive_is_the_mean_over_a_mixed_batch() -> None:
    distance = torch.tensor([0.5, 0.3, 1.5, 0.0])
    same = torch.tensor([1, 0, 0, 1])
    expected = (0.5 * 0.25 + 0.5 * 0.49 + 0.0 + 0.0) / 4
    assert contrastive_loss(distance, same).item() == pytest.approx(expected, abs=1e-7)
    # Float and bool labels mean the same.
    assert contrastive_loss(distance, same.float()).item() == pytest.approx(expected, abs=1e-7)
    assert contrastive_loss(distance, same.bool()).item() == pytest.approx(expected, abs=1e-7)


def test_contrastive_label_convention_is_same_equals_one() -> None:
    """A close pair labelled same costs little; labelled different it costs a lot."""
    close = torch.tensor([0.05])
    assert contrastive_loss(close, torch.tensor([1])) < contrastive_loss(close, torch.tensor([0]))
    far = torch.tensor([3.0])
    assert contrastive_loss(far, torch.tensor([0])) < contrastive_loss(far, torch.tensor([1]))


def test_gradients_flow_through_bce() -> None:
    logits = torch.tensor([0.0, 2.0, -1.0], requires_grad=True)
    same = torch.tensor([1.0, 0.0, 1.0])
    bce_loss(logits, same).backward()
    expected = (torch.sigmoid(logits.detach()) - same) / 3  # d/dz of mean BCE
    assert torch.allclose(logits.grad, expected, atol=1e-6)


def test_gradients_flow_through_contrastive() -> None:
    distance = torch.tensor([0.5, 0.3, 1.5], requires_grad=True)
    same = torch.tensor([1, 0, 0])
    contrastive_loss(distance, same, margin=1.0).backward()
    # d/dd: same -> d / N; different within margin -> -(m - d) / N; beyond margin -> 0.
    expected = torch.tensor([0.5, -0.7, 0.0]) / 3
    assert torch.allclose(distance.grad, expected, atol=1e-6)


def test_gradients_reach_a_model_through_both_losses() -> None:
    torch.manual_seed(0)
    model = CompactNet(input_size=28, widths=(4, 8), embedding_dim=8)
    x1, x2 = torch.rand(4, 1, 28, 28), torch.rand(4, 1, 28, 28)
    same = torch.tensor([1, 0, 1, 0])
    a, b = model.features(x1), model.features(x2)
    loss = bce_loss(model.pair_logits(a, b), same) + contrastive_loss(model.distance(a, b), same)
    loss.backward()
    for name, parameter in model.named_parameters():
        assert parameter.grad is not None, name
        assert torch.isfinite(parameter.grad).all(), name
    assert model.blocks[0][0].weight.grad.abs().sum() > 0


def test_known_losses() -> None:
    assert set(LOSSES) == {"bce", "contrastive", "prototypical", "cosface"}


def test_prototypical_objective_matches_hand_computation() -> None:
    """Orthogonal unit prototypes and queries on them: the head's logits are scale - bias on the
    diagonal and bias elsewhere, so both terms have closed forms."""
    from siamese.losses import prototypical_objective
    from siamese.models import CompactNet

    model = CompactNet(embedding_dim=4)  # head: 10 * cos - 5
    n_way = 4
    support = torch.eye(n_way)[:, None, :]  # [4, 1, 4]
    query = torch.eye(n_way)[:, None, :].repeat(1, 2, 1)  # [4, 2, 4]
    loss = prototypical_objective(model, support, query)
    ce = math.log(1 + (n_way - 1) * math.exp(-10.0))
    # BCE with pos_weight n_way - 1: positives (logit 5) weighted 3, negatives (logit -5) weight 1, over 4*2*4 entries.
    positives = 8 * (n_way - 1) * math.log(1 + math.exp(-5.0))
    negatives = 24 * math.log(1 + math.exp(-5.0))
    assert loss.item() == pytest.approx(ce + (positives + negatives) / 32, rel=1e-5)


def test_prototypical_objective_prefers_queries_near_their_prototype() -> None:
    from siamese.losses import prototypical_objective
    from siamese.models import CompactNet

    model = CompactNet(embedding_dim=8)
    support = torch.nn.functional.normalize(torch.randn(5, 1, 8), dim=-1)
    near = prototypical_objective(model, support, support.repeat(1, 3, 1))
    far = prototypical_objective(model, support, support.roll(1, dims=0).repeat(1, 3, 1))
    assert near.item() < far.item()


def test_contrastive_pair_objective_trains_the_head_only_through_detached_features() -> None:
    from siamese.losses import pair_objective
    from siamese.models import CompactNet

    model = CompactNet(embedding_dim=8)
    a = torch.nn.functional.normalize(torch.randn(6, 8), dim=1).requires_grad_()
    b = torch.nn.functional.normalize(torch.randn(6, 8), dim=1)
    same = torch.tensor([1.0, 0, 1, 0, 1, 0])
    loss = pair_objective(model, a, b, same, "contrastive", margin=1.0)
    loss.backward()
    expected_grad = torch.autograd.grad(contrastive_loss(torch.linalg.vector_norm(a - b, dim=1), same, 1.0), a)[0]
    assert torch.allclose(a.grad, expected_grad, atol=1e-6)
    assert model.scale.grad is not None and model.bias.grad is not None


def test_cosface_objective_matches_hand_computation() -> None:
    """Features on their own class vectors (cos 1) and orthogonal to the others (cos 0): the softmax
    term is log(1 + (C - 1) exp(-s (1 - m))), and the calibration term has a closed form too."""
    from siamese.losses import CosineClassifier, cosface_objective
    from siamese.models import CompactNet

    model = CompactNet(embedding_dim=4)  # head: 10 * cos - 5
    classifier = CosineClassifier(4, 4)
    with torch.no_grad():
        classifier.weight.copy_(torch.eye(4))
    labels = torch.tensor([0, 0, 1, 1])
    features = torch.eye(4)[labels]
    loss = cosface_objective(model, classifier, features, labels, margin=0.25, scale=8.0)
    ce = math.log(1 + 3 * math.exp(-8.0 * 0.75))
    # 12 off-diagonal pairs: 4 same (logit 5, weight 8 / 4 = 2), 8 different (logit -5).
    bce = (4 * 2 * math.log(1 + math.exp(-5.0)) + 8 * math.log(1 + math.exp(-5.0))) / 12
    assert loss.item() == pytest.approx(ce + bce, rel=1e-5)


def test_cosface_margin_raises_the_loss_and_gradients_reach_the_classifier() -> None:
    from siamese.losses import CosineClassifier, cosface_objective
    from siamese.models import CompactNet

    torch.manual_seed(0)
    model, classifier = CompactNet(embedding_dim=8), CosineClassifier(5, 8)
    features = torch.nn.functional.normalize(torch.randn(10, 8), dim=1).requires_grad_()
    labels = torch.arange(5).repeat_interleave(2)
    plain = cosface_objective(model, classifier, features, labels, margin=0.0)
    margined = cosface_objective(model, classifier, features, labels, margin=0.3)
    assert margined > plain
    margined.backward()
    assert classifier.weight.grad.abs().sum() > 0 and features.grad.abs().sum() > 0


def test_similarity_distillation_is_zero_only_when_the_student_agrees() -> None:
    from siamese.losses import similarity_distillation

    torch.manual_seed(0)
    teacher = F.normalize(torch.randn(12, 8), dim=1)
    assert similarity_distillation(teacher, teacher).item() == pytest.approx(0.0, abs=1e-6)
    student = F.normalize(torch.randn(12, 8), dim=1).requires_grad_(True)
    loss = similarity_distillation(student, teacher)
    assert loss.item() > 0.1
    loss.backward()
    assert student.grad is not None and student.grad.abs().sum() > 0
    rotated = teacher @ torch.linalg.qr(torch.randn(8, 8))[0]  # the same similarities in other coordinates
    assert similarity_distillation(rotated, teacher).item() == pytest.approx(0.0, abs=1e-5)
