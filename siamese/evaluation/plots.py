"""Figures: scored test pairs, and learning curves. Written as PNG files (matplotlib, Agg backend)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Sequence

import matplotlib

matplotlib.use("Agg")  # files only; never needs a display
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

from siamese.evaluation.scorers import Scorer, as_scorer  # noqa: E402
from siamese.evaluation.verification import pair_scores  # noqa: E402
from siamese.models import SiameseNet  # noqa: E402
from siamese.models.base import ImageLike  # noqa: E402
from siamese.transforms import _as_pil  # noqa: E402  (the package's one way from any image to PIL)

Pair = tuple[ImageLike, ImageLike, bool]


def plot_pair_scores(model: SiameseNet | Scorer, pairs: Sequence[Pair], path: str | Path, columns: int = 4) -> Path:
    """A grid of ``(image_a, image_b, same)`` pairs shown side by side, titled with P(same) and the
    truth; green when thresholding at 0.5 gets the pair right, red when not."""
    if not pairs:
        raise ValueError("No pairs to plot.")
    scores = pair_scores(as_scorer(model), [a for a, _, _ in pairs], [b for _, b, _ in pairs])
    rows = math.ceil(len(pairs) / columns)
    figure, axes = plt.subplots(rows, columns, figsize=(3.2 * columns, 1.9 * rows), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, (a, b, same), score in zip(axes.flat, pairs, scores):
        ax.imshow(_side_by_side(a, b), cmap="gray", vmin=0, vmax=255)
        right = (score >= 0.5) == bool(same)
        title = f"P(same) {score:.2f} | {'same' if same else 'different'}"
        ax.set_title(title, color="green" if right else "red", fontsize=9)
    figure.tight_layout()
    return _save(figure, path)


def plot_learning_curves(metrics: list[dict], path: str | Path) -> Path:
    """Train and validation loss against step (left) and validation one-shot accuracy (right).

    Rows are ``{"step", "train_loss"}`` or ``{"step", "val_loss", "val_accuracy"}``; missing keys are skipped.
    """
    figure, (loss_ax, acc_ax) = plt.subplots(1, 2, figsize=(11, 4))
    for key, label, style in (("train_loss", "train loss", "-"), ("val_loss", "validation loss", "o-")):
        steps, values = _series(metrics, key)
        if steps:
            loss_ax.plot(steps, values, style, label=label, markersize=3, alpha=0.4 if key == "train_loss" else 1.0)
    steps, values = _series(metrics, "val_accuracy")
    if steps:
        acc_ax.plot(steps, [100 * v for v in values], "o-", color="tab:green", markersize=3)
    loss_ax.set(xlabel="step", ylabel="loss", title="Loss")
    acc_ax.set(xlabel="step", ylabel="accuracy (%)", title="Validation one-shot accuracy")
    if loss_ax.has_data():
        loss_ax.legend()
    for ax in (loss_ax, acc_ax):
        ax.grid(alpha=0.3)
    figure.tight_layout()
    return _save(figure, path)


def _series(metrics: list[dict], key: str) -> tuple[list[int], list[float]]:
    rows = [row for row in metrics if row.get(key) is not None and "step" in row]
    return [int(row["step"]) for row in rows], [float(row[key]) for row in rows]


def _side_by_side(a: ImageLike, b: ImageLike, side: int = 105, gap: int = 6) -> np.ndarray:
    """Both images as grey squares of the same size, with a mid-grey bar between them."""
    tiles = [
        np.asarray(_as_pil(image).convert("L").resize((side, side), Image.Resampling.BILINEAR))
        for image in (a, b)
    ]
    return np.hstack([tiles[0], np.full((side, gap), 128, dtype=np.uint8), tiles[1]])


def _save(figure: plt.Figure, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return path
