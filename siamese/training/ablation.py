"""The accuracy ablations: recipes trained for the same CPU-minutes on the fast path, then judged alike.

Each row is the default recipe (prototypical 20-way within-alphabet episodes, 56 x 56, widths
32-64-64-64) with a few :class:`~siamese.training.TrainConfig` fields changed, trained for
``minutes`` of this process's CPU time (``--budget-clock cpu``) on one thread, so that two rows
share a 2-core machine fairly. A row is judged on its **final** weights (the moving average with
``ema``), not on its best validation point, over 5,000 validation trials (500 per alphabet) with a
95% interval from resampling alphabets; the learning curves give the figures at equal steps.

``scripts/ablate.py`` is the command; a run that is stopped resumes where it was (``train`` does).
"""

from __future__ import annotations

import contextlib
import json
import multiprocessing
import signal
import sys
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from siamese.hub import load_model
from siamese.training.cli import train_command
from siamese.training.loop import TrainConfig, train
from siamese.training.state import load_state, read_metrics, save_model_atomically

#: What every row shares: the budget is CPU time and validation during training is light (1,000 trials);
#: the 5,000-trial judgement happens once, on the final weights.
COMMON = dict(loss="prototypical", steps=1_000_000, budget_clock="cpu", eval_every=500, checkpoint_every=250,
              val_trials_per_alphabet=100, final_eval=False, seed=0)  # fmt: skip

#: The cosface recipe of the cosface rows: every class and its rotations, class vectors at 10x the rate.
COSFACE: dict[str, Any] = {"loss": "cosface", "rotated_classes": True, "classifier_lr_scale": 10.0}

#: name -> (the fields that differ from the default recipe, the question the row answers)
ROWS: dict[str, tuple[dict[str, Any], str]] = {
    "base-56": ({}, "the default recipe on the fast path"),
    "size-84": ({"model_args": {"input_size": 84}}, "resolution: 84 x 84"),
    "size-105": ({"model_args": {"input_size": 105}}, "resolution: 105 x 105, the scans' own"),
    "no-crop": ({"model_args": {"fit_to_box": False}}, "no crop to the ink (the scan's own position and size)"),
    "thin-56": ({"model_args": {"stroke_band": [2.5, 4.5]}}, "thinner strokes: band 2.5-4.5 px of 112 (median 4.5% of the side, as the raw scans)"),
    "margin-20": ({"model_args": {"margin": 0.2}}, "a wider blank margin around the crop (0.2 of the side, from 0.1)"),
    "wide-128": ({"model_args": {"widths": [64, 128, 128, 128]}}, "capacity: widths 64-128-128-128"),
    "wide-256": ({"model_args": {"widths": [64, 128, 256, 256]}}, "capacity: widths 64-128-256-256"),
    "five-blocks": ({"model_args": {"widths": [32, 64, 64, 64, 64]}}, "depth: a fifth block"),
    "resnet12": ({"architecture": "resnet12"}, "a narrow ResNet-12, widths 16-32-64-128 (about wide-128's cost)"),
    "way-40": ({"episode_way": 40, "partial_episodes": True}, "40 classes per episode (smaller alphabets whole)"),
    "way-60": ({"episode_way": 60, "partial_episodes": True}, "whole alphabets as episodes (14-55 classes)"),
    "ema": ({"ema": 0.999}, "an exponential moving average of the weights (decay 0.999)"),
    "rotations": ({"rotated_classes": True}, "each character turned by 90/180/270 degrees as three more classes"),
    "rotations-ema": ({"rotated_classes": True, "ema": 0.999, "seed": 1}, "rotations with the moving average, seed 1 (an ensemble member, trained longer)"),
    "rotations-way-60": ({"rotated_classes": True, "episode_way": 60, "partial_episodes": True, "seed": 2},
                         "rotations with whole alphabets as episodes, seed 2 (an ensemble member, trained longer)"),
    "dihedral": ({"rotated_classes": True, "mirrored_classes": True}, "each character turned and mirrored: the eight symmetries of the square as classes"),
    "dihedral-ema": ({"rotated_classes": True, "mirrored_classes": True, "ema": 0.999, "seed": 1}, "dihedral with the moving average, seed 1"),
    "distilled": ({"teacher": "{root}/ensembles/base-56+ema+wide-128"},
                  "the default network taught the similarities of the ensemble base-56+ema+wide-128 (judge that first)"),
    "cosface": (COSFACE, "cosface over every class (and rotations), class vectors at 10x the rate"),
    "cosface-ema": ({**COSFACE, "ema": 0.999, "seed": 1},
                    "cosface with the moving average, seed 1 (an ensemble member, trained longer)"),
    "cosface-2": ({**COSFACE, "seed": 2},
                  "cosface again, seed 2 (an ensemble member, trained longer)"),
    "cosface-resnet12": ({**COSFACE, "architecture": "resnet12"},
                         "cosface (and rotations) on the narrow ResNet-12: the single changes beyond noise, combined"),
    "cosface-resnet12-ema": ({**COSFACE, "architecture": "resnet12", "ema": 0.999, "seed": 1},
                             "cosface-resnet12 with the moving average, seed 1 (an ensemble member)"),
}
VALIDATION_TRIALS_PER_ALPHABET = 500
ENSEMBLE_QUESTION = "ensemble: the mean of the members' cosines"
VALIDATION_SEED = 1  # the seed scripts/train.py validates with (its --seed + 1)
DEFAULT_ROOT = Path("runs/ablate")  # where the rows train unless told otherwise


def row_config(name: str, minutes: float, root: Path) -> TrainConfig:
    """The :class:`TrainConfig` of a row, writing to ``root/name``."""
    if name not in ROWS:
        raise ValueError(f"Unknown ablation row {name!r}; choose from {', '.join(ROWS)}.")
    changes = {key: value.format(root=root) if isinstance(value, str) else value for key, value in ROWS[name][0].items()}
    return replace(TrainConfig(**COMMON), **changes, max_minutes=minutes, out_dir=str(root / name))


def command_line(config: TrainConfig) -> str:
    """``config`` as the ``scripts/train.py`` command that trains it, on one thread as the rows train."""
    return train_command(config, "OMP_NUM_THREADS=1 python scripts/train.py")


def run_rows(names: list[str], minutes: float, root: Path, jobs: int = 2) -> None:
    """Train the rows, ``jobs`` at a time, each on one thread with its log in ``root/name/train.log``;
    finished rows are left as they are and stopped ones resume."""
    todo = [name for name in names if not (root / name / "summary.json").exists()]
    for name in names:
        if name not in todo:
            print(f"{name}: finished earlier ({root / name})")
    configs = [row_config(name, minutes, root) for name in todo]
    if not configs:
        return
    # `kill PID` stops the rows as Ctrl-C does (leaving the pool terminates its workers; each row resumes from its
    # last checkpoint): a job started in the background from a script ignores SIGINT.
    previous = signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        with multiprocessing.get_context("spawn").Pool(min(jobs, len(configs))) as pool:
            for name, status in zip(todo, pool.imap(_train_quietly, configs)):
                print(f"{name}: {status}", flush=True)
    finally:
        signal.signal(signal.SIGTERM, previous)


def _train_quietly(config: TrainConfig) -> str:
    torch.set_num_threads(1)  # two rows share two cores; CPU-minutes stay comparable
    out = Path(config.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    with open(out / "train.log", "a", encoding="utf-8") as log, contextlib.redirect_stdout(log), contextlib.redirect_stderr(log):
        print(command_line(config), flush=True)
        try:
            summary = train(config)
        except Exception as error:  # one row failing leaves the others running; its log says why
            print(f"error: {error}", flush=True)
            return f"failed: {error}"
    return f"{summary['steps']} steps in {summary['minutes']:.1f} CPU-minutes"


def judge_row(folder: Path, trials_per_alphabet: int = VALIDATION_TRIALS_PER_ALPHABET) -> dict[str, Any]:
    """A row's final weights on the validation alphabets, its learning curve and its embedding speed;
    kept in ``folder/ablation.json`` and measured again only when the run has gone on since."""
    state = load_state(folder)
    if state is None:
        raise ValueError(f"{folder} holds no training state yet.")
    cached = _cached(folder / "ablation.json", state["step"], trials_per_alphabet)
    if cached:
        return cached
    config = TrainConfig(**{**asdict(TrainConfig()), **json.loads(state["config"])})
    model = final_model(state, config)
    curve = {str(row["step"]): row["val_accuracy"] for row in read_metrics(folder) if "val_accuracy" in row}  # string keys, as JSON keeps them
    about = {"name": folder.name, "command": command_line(config), "step": state["step"], "cpu_minutes": state["elapsed"] / 60.0, "curve": curve}
    save_model_atomically(model, folder / "final")  # a checkpoint folder, for scripts/evaluate.py and ensembles
    return _judge(model, about, config.data, config.seed, trials_per_alphabet, folder / "ablation.json")


def judge_ensemble(root: Path, names: list[str], trials_per_alphabet: int = VALIDATION_TRIALS_PER_ALPHABET) -> dict[str, Any]:
    """The ensemble of finished rows ``names`` (their final weights, :class:`~siamese.models.EnsembleNet`), judged as a
    row is; its steps and CPU-minutes are the members' sums. Kept in ``root/ensembles/NAME`` with its checkpoint."""
    from siamese.models import EnsembleNet

    members = [judge_row(root / name, trials_per_alphabet) for name in names]  # also writes each member's final/
    folder = root / "ensembles" / "+".join(names)
    step = sum(member["step"] for member in members)
    cached = _cached(folder / "ablation.json", step, trials_per_alphabet)
    if cached:
        return cached
    ensemble = EnsembleNet.from_models([load_model(root / name / "final") for name in names])
    save_model_atomically(ensemble, folder)
    config = TrainConfig(**{**asdict(TrainConfig()), **json.loads(load_state(root / names[0])["config"])})
    about = {"name": folder.name, "step": step, "cpu_minutes": sum(member["cpu_minutes"] for member in members), "curve": {},
             "command": "python scripts/ensemble.py " + " ".join(f"{root / name / 'final'}" for name in names) + f" --out {folder}"}  # fmt: skip
    return _judge(ensemble, about, config.data, config.seed, trials_per_alphabet, folder / "ablation.json")


def _cached(path: Path, step: int, trials_per_alphabet: int) -> dict[str, Any] | None:
    if path.exists():
        previous = json.loads(path.read_text())
        if previous.get("step") == step and previous.get("trials_per_alphabet") == trials_per_alphabet:
            return previous
    return None


def _judge(model: torch.nn.Module, about: dict[str, Any], data: str, seed: int, trials_per_alphabet: int, path: Path) -> dict[str, Any]:
    from siamese.data.splits import load_train_val
    from siamese.evaluation import evaluate_oneshot

    validation = load_train_val(data, seed)[1]
    result = evaluate_oneshot(model, validation, 20, trials_per_group=trials_per_alphabet, seed=VALIDATION_SEED)
    judged = {
        **about,
        "trials_per_alphabet": trials_per_alphabet,
        "val_accuracy": result["accuracy"],
        "standard_error": result["standard_error"],
        "group_interval": result["group_interval"],
        "per_alphabet": result["per_group"],
        "ms_per_image": {f"batch{batch}": ms for batch, ms in model.embedding_ms().items()},
        "parameters": model.num_parameters(),
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(judged, indent=2))
    return judged


def final_model(state: dict[str, Any], config: TrainConfig) -> torch.nn.Module:
    """The weights a run ends with, from its ``state.pt``: the moving average when it kept one."""
    from siamese.models import build_model

    model = build_model(config.architecture, **config.model_args)
    if "ema" in state:
        weights = {k.removeprefix("module."): v for k, v in state["ema"].items() if k != "n_averaged"}
    else:
        weights = state["model"]
    model.load_state_dict(weights)
    return model.eval()


def report(root: Path, names: list[str], ensembles: list[list[str]] = (), versus: Path | None = None) -> list[dict[str, Any]]:
    """Judge every row that has trained (finished or not), in the order of ``names``, then each ensemble of rows.
    ``versus``, a row or ensemble folder judged under another root, comes first: the reference of the paired
    differences (e.g. a schedule three times as long against the shipped one)."""
    judged = [judged_folder(versus)] if versus is not None else []
    for name in names:
        if (root / name / "state.pt").exists():
            print(f"judging {name} ...", file=sys.stderr, flush=True)
            judged.append(judge_row(root / name))
    for members in ensembles:
        missing = [name for name in members if not (root / name / "state.pt").exists()]
        if missing:
            raise ValueError(f"The ensemble {'+'.join(members)} needs rows that have not trained: {', '.join(missing)}.")
        print(f"judging the ensemble {'+'.join(members)} ...", file=sys.stderr, flush=True)
        judged.append(judge_ensemble(root, members))
    return judged


def judged_folder(folder: Path) -> dict[str, Any]:
    """A row's or an ensemble's judgement from its folder, named by its path: a row is judged (or read back when it has
    not trained since), an ensemble read from the ``ablation.json`` its report kept."""
    if (folder / "state.pt").exists():
        judged, question = judge_row(folder), ROWS[folder.name][1] if folder.name in ROWS else "a row"
    elif (folder / "ablation.json").exists():
        judged, question = json.loads((folder / "ablation.json").read_text()), ENSEMBLE_QUESTION
    else:
        raise ValueError(f"{folder} is neither a trained row nor a judged ensemble (it has no state.pt or ablation.json).")
    return {**judged, "name": str(folder), "question": f"{question} (the reference, from another root)"}


def paired_difference(row: dict[str, Any], reference: dict[str, Any], draws: int = 4000, seed: int = 0) -> tuple[float, list[float]]:
    """``row`` minus ``reference`` in validation accuracy, and its 95% interval from resampling the alphabets that
    both were judged on (paired: each draw takes the same alphabets for both, so what the alphabets share cancels)."""
    alphabets = sorted(set(row["per_alphabet"]) & set(reference["per_alphabet"]))
    differences = np.array([row["per_alphabet"][a] - reference["per_alphabet"][a] for a in alphabets])
    rng = np.random.default_rng(seed)
    means = differences[rng.integers(len(differences), size=(draws, len(differences)))].mean(axis=1)
    return float(differences.mean()), [float(np.quantile(means, 0.025)), float(np.quantile(means, 0.975))]


def markdown_table(judged: list[dict[str, Any]], steps: tuple[int, ...] = (1000, 2000, 4000)) -> str:
    """The ablation table and the per-alphabet table, as docs/ablations.md shows them; each row's difference from
    the first row comes with its paired interval over alphabets (a tie when it holds 0)."""
    reference = judged[0]
    head = ("| row | question | steps | CPU-min | **validation, 5,000 trials (final weights)** | 95% over alphabets | "
            f"minus {reference['name']}, paired 95% over alphabets | "
            + " | ".join(f"val @ {s:,}" for s in steps) + " | ms/image b1 / b64 | command |")  # fmt: skip
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for row in judged:
        low, high = row["group_interval"]
        if row is reference:
            versus = "—"
        else:
            difference, (lo, hi) = paired_difference(row, reference)
            versus = f"{100 * difference:+.2f} ({100 * lo:+.1f} to {100 * hi:+.1f}){'' if lo <= 0 <= hi else ' **clear**'}"
        at = [f"{100 * row['curve'][str(s)]:.1f}%" if str(s) in row["curve"] else ("—" if s > row["step"] else "") for s in steps]
        question = row.get("question") or (ROWS[row["name"]][1] if row["name"] in ROWS else ENSEMBLE_QUESTION)
        lines.append(f"| {row['name']} | {question} | {row['step']:,} | {row['cpu_minutes']:.1f} | "
                     f"**{100 * row['val_accuracy']:.2f}%** ± {100 * row['standard_error']:.2f} | {100 * low:.1f}-{100 * high:.1f}% | {versus} | "
                     + " | ".join(at) + f" | {row['ms_per_image']['batch1']:.2f} / {row['ms_per_image']['batch64']:.3f} | "
                     f"`{row['command']}` |")  # fmt: skip
    alphabets = sorted({a for row in judged for a in row["per_alphabet"]})
    lines += ["", "| alphabet | " + " | ".join(row["name"] for row in judged) + " |", "|---|" + "---|" * len(judged)]
    for alphabet in alphabets:
        cells = [f"{100 * row['per_alphabet'][alphabet]:.1f}%" if alphabet in row["per_alphabet"] else "" for row in judged]
        lines.append(f"| {alphabet} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


PREAMBLE = """# Ablations at equal CPU-minutes{title}

Generated by `python scripts/ablate.py report{options}` from the runs of `python scripts/ablate.py run{options}`;
do not edit by hand. Each row trains the default recipe with the change it names, on the fast CPU path
(bf16 + channels_last), one thread, for the CPU-minutes of its CPU-min column: 45 for the ablation
rows, more for the rows trained longer (ensemble members and the long runs). It is judged on its
final weights over 5,000 20-way within-alphabet trials on the 10 validation alphabets (seed 1); the
95% interval resamples the alphabets and then their trials, so differences inside it are ties. "val
@ N" is the 1,000-trial validation during training at step N (equal steps), drawn with the row's
seed + 1: rows of seed 1 or 2 are read on other trials than those of seed 0, and these sets differ
by up to 3 points for one model, so compare curves of one seed only. The test alphabets are not
looked at here. "ms/image" is timed when the row is judged, usually while other rows train, so
it only tells a small network from a large one; `scripts/benchmark_cpu.py` measures on a quiet
machine. An ensemble row joins finished rows (`report --ensembles a+b`): its steps and CPU-minutes
are its members' sums.

"""


def markdown_document(table: str, root: Path) -> str:
    """docs/ablations.md: the preamble, naming ``root`` when the rows trained elsewhere than
    :data:`DEFAULT_ROOT`, then ``table`` (:func:`markdown_table`)."""
    named = Path(root) != DEFAULT_ROOT
    title, options = (f" ({root})", f" --root {root}") if named else ("", "")
    return PREAMBLE.format(title=title, options=options) + table + "\n"
