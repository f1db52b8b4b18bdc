"""Figures: scored test pairs, learning curves, reliability diagrams. Written as PNG files (matplotlib, Agg backend)."""

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
from siamese.transforms import as_image  # noqa: E402  (the package's one way from any image to PIL)

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


def plot_study_curves(curves: dict[str, list[list[dict]]], path: str | Path) -> Path:
    """Training loss (each objective's own, so only its shape compares) and validation log loss of
    P(same) (the same measure for all) against CPU-minutes; one line per seed, one colour per objective."""
    figure, (train_ax, val_ax) = plt.subplots(1, 2, figsize=(12, 4.2))
    for colour, (name, runs) in zip(_COLOURS, curves.items()):
        for i, metrics in enumerate(runs):
            for ax, key, style in ((train_ax, "train_loss", "-"), (val_ax, "val_loss", "o-")):
                minutes, values = _series(metrics, key, x="seconds")
                if minutes:
                    ax.plot([m / 60 for m in minutes], values, style, color=colour, alpha=0.8, markersize=3, linewidth=1,
                            label=name if i == 0 else None)  # fmt: skip
    train_ax.set(xlabel="CPU-minutes", ylabel="loss", title="Training loss (each objective's own loss)", yscale="log")
    val_ax.set(xlabel="CPU-minutes", ylabel="log loss", title="Validation log loss of P(same), fixed pairs", yscale="log")
    for ax in (train_ax, val_ax):
        ax.grid(alpha=0.3)
        if ax.has_data():
            ax.legend(fontsize=8)
    figure.tight_layout()
    return _save(figure, path)


def plot_study_validation(curves: dict[str, list[list[dict]]], path: str | Path) -> Path:
    """Validation one-shot accuracy against CPU-minutes; one line per seed, one colour per objective."""
    figure, ax = plt.subplots(figsize=(7.5, 4.5))
    for colour, (name, runs) in zip(_COLOURS, curves.items()):
        for i, metrics in enumerate(runs):
            minutes, values = _series(metrics, "val_accuracy", x="seconds")
            if minutes:
                ax.plot([m / 60 for m in minutes], [100 * v for v in values], "o-", color=colour, markersize=3, linewidth=1,
                        alpha=0.8, label=name if i == 0 else None)  # fmt: skip
    ax.set(xlabel="CPU-minutes", ylabel="accuracy (%)", title="Validation one-shot accuracy")
    ax.grid(alpha=0.3)
    if ax.has_data():
        ax.legend(fontsize=8)
    figure.tight_layout()
    return _save(figure, path)


def plot_pair_grid(models: dict[str, SiameseNet | Scorer], pairs: Sequence[Pair], path: str | Path) -> Path:
    """The same pairs, one row each, scored by every model (one column each): P(same), green when
    thresholding at 0.5 gets the pair right, red when not."""
    if not pairs or not models:
        raise ValueError("No pairs or no models to plot.")
    scores = {name: pair_scores(as_scorer(m), [a for a, _, _ in pairs], [b for _, b, _ in pairs]) for name, m in models.items()}
    columns = 1 + len(models)
    figure, axes = plt.subplots(len(pairs), columns, figsize=(2.6 + 1.3 * len(models), 1.05 * len(pairs) + 0.4), squeeze=False,
                                gridspec_kw={"width_ratios": [2.4] + [1] * len(models)})  # fmt: skip
    for ax in axes.flat:
        ax.axis("off")
    for row, (a, b, same) in enumerate(pairs):
        axes[row, 0].imshow(_side_by_side(a, b), cmap="gray", vmin=0, vmax=255)
        axes[row, 0].set_title("same" if same else "different", fontsize=8, loc="left")
        for col, name in enumerate(models, start=1):
            score = float(scores[name][row])
            right = (score >= 0.5) == bool(same)
            axes[row, col].text(0.5, 0.5, f"{score:.2f}", ha="center", va="center", fontsize=11, color="green" if right else "red")
    for col, name in enumerate(models, start=1):
        axes[0, col].set_title(name, fontsize=9)
    figure.suptitle("P(same) of the same test pairs, by objective", fontsize=10)
    figure.tight_layout()
    return _save(figure, path)


def plot_reliability(result: dict, path: str | Path) -> Path:
    """Reliability diagrams of a calibration result (:func:`siamese.evaluation.calibration.evaluate_calibration`):
    one panel per split (columns) and task (rows), accuracy against confidence of the top-1 answer per
    bin, at T = 1 and at the fitted temperature, each with its ECE; the dotted line is the threshold."""
    per_split = result["per_split"]
    splits, tasks = list(per_split), list(next(iter(per_split.values())))
    temperature, threshold = result["temperature"], result["threshold"]
    figure, axes = plt.subplots(len(tasks), len(splits), figsize=(5.2 * len(splits), 4.6 * len(tasks)), squeeze=False)
    for col, split in enumerate(splits):
        for row, task in enumerate(tasks):
            ax, values = axes[row, col], per_split[split][task]
            ax.plot([0, 1], [0, 1], "--", color="grey", linewidth=1)
            ax.axvline(threshold, linestyle=":", color="black", linewidth=1, label=f"threshold {threshold:.2f}")
            for key, label, colour in (("before", "T = 1", "tab:orange"), ("after", f"T = {temperature:.3f}", "tab:blue")):
                bins = values["reliability"][key]
                ece = values["ece_before" if key == "before" else "ece"]
                sizes = [12 + 120 * b["count"] / values["n_queries"] for b in bins]
                x, y = [b["confidence"] for b in bins], [b["accuracy"] for b in bins]
                ax.plot(x, y, "o-", color=colour, alpha=0.8, markersize=3, label=f"{label}: ECE {ece:.3f}")
                ax.scatter(x, y, s=sizes, color=colour, alpha=0.5)
            ax.set(xlim=(0, 1), ylim=(0, 1), xlabel="confidence of the top-1 answer", ylabel="accuracy",
                   title=f"{split}, {task.replace('_', ' ')}: {values['n_queries']:,} drawings, {values['candidates']:.0f} candidates")  # fmt: skip
            ax.title.set_fontsize(10)
            ax.grid(alpha=0.3)
            ax.legend(fontsize=8, loc="upper left")
    figure.suptitle("P(character | drawing): reliability before and after the temperature (marker area: share of drawings)", fontsize=11)
    figure.tight_layout()
    return _save(figure, path)


_COLOURS = ("tab:blue", "tab:orange", "tab:green", "tab:red", "tab:purple", "tab:brown", "tab:pink", "tab:grey")


def _series(metrics: list[dict], key: str, x: str = "step") -> tuple[list[int], list[float]]:
    rows = [row for row in metrics if row.get(key) is not None and x in row]
    return [row[x] for row in rows], [float(row[key]) for row in rows]


def _side_by_side(a: ImageLike, b: ImageLike, side: int = 105, gap: int = 6) -> np.ndarray:
    """Both images as grey squares of the same size, with a mid-grey bar between them."""
    tiles = [
        np.asarray(as_image(image).convert("L").resize((side, side), Image.Resampling.BILINEAR))
        for image in (a, b)
    ]
    return np.hstack([tiles[0], np.full((side, gap), 128, dtype=np.uint8), tiles[1]])


def _save(figure: plt.Figure, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return path
