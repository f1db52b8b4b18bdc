"""P(character | drawing): a softmax over the candidates' logits of *same*, with a fitted temperature.

A pair's P(same) answers "do these two show the same character?", each pair on its own, so a ranking
of them can read 100%, 97%, 95%... A visitor asks "which of these characters is it?": exactly one
is, so the answer is a distribution over the candidates. ``softmax(logits / temperature)`` is one,
and the temperature is fitted on validation trials (:mod:`siamese.evaluation.calibration`) so that
"62%" is right about 62% of the time. The fit and the "no confident match" threshold travel with the
checkpoint, in ``calibration.json`` beside ``config.json``.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch

from siamese.models.base import CheckpointError
from siamese.utils import one_line, replacing

CALIBRATION_FILE = "calibration.json"


@dataclass(frozen=True)
class Calibration:
    """How a checkpoint's logits become P(character | drawing), and when the best answer is trusted.

    ``fitted`` is False for the defaults (temperature 1, threshold 0.5), which a checkpoint without
    ``calibration.json`` gets: its percentages are then a plain softmax, and say so.
    """

    temperature: float = 1.0
    threshold: float = 0.5  #: the best candidate's posterior below which the page says "no confident match"
    fitted: bool = False
    details: dict[str, Any] = field(default_factory=dict, compare=False)  #: what it was fitted on, and its figures

    def __post_init__(self) -> None:
        if not (self.temperature > 0 and math.isfinite(self.temperature)):
            raise ValueError(f"The temperature must be a positive number, got {self.temperature}.")
        if not 0.0 <= self.threshold <= 1.0:
            raise ValueError(f"The threshold must be from 0 to 1, got {self.threshold}.")

    def posterior(self, logits: torch.Tensor) -> torch.Tensor:
        """Logits of *same* ``[..., candidates]`` -> P(character | drawing), summing to 1 over the last axis."""
        return torch.softmax(logits.double() / self.temperature, dim=-1).to(logits.dtype)


def read_calibration(folder: str | Path) -> Calibration:
    """The calibration saved in a checkpoint folder, or the unfitted defaults when it has none.

    A file that is there but unusable is a :class:`CheckpointError` (one line: the file and what is
    wrong), never the defaults: a checkpoint that was calibrated must not quietly be served without it.
    """
    path = Path(folder) / CALIBRATION_FILE
    if not path.is_file():
        return Calibration()
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(data, dict):
            raise TypeError("it must hold a JSON object")
        missing = [key for key in ("temperature", "threshold") if key not in data]
        if missing:
            raise KeyError(f"it has no {' and no '.join(missing)}")
        details = data.get("details", {})
        if not isinstance(details, dict):
            raise TypeError("its details must be a JSON object")
        return Calibration(float(data["temperature"]), float(data["threshold"]), True, details)
    except (ValueError, KeyError, TypeError) as error:
        reason = error.args[0] if isinstance(error, KeyError) else error
        raise CheckpointError(f"{path} is not a valid calibration file: {one_line(reason)}") from error


def write_calibration(folder: str | Path, calibration: Calibration) -> Path:
    """Save ``calibration`` beside the checkpoint (atomically)."""
    path = Path(folder) / CALIBRATION_FILE
    data = asdict(calibration)
    data.pop("fitted")
    with replacing(path) as temporary:
        temporary.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    return path
