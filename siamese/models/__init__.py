"""Siamese models: the paper's :class:`KochNet`, the project's default :class:`CompactNet`, a narrow
:class:`ResNet12Net`, and :class:`EnsembleNet`, several trained models as one."""

from __future__ import annotations

import inspect
from typing import Any

from siamese.models.base import CheckpointError, SiameseNet, read_config
from siamese.models.compact import CompactNet
from siamese.models.ensemble import EnsembleNet
from siamese.models.koch import KochNet
from siamese.models.resnet12 import ResNet12Net

ARCHITECTURES: dict[str, type[SiameseNet]] = {cls.architecture: cls for cls in (KochNet, CompactNet, ResNet12Net, EnsembleNet)}
DEFAULT_ARCHITECTURE = CompactNet.architecture


def build_model(architecture: str = DEFAULT_ARCHITECTURE, **kwargs: Any) -> SiameseNet:
    """A freshly initialised model of the named architecture."""
    return architecture_class(architecture)(**kwargs)


def architecture_class(architecture: str) -> type[SiameseNet]:
    if architecture not in ARCHITECTURES:
        known = ", ".join(sorted(ARCHITECTURES))
        raise CheckpointError(f"Unknown architecture {architecture!r}; known: {known}.")
    return ARCHITECTURES[architecture]


def model_kwargs_from_config(config: dict[str, Any]) -> tuple[type[SiameseNet], dict[str, Any]]:
    """Validate a ``config.json`` dict: known architecture, only constructor arguments."""
    config = dict(config)
    cls = architecture_class(str(config.pop("architecture", "")))
    accepted = set(inspect.signature(cls.__init__).parameters) - {"self"}
    unknown = sorted(set(config) - accepted)
    if unknown:
        raise CheckpointError(f"config.json has settings a {cls.__name__} does not take: {', '.join(unknown)}.")
    return cls, config


__all__ = [
    "ARCHITECTURES",
    "CheckpointError",
    "CompactNet",
    "DEFAULT_ARCHITECTURE",
    "EnsembleNet",
    "KochNet",
    "ResNet12Net",
    "SiameseNet",
    "build_model",
    "model_kwargs_from_config",
    "read_config",
]
