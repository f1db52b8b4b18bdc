"""Koch's layer-wise SGD schedule and the cosine schedule are pure functions of the step."""

from __future__ import annotations

import pytest

from siamese.models import build_model
from siamese.training.optim import OptimConfig, apply_schedule, build_optimizer, layers_of


def test_koch_sgd_has_one_group_per_layer_with_its_own_rate() -> None:
    model = build_model("koch")
    rates = (0.01, 0.02, 0.03, 0.04, 0.05, 0.06)
    optimizer = build_optimizer(model, OptimConfig(name="koch-sgd", layer_lrs=rates))
    assert len(layers_of(model)) == 6  # 4 convolutions, the 4096 layer and the head
    assert [g["lr"] for g in optimizer.param_groups] == list(rates)


def test_koch_schedule_decays_lr_per_epoch_and_raises_momentum_linearly() -> None:
    config = OptimConfig(name="koch-sgd", lr=0.1, momentum=0.9, momentum_epochs=10, lr_decay=0.99)
    optimizer = build_optimizer(build_model("koch"), config)
    apply_schedule(optimizer, config, step=0, progress=0.0, steps_per_epoch=100)
    assert optimizer.param_groups[0]["momentum"] == pytest.approx(0.5)
    apply_schedule(optimizer, config, step=500, progress=0.5, steps_per_epoch=100)  # epoch 5
    assert optimizer.param_groups[0]["lr"] == pytest.approx(0.1 * 0.99**5)
    assert optimizer.param_groups[0]["momentum"] == pytest.approx(0.7)
    apply_schedule(optimizer, config, step=5000, progress=1.0, steps_per_epoch=100)
    assert optimizer.param_groups[0]["momentum"] == pytest.approx(0.9)


def test_cosine_schedule_warms_up_then_decays_to_zero() -> None:
    config = OptimConfig(name="adamw", lr=1e-3, warmup_steps=10)
    optimizer = build_optimizer(build_model("compact"), config)
    assert apply_schedule(optimizer, config, 0, 0.0, 1) == pytest.approx(1e-4)
    assert apply_schedule(optimizer, config, 50, 0.5, 1) == pytest.approx(0.5e-3)
    assert apply_schedule(optimizer, config, 100, 1.0, 1) == pytest.approx(0.0, abs=1e-12)


def test_wrong_number_of_layer_rates_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="needs 6 values"):
        build_optimizer(build_model("koch"), OptimConfig(name="koch-sgd", layer_lrs=(0.1, 0.2)))
    with pytest.raises(ValueError, match="Unknown optimizer"):
        build_optimizer(build_model("koch"), OptimConfig(name="rmsprop"))


def test_an_extra_module_joins_at_its_scaled_rate_and_follows_the_schedule() -> None:
    from torch import nn

    from siamese.training.optim import OptimConfig, apply_schedule, build_optimizer

    model, extra = nn.Linear(3, 2), nn.Linear(2, 5)
    config = OptimConfig(name="adamw", lr=1e-3, warmup_steps=1)
    optimizer = build_optimizer(model, config, extra=extra, extra_lr_scale=10.0)
    assert [g["lr"] for g in optimizer.param_groups] == [1e-3, 1e-2]
    assert {id(p) for p in optimizer.param_groups[1]["params"]} == {id(p) for p in extra.parameters()}
    apply_schedule(optimizer, config, step=5, progress=0.5, steps_per_epoch=10)
    assert optimizer.param_groups[1]["lr"] == pytest.approx(10 * optimizer.param_groups[0]["lr"])
