"""Optimisers: Koch et al.'s layer-wise SGD schedule, or Adam / AdamW with a cosine schedule.

Every schedule is a pure function of the step, so resuming at step ``s`` sets exactly the
learning rates and momenta that an uninterrupted run has there.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

OPTIMIZERS = ("koch-sgd", "adam", "adamw")


@dataclass(frozen=True)
class OptimConfig:
    name: str = "adamw"
    lr: float = 1e-3
    weight_decay: float = 1e-4
    momentum: float = 0.9  # koch-sgd: the final momentum of every layer (Koch: mu_j)
    layer_lrs: tuple[float, ...] = ()  # koch-sgd: one learning rate per layer; empty = ``lr`` for all
    layer_momenta: tuple[float, ...] = ()  # koch-sgd: one final momentum per layer
    lr_decay: float = 0.99  # koch-sgd: learning rates shrink by 1% per epoch
    momentum_epochs: int = 20  # koch-sgd: momentum rises linearly from 0.5 to its final value
    warmup_steps: int = 100  # adam/adamw: linear warm-up before the cosine decay


def layers_of(model: nn.Module) -> list[nn.Module]:
    """The modules holding weights (convolutions and linear layers), in order: Koch's "layers"."""
    return [m for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]


def build_optimizer(
    model: nn.Module, config: OptimConfig, extra: nn.Module | None = None, extra_lr_scale: float = 1.0
) -> torch.optim.Optimizer:
    """The optimiser of ``model``; ``extra`` (a training-only module, e.g. a classifier) joins it at
    ``extra_lr_scale`` times the base rate, on the same schedule."""
    optimizer = _model_optimizer(model, config)
    if extra is not None:
        lr = config.lr * extra_lr_scale
        optimizer.add_param_group({"params": list(extra.parameters()), "lr": lr, "base_lr": lr,
                                   **({"final_momentum": config.momentum} if config.name == "koch-sgd" else {})})  # fmt: skip
    return optimizer


def _model_optimizer(model: nn.Module, config: OptimConfig) -> torch.optim.Optimizer:
    if config.name == "koch-sgd":
        layers = layers_of(model)
        lrs = _per_layer(config.layer_lrs, config.lr, len(layers), "layer_lrs")
        momenta = _per_layer(config.layer_momenta, config.momentum, len(layers), "layer_momenta")
        grouped = {id(p) for layer in layers for p in layer.parameters()}
        groups = [
            {"params": list(layer.parameters()), "lr": lr, "base_lr": lr, "final_momentum": mu, "momentum": 0.5}
            for layer, lr, mu in zip(layers, lrs, momenta)
        ]
        rest = [p for p in model.parameters() if id(p) not in grouped]  # batch norm, cosine head
        if rest:
            groups.append({"params": rest, "lr": config.lr, "base_lr": config.lr, "final_momentum": config.momentum, "momentum": 0.5})
        return torch.optim.SGD(groups, lr=config.lr, momentum=0.5, weight_decay=config.weight_decay)
    if config.name in ("adam", "adamw"):
        cls = torch.optim.AdamW if config.name == "adamw" else torch.optim.Adam
        optimizer = cls(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
        for group in optimizer.param_groups:
            group["base_lr"] = config.lr
        return optimizer
    raise ValueError(f"Unknown optimizer {config.name!r}; choose from {', '.join(OPTIMIZERS)}.")


def apply_schedule(optimizer: torch.optim.Optimizer, config: OptimConfig, step: int, progress: float, steps_per_epoch: int) -> float:
    """Set every group's learning rate (and momentum) for ``step``; return the first group's lr.

    ``progress`` (0 to 1) is how far the run is: the step over the total steps, or the elapsed
    fraction of a time budget, whichever is further.
    """
    for group in optimizer.param_groups:
        if config.name == "koch-sgd":
            epoch = step / max(steps_per_epoch, 1)
            group["lr"] = group["base_lr"] * config.lr_decay ** math.floor(epoch)
            rise = min(epoch / max(config.momentum_epochs, 1), 1.0)
            group["momentum"] = 0.5 + (group["final_momentum"] - 0.5) * rise
        else:
            warm = min((step + 1) / max(config.warmup_steps, 1), 1.0)
            progress = min(progress, 1.0)
            group["lr"] = group["base_lr"] * warm * 0.5 * (1.0 + math.cos(math.pi * progress))
    return optimizer.param_groups[0]["lr"]


def _per_layer(values: tuple[float, ...], default: float, n: int, name: str) -> list[float]:
    if not values:
        return [default] * n
    if len(values) != n:
        raise ValueError(f"{name} needs {n} values (one per layer), got {len(values)}.")
    return list(values)
