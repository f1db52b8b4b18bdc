"""The ensemble checkpoint: trained models joined into one :class:`~siamese.models.EnsembleNet`, measured and carded
like a trained model (``scripts/ensemble.py`` is the command)."""

from __future__ import annotations

import json
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any, Callable

import torch

from siamese.hub import load_model
from siamese.models import EnsembleNet
from siamese.training.card import write_ensemble_card
from siamese.training.cli import train_command
from siamese.training.loop import TrainConfig, Validation, final_evaluation
from siamese.training.state import read_metrics, save_model_atomically

#: Validation trials per alphabet (group) on an ensemble's card: 2,000 on Omniglot's 10 validation alphabets.
VALIDATION_TRIALS_PER_GROUP = 200


def member_record(source: str) -> dict[str, Any]:
    """What a card says about one member: its source, and when it is a run's ``best/`` or ``final/`` folder (or a row of
    ``scripts/ablate.py``), the command that trained it, its steps and minutes; ``config`` and ``metrics`` (its run's
    log) are for the ensemble's own use, not its record."""
    run = Path(source).parent
    record: dict[str, Any] = {"source": source}
    if not (run / "train_config.json").is_file():
        return record
    config = TrainConfig(**{**asdict(TrainConfig()), **json.loads((run / "train_config.json").read_text())})
    record.update(command=train_command(config), config=asdict(config), metrics=read_metrics(run))
    logged = [row for row in record["metrics"] if "seconds" in row]
    if logged:
        record.update(steps=logged[-1]["step"], minutes=logged[-1]["seconds"] / 60.0, budget_clock=config.budget_clock)
    return record


def plot_member_curves(members: list[dict[str, Any]], path: Path) -> Path | None:
    """The members' learning curves on one figure (training and validation loss against minutes), when their runs
    logged any (:func:`member_record`); the card shows it."""
    from siamese.evaluation.plots import plot_study_curves

    curves = {Path(m["source"]).parent.name: [m["metrics"]] for m in members if m.get("metrics")}
    return plot_study_curves(curves, path) if curves else None


def join_models(sources: list[str], out: Path, evaluate: bool = False, say: Callable[[str], object] = print) -> dict[str, Any]:
    """Join the checkpoints ``sources`` (folders or Hub ids) into one ensemble checkpoint in ``out``; with ``evaluate``,
    measure it on validation and through the final evaluation of its members' data set, fit its calibration, and write
    its card. Returns what ``members.json`` records."""
    from siamese.data.splits import load_train_val, protocol
    from siamese.evaluation import evaluate_oneshot

    ensemble = EnsembleNet.from_models([load_model(source) for source in sources])
    save_model_atomically(ensemble, out)
    members = [member_record(source) for source in sources]
    plot_member_curves(members, out / "curves.png")
    record: dict[str, Any] = {"members": [{k: v for k, v in m.items() if k not in ("config", "metrics")} for m in members]}
    if evaluate:
        configs = [m["config"] for m in members if "config" in m]
        if len({(c["data"], c["train_on_validation"]) for c in configs}) > 1:
            raise ValueError("The members were trained on different data; an ensemble's card needs one data set.")
        seeds = sorted({c["seed"] for c in configs})
        if len(seeds) > 1 and protocol(configs[0]["data"]) == "folder":
            raise ValueError(f"The members were trained on different class splits of the folder (seeds {seeds}); an ensemble needs one.")
        # The members' seed when they share one, else the evaluations' default (Omniglot's split does not depend on it),
        # so that the ensemble's figures come from the same trials as a single model's.
        config = replace(TrainConfig(**configs[0]), seed=seeds[0] if len(seeds) == 1 else 0) if configs else TrainConfig()
        validation_set = load_train_val(config.data, config.seed, config.train_on_validation)[1]
        way = Validation(validation_set, VALIDATION_TRIALS_PER_GROUP, config.seed).n_way  # the way training validates with
        validation = evaluate_oneshot(ensemble, validation_set, way, trials_per_group=VALIDATION_TRIALS_PER_GROUP, seed=config.seed + 1)
        validation = {**validation, "way": way, "seed": config.seed + 1}
        say(f"validation: {100 * validation['accuracy']:.2f}% over {validation['n_trials']:,} trials")
        evaluation = final_evaluation(out, config, torch.device("cpu"), say)
        write_ensemble_card(out, asdict(config), record["members"], validation, evaluation)
        record["validation"] = {k: validation[k] for k in ("accuracy", "standard_error", "n_trials", "seed")}
    (out / "members.json").write_text(json.dumps(record, indent=2))
    return record
