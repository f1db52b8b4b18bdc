"""The model card written next to a trained model: what was trained, on what, how, and how well.

``scripts/train.py`` writes it into ``best/`` when a run ends: ``README.md`` (the card), the learning
curves and metrics log, and, when the run ends with a final evaluation of the best checkpoint,
``evaluation.json``, the same figures in machine-readable form (what ``scripts/evaluate.py --json``
printed for each command of the card). Cards are generated, never edited by hand.
"""

from __future__ import annotations

import json
import platform
import shlex
import shutil
import sys
from pathlib import Path
from typing import Any

import torch

#: The machine-readable copy of the card's final evaluation, next to the card.
EVALUATION_FILE = "evaluation.json"
_TAGS = {"omniglot": "omniglot", "mnist": "mnist", "att_faces": "faces", "folder": "custom-data"}
#: Hub dataset ids of the data sets (a folder of the user's own classes has none).
_DATASETS = {"omniglot": ["omniglot"], "mnist": ["ylecun/mnist"], "att_faces": ["att_faces"], "folder": []}
LICENSE = "mit"
#: The Hub task closest to what the model does: it embeds images, and P(same) compares two embeddings.
PIPELINE_TAG = "image-feature-extraction"


def hardware() -> str:
    """A one-line description of the machine, for the card."""
    if torch.cuda.is_available():
        return f"{torch.cuda.device_count()} x {torch.cuda.get_device_name(0)}"
    return f"CPU: {platform.processor() or platform.machine()}, {torch.get_num_threads()} threads"


def command_line() -> str:
    return shlex.join([Path(sys.argv[0]).as_posix(), *sys.argv[1:]]) if sys.argv and sys.argv[0] else "(called from Python)"


def percent(value: float) -> str:
    """An accuracy as the card shows it: ``0.9325`` -> ``93.25%``."""
    return f"{100 * value:.2f}%"


def headline(result: dict[str, Any]) -> str:
    """The figures of one evaluation result (``scripts/evaluate.py --json`` output), as Markdown."""
    if result.get("mode") == "verification":
        parts = [f"accuracy **{percent(result['accuracy'])}**"] if result.get("accuracy") is not None else []
        parts.append(f"ROC AUC **{result['roc_auc']:.4f}**")
        if result.get("ece") is not None:
            parts.append(f"ECE {result['ece']:.4f}")
        return ", ".join(parts) + f" ({result['n_pairs']:,} pairs)"
    if result.get("mode") == "ranking":
        return (f"top-1 accuracy **{percent(result['accuracy'])}**, top-{result['settings']['top_k']} "
                f"{percent(result['top_k_accuracy'])} ({result['n_queries']:,} queries, {result['candidates']:.0f} candidates each on average)")  # fmt: skip
    if result.get("mode") == "calibration":
        test = result["per_split"]["test"]
        within, across = test["within_alphabet"], test["all_alphabets"]
        return (f"top-1 accuracy **{percent(result['accuracy'])}**; P(character | drawing) at T = {result['temperature']:.3f}: "
                f"ECE {within['ece']:.3f} within an alphabet (T = 1: {within['ece_before']:.3f}), {across['ece']:.3f} among all "
                f"(T = 1: {across['ece_before']:.3f}); threshold {result['threshold']:.2f} accepts {percent(within['coverage'])} "
                f"and rejects {percent(within['absent_rejected'])} of drawings whose character is absent ({result['n_queries']:,} test drawings)")  # fmt: skip
    text = f"accuracy **{percent(result['accuracy'])}**"
    if result.get("standard_error") is not None:
        text += f" ± {100 * result['standard_error']:.2f}"
    text += f" ({result['n_trials']:,} trials"
    if result.get("group_interval") is not None and len(result.get("per_group", {})) > 1:
        low, high = result["group_interval"]
        text += f"; 95% interval over {len(result['per_group'])} resampled groups {percent(low)}-{percent(high)}"
    text += ")"
    if result.get("worst_style_accuracy") is not None:
        text += f"; worst sketch style {percent(result['worst_style_accuracy'])}"
    if result.get("baseline_accuracy") is not None:
        text += f"; pixel 1-NN {percent(result['baseline_accuracy'])}"
    return text


def card_metadata(name: str, kind: str, evaluation: dict[str, Any] | None) -> str:
    """The card's YAML front matter, as the Hub reads it: license, datasets, task and a ``model-index``
    with one entry per measured figure (accuracy, and ROC AUC for verification)."""
    from huggingface_hub import EvalResult, ModelCardData

    from siamese.data.splits import protocol

    results = []
    for item in (evaluation or {}).get("evaluations", []):
        result = item["result"]
        where = {"data": evaluation["data"], "split": "test", "classes": "Lake's 20 runs", **(result.get("evaluated_on") or {})}
        task = "image-classification" if result.get("mode") != "verification" else "image-feature-extraction"
        for metric, key in (("accuracy", "accuracy"), ("roc_auc", "roc_auc")):
            if result.get(key) is not None:
                results.append(EvalResult(task_type=task, task_name=item["title"], dataset_type=protocol(where["data"]),
                                          dataset_name=f"{where['data']} ({where['classes']})", dataset_split=where["split"],
                                          metric_type=metric, metric_value=round(float(result[key]), 6), metric_name=f"{metric}: {item['argv'][0]}"))  # fmt: skip
    data = ModelCardData(library_name="pytorch", license=LICENSE, tags=["siamese", "one-shot", _TAGS[kind]], datasets=_DATASETS[kind] or None,
                         pipeline_tag=PIPELINE_TAG, model_name=name if results else None, eval_results=results or None)  # fmt: skip
    return data.to_yaml()


def card_name(folder: Path, kind: str) -> str:
    """The name a card gives its model on the Hub, e.g. ``compact-omniglot``."""
    return f"{json.loads((folder / 'config.json').read_text())['architecture']}-{_TAGS[kind]}"


def refresh_card_metadata(folder: Path, kind: str) -> None:
    """Rewrite a card's front matter from its folder's ``evaluation.json``, leaving the rest of the card as it is,
    so that a checkpoint measured again (or carded before the metadata had all its fields) gets what training
    writes now."""
    card = folder / "README.md"
    text = card.read_text(encoding="utf-8")
    if not text.startswith("---\n"):
        raise ValueError(f"{card} has no front matter to refresh.")
    body = text.split("---\n", 2)[2]
    evaluation = json.loads((folder / EVALUATION_FILE).read_text())
    card.write_text(f"---\n{card_metadata(card_name(folder, kind), kind, evaluation)}\n---\n{body}", encoding="utf-8")


def _headline(evaluation: dict[str, Any]) -> list[str]:
    """The honest figure first: fresh within-alphabet trials, then Lake's fixed runs, each beside the
    published figures measured on the same protocol (an empty list when those evaluations are absent)."""
    by_mode = {item["argv"][0]: item["result"] for item in evaluation["evaluations"]}
    fresh, runs = by_mode.get("oneshot"), by_mode.get("lake-runs")
    if evaluation.get("data") != "omniglot" or fresh is None or runs is None:
        return []
    return [
        "",
        "## Headline",
        "",
        f"- **{percent(fresh['accuracy'])} ± {100 * fresh['standard_error']:.2f}** (standard error) on {fresh['n_trials']:,} fresh "
        "20-way within-alphabet one-shot trials of the 10 test alphabets, Koch's protocol. "
        "Koch et al. (2015) report 92.0% on 400 random trials of this kind.",
        f"- {percent(runs['accuracy'])} on Lake's 20 official runs (400 trials, a fixed and easier set; "
        "people 95.5% and Bayesian Program Learning 96.7%, both measured on these runs).",
    ]


def _breakdowns(evaluation: dict[str, Any]) -> list[str]:
    """Per-alphabet (or per-group) and per-style tables of the evaluations that have them."""
    lines: list[str] = []
    for item in evaluation["evaluations"]:
        for key, label in (("per_group", "group"), ("per_style", "sketch style")):
            table = item["result"].get(key)
            if table and len(table) > 1:
                lines += ["", f"{item['title']}, by {label}:", "", f"| {label} | accuracy |", "|---|---|"]
                lines += [f"| {name.replace('_', ' ')} | {percent(value)} |" for name, value in table.items()]
    return lines


def _speed(folder: Path, repeats: int = 20) -> list[str]:
    """CPU time to embed one image, at batch 1 and 64 (median of ``repeats``; machine-dependent)."""
    from siamese.hub import load_model

    model = load_model(folder)
    cells = [f"{ms:.2f} ms per image at batch {batch}" for batch, ms in model.embedding_ms(repeats).items()]
    return ["", f"CPU embedding time ({hardware()}): " + ", ".join(cells) + " (preprocessed input; `scripts/benchmark_cpu.py` measures more)."]


def _data_lines(splits: dict[str, str], train_on_validation: bool, role: str) -> list[str]:
    """The card's data lines; ``role`` says what validation was used for (early stopping, choosing members)."""
    if not train_on_validation:
        return [f"- Train: {splits['train']}", f"- Validation ({role}): {splits['validation']}"]
    return [f"- Train: {splits['train']}, and drawers 1-12 of the 10 validation alphabets (`--train-on-validation`)",
            f"- Validation: {splits['validation-held-out']}: characters seen in training, so its accuracy is not one-shot; "
            "the calibration and the \"no confident match\" threshold are fitted on these drawings"]  # fmt: skip


def write_model_card(
    folder: Path,
    train_config: dict[str, Any],
    summary: dict[str, Any],
    curves: Path | None,
    evaluation: dict[str, Any] | None = None,
    metrics: Path | None = None,
) -> Path:
    """Write ``README.md`` (a Hugging Face model card) into a saved model's folder.

    ``evaluation`` is the final evaluation of this folder (:func:`siamese.evaluation.run_plan`); it is
    also written to ``evaluation.json`` (with the hardware), so tests and tools read the card's
    figures without parsing Markdown. ``curves`` and ``metrics`` are copied next to the card.
    """
    if curves is not None and curves.is_file():
        shutil.copyfile(curves, folder / "curves.png")
    if metrics is not None and metrics.is_file():
        shutil.copyfile(metrics, folder / "metrics.jsonl")
    val_way = summary.get("val_way", 20)
    training = [
        "## Training",
        f"- Command: `{command_line()}`",
        f"- Loss `{train_config['loss']}`; optimiser `{train_config['optimizer']}` (lr {train_config['lr']}); seed {train_config['seed']}",
        f"- Steps: {summary['steps']}; " + ("the final weights are kept (the schedule was fixed in advance)" if summary.get("keep") == "final"
                                            else f"best validation step: {summary['best_step']}"),
        f"- Hardware: {hardware()}; PyTorch {torch.__version__}",
        f"- {'CPU' if summary.get('budget_clock') == 'cpu' else 'Wall'} time: {summary['minutes']:.1f} minutes",
        "",
        "## Validation",
        f"- {val_way}-way one-shot accuracy on the validation classes (the early-stopping criterion): "
        f"**{100 * summary['best_val_accuracy']:.1f}%**" if summary.get("keep") != "final" else
        f"- {val_way}-way one-shot accuracy on the validation classes at the end: **{100 * summary['final_val_accuracy']:.1f}%** "
        f"(best during training {100 * summary['best_val_accuracy']:.1f}%, step {summary['best_step']})",
    ]
    measured = "by `scripts/train.py` at the end of training, on this (the kept) checkpoint"
    role = "watched, not used to stop: the final weights are kept" if summary.get("keep") == "final" else "early stopping"
    return _write_card(folder, train_config, "scripts/train.py", training, evaluation, measured, role)


def write_ensemble_card(folder: Path, train_config: dict[str, Any], members: list[dict[str, Any]], validation: dict[str, Any],
                        evaluation: dict[str, Any] | None = None) -> Path:  # fmt: skip
    """Write the card of an ensemble checkpoint (:class:`~siamese.models.EnsembleNet`): its members, each with the command
    that trained it (``members``: ``source``, and ``command``, ``steps``, ``minutes`` when its run folder is known), its
    ``validation`` one-shot result (:func:`~siamese.evaluation.evaluate_oneshot`) and the same evaluation as a trained
    model's. ``train_config`` is the first member's (data, seed)."""
    rows = [f"| `{m['source']}` | {m.get('steps', '?')} | {m['minutes']:.1f} | `{m.get('command') or '(not recorded)'}` |"
            if m.get("minutes") is not None else f"| `{m['source']}` | ? | ? | (not recorded) |" for m in members]  # fmt: skip
    clock = members[0].get("budget_clock", "wall") if members else "wall"
    section = [
        "## Members",
        f"An ensemble of {len(members)} networks: each image's embedding is its members' L2-normalised embeddings concatenated, "
        "so that a similarity is the mean of the members' cosines. Joined with "
        f"`{command_line()}`.",
        "",
        f"| member | steps | {'CPU' if clock == 'cpu' else 'wall'}-minutes | command that trained it |",
        "|---|---|---|---|",
        *rows,
        "",
        "## Validation",
        f"- {validation['way']}-way one-shot accuracy on the validation classes ({validation['n_trials']:,} trials, seed "
        f"{validation['seed']}): **{100 * validation['accuracy']:.2f}%** ± {100 * validation['standard_error']:.2f}",
    ]
    return _write_card(folder, train_config, "scripts/ensemble.py", section, evaluation, "by `scripts/ensemble.py` on this checkpoint",
                       "choosing the members and their recipes")  # fmt: skip


def _write_card(folder: Path, train_config: dict[str, Any], generated_by: str, body: list[str], evaluation: dict[str, Any] | None,
                measured: str, validation_role: str) -> Path:  # fmt: skip
    """The card around ``body`` (how the model came to be): front matter, headline, data, evaluation, model, curves;
    ``validation_role`` says what the validation classes were used for."""
    from siamese.data.splits import SPLITS, protocol

    model_config = json.loads((folder / "config.json").read_text())
    data = train_config["data"]
    kind = protocol(data)
    splits = SPLITS[kind]
    lines = [
        "---",
        card_metadata(card_name(folder, kind), kind, evaluation),
        "---",
        f"# {model_config['architecture']} Siamese network trained on {data}",
        "",
        f"Generated by `{generated_by}`; do not edit by hand.",
        "",
        "## Data",
        f"- `--data {data}`, seed {train_config['seed']}",
        *_data_lines(splits, train_config.get("train_on_validation", False), validation_role),
        f"- Test: {splits['test']}",
        "",
        *body,
    ]
    if evaluation is None:
        (folder / EVALUATION_FILE).unlink(missing_ok=True)  # never leave an older run's figures next to this model
    else:
        at = lines.index("## Data") - 1  # the headline leads the card, right under its title
        lines[at:at] = _headline(evaluation)
        record = {**evaluation, "hardware": hardware(), "torch": torch.__version__}
        (folder / EVALUATION_FILE).write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
        lines += [
            "",
            "## Evaluation of this checkpoint",
            "",
            f"Measured {measured}, with the code of "
            f"`scripts/evaluate.py`; each command reproduces its figure exactly (`MODEL_DIR` is this folder). "
            f"Hardware: {record['hardware']}; evaluation wall time {evaluation['seconds']:.1f} s. "
            f"The same figures, machine-readable: `{EVALUATION_FILE}`.",
            "",
            "| evaluation | classes | result | command |",
            "|---|---|---|---|",
        ]
        for item in evaluation["evaluations"]:
            result = item["result"]
            where = result.get("evaluated_on")
            classes = f"`{where['split']}`: {where['classes']}" if where else "Lake's 20 runs on the 10 test alphabets"
            if where and where.get("class_names"):
                names = where["class_names"]
                classes += ": " + ", ".join(names[:20]) + (f" and {len(names) - 20} more" if len(names) > 20 else "")
            lines.append(f"| {item['title']} | {classes} | {headline(result)} | `{item['command']}` |")
        lines += _breakdowns(evaluation)
        lines += _speed(folder)
    lines += ["", "## Model", "```json", json.dumps(model_config, indent=2), "```"]
    if (folder / "curves.png").is_file():
        lines += ["", "## Learning curves", "", "![learning curves](curves.png)"]
    path = folder / "README.md"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path
