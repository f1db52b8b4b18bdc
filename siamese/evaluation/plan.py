"""Evaluations as data: one :class:`Evaluation` is a mode and its settings, and a *plan* is the list
that a trained checkpoint of each data set gets.

The command line (``siamese.evaluate``) parses its flags into an :class:`Evaluation` and calls
:func:`run_evaluation`; training calls :func:`run_plan` on its best checkpoint. An evaluation renders
to a command line (:func:`evaluation_command`) only so that a model card can say how to reproduce
each figure.
"""

from __future__ import annotations

import dataclasses
import shlex
import time
from dataclasses import dataclass
from typing import Any

from siamese.data import ImageSet, PairSampler, load_lake_runs
from siamese.data.omniglot import RUN_DRAWERS
from siamese.data.splits import describe_split, load_split, protocol
from siamese.evaluation.calibration import evaluate_calibration
from siamese.evaluation.oneshot import evaluate_lake_runs, evaluate_oneshot
from siamese.evaluation.plots import plot_pair_scores, plot_reliability
from siamese.evaluation.ranking import evaluate_ranking
from siamese.evaluation.rejection import evaluate_rejection
from siamese.evaluation.scorers import Scorer, as_scorer, pixel_nearest_neighbour_scorer
from siamese.evaluation.sketches import evaluate_sketch_styles
from siamese.evaluation.transfer import evaluate_mnist_transfer
from siamese.evaluation.verification import evaluate_verification
from siamese.models import SiameseNet

MODES = ("lake-runs", "oneshot", "verification", "mnist-transfer", "sketches", "ranking", "rejection", "calibration")
#: Fresh test-split trials use the drawers that the official runs do not (9-20), so they are new images.
FRESH_DRAWERS = tuple(d for d in range(1, 21) if d not in RUN_DRAWERS)
#: Stands for the checkpoint's folder in the commands written into model cards.
MODEL_PLACEHOLDER = "MODEL_DIR"

#: The settings each mode reads; the others keep their defaults (and stay out of its command line).
MODE_SETTINGS = {
    "lake-runs": ("baseline", "plot"),
    "oneshot": ("data", "split", "way", "shot", "trials_per_group", "within_alphabet", "baseline"),
    "verification": ("data", "split", "pairs", "within_alphabet", "plot"),
    "ranking": ("data", "split", "queries", "top_k", "within_alphabet", "shots"),
    "rejection": ("data", "split", "coverage", "threshold", "trials_per_group"),
    "calibration": ("split", "queries", "precision", "plot"),
    "mnist-transfer": ("trials", "baseline"),
    "sketches": (),
}
#: Trials per group when ``trials_per_group`` is left unset.
DEFAULT_TRIALS_PER_GROUP = {"oneshot": 40, "rejection": 200}


@dataclass(frozen=True)
class Evaluation:
    """One evaluation, exactly as ``scripts/evaluate.py MODE --flag value ...`` describes it.

    ``split`` ``None`` is the mode's default split: ``test``, except Omniglot verification and
    rejection (validation: thresholds are never chosen on test) and Omniglot ranking (every
    evaluation alphabet, the page's gallery). Calibration fits on Omniglot's ``split`` (validation
    by default) and reports it and the test alphabets.
    """

    mode: str
    data: str = "omniglot"
    split: str | None = None
    way: int = 20
    shot: int = 1
    trials_per_group: int | None = None
    within_alphabet: bool = True  # a trial's classes (a query's candidates, different pairs) from one alphabet
    pairs: int = 1000
    queries: int = 1000
    top_k: int = 5
    shots: int = 1  # ranking: drawings per character in its prototype (1: the one-image gallery)
    coverage: float = 0.95
    threshold: float | None = None
    precision: float = 0.95
    trials: int = 400
    seed: int = 0
    baseline: bool = False
    plot: str | None = None
    title: str = ""  # what the model card calls it; not part of the command

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"Unknown evaluation {self.mode!r}; choose from {', '.join(MODES)}.")

    def argv(self) -> list[str]:
        """The command-line arguments that give this evaluation (without ``--model``)."""
        defaults = Evaluation(self.mode)
        args = [self.mode]
        for name in (*MODE_SETTINGS[self.mode], "seed"):
            value = getattr(self, name)
            if value == getattr(defaults, name):
                continue
            flag = "--" + name.replace("_", "-")
            if isinstance(value, bool):
                args.append(flag if value else "--no-" + flag[2:])
            else:
                args += [flag, str(value)]
        return args

    def resolved_split(self) -> str:
        if self.split is not None:
            return self.split
        if protocol(self.data) == "omniglot" and self.mode == "ranking":
            return "evaluation"
        if self.mode == "rejection" or (self.mode == "verification" and protocol(self.data) == "omniglot"):
            return "validation"
        return "test"


def evaluation_command(evaluation: Evaluation, model: str = MODEL_PLACEHOLDER) -> str:
    """The shell command that reproduces ``evaluation`` on ``model``."""
    argv = evaluation.argv()
    return shlex.join(["python", "scripts/evaluate.py", argv[0], "--model", model, *argv[1:]])


def run_evaluation(model: SiameseNet | Scorer, evaluation: Evaluation) -> dict[str, Any]:
    """Evaluate a model (or any scorer); returns what ``scripts/evaluate.py --json`` prints, without ``model``.

    Calibration needs the model itself: it scores logits of *same*, not P(same).
    """
    e = evaluation
    if e.mode == "calibration":
        return {"mode": e.mode, **_calibration(model, e)}
    scorer = as_scorer(model)
    baseline = pixel_nearest_neighbour_scorer() if e.baseline else None
    if e.mode == "lake-runs":
        result = _lake_runs(scorer, baseline, e.plot)
    elif e.mode == "mnist-transfer":
        result = evaluate_mnist_transfer(scorer, n_trials=e.trials, seed=e.seed, baseline=baseline is not None)
    elif e.mode == "sketches":
        accuracy = evaluate_sketch_styles(scorer)
        result = {"accuracy": accuracy["clean"], "n_trials": 400, "worst_style_accuracy": min(accuracy.values()), "per_style": accuracy}
    else:
        data, which = _data(e)
        within_alphabet = e.within_alphabet
        trials = e.trials_per_group or DEFAULT_TRIALS_PER_GROUP.get(e.mode, 40)
        if e.mode == "oneshot":
            settings = dict(n_way=e.way, k_shot=e.shot, trials_per_group=trials, seed=e.seed, within_alphabet=within_alphabet,
                            drawers=FRESH_DRAWERS if which["data"] == "omniglot" and which["split"] == "test" else None)  # fmt: skip
            result = evaluate_oneshot(scorer, data, **settings)
            if baseline is not None:
                result["baseline_accuracy"] = evaluate_oneshot(baseline, data, **settings)["accuracy"]
        elif e.mode == "verification":
            result = evaluate_verification(scorer, data, n_pairs=e.pairs, seed=e.seed, within_alphabet=within_alphabet)
            if e.plot:
                result["plot"] = str(plot_pair_scores(scorer, first_pairs(data, e.pairs, e.seed, within_alphabet), e.plot))
        elif e.mode == "ranking":
            result = evaluate_ranking(model if e.shots > 1 else scorer, data, n_queries=e.queries, seed=e.seed,
                                      within_alphabet=within_alphabet, top_k=e.top_k, shots=e.shots)  # fmt: skip
        else:
            result = evaluate_rejection(scorer, data, trials_per_group=trials, seed=e.seed, coverage=e.coverage, threshold=e.threshold)
        result["evaluated_on"] = which
    return {"mode": e.mode, **result}


def run_plan(model: SiameseNet, plan: list[Evaluation]) -> dict[str, Any]:
    """Run every evaluation of ``plan``; returns ``{"evaluations": [{"title", "argv", "command", "result", "seconds"}], "seconds"}``."""
    started = time.perf_counter()
    done = []
    for evaluation in plan:
        began = time.perf_counter()
        result = run_evaluation(model, evaluation)
        done.append({"title": evaluation.title, "argv": evaluation.argv(), "command": evaluation_command(evaluation),
                     "result": result, "seconds": round(time.perf_counter() - began, 2)})  # fmt: skip
    return {"evaluations": done, "seconds": round(time.perf_counter() - started, 2)}


def checkpoint_plan(spec: str, seed: int = 0, train_on_validation: bool = False) -> list[Evaluation]:
    """The final evaluations of a model trained with ``--data spec`` (``seed`` picks a folder's class split).

    A model trained on the validation alphabets too (``train_on_validation``) is calibrated and verified on their
    held-out drawers, and ranked on the test alphabets only, so that no figure comes from images it trained on."""
    kind = protocol(spec)
    E = Evaluation
    if kind == "omniglot" and train_on_validation:
        held_out = "validation-held-out"
        plan = [
            E("lake-runs", title="Lake's 20 official 20-way one-shot runs (400 trials)"),
            E("oneshot", trials_per_group=200,
              title="20-way one-shot, Koch's protocol: 2,000 fresh within-alphabet trials, test alphabets, drawers 9-20"),
            E("ranking", split="test", title="the page's task: 1,000 drawings, each against every character of its alphabet (the 10 test alphabets)"),
            E("calibration", split=held_out, title="P(character | drawing): temperature and \"no confident match\" threshold fitted on "
                                                   "held-out drawers of the validation alphabets, measured on 1,000 test drawings against their alphabet"),
            E("verification", split=held_out, title="verification: 1,000 within-alphabet pairs of held-out drawers of the validation alphabets"),
            E("mnist-transfer", title="Koch's MNIST transfer: 10-way one-shot digits, 400 trials"),
            E("sketches", title="Lake's runs with the test items re-drawn as sketches (place, size, pen, anti-aliasing, transparency)"),
        ]  # fmt: skip
    elif kind == "omniglot":
        plan = [
            E("lake-runs", title="Lake's 20 official 20-way one-shot runs (400 trials)"),
            E("oneshot", trials_per_group=200,
              title="20-way one-shot, Koch's protocol: 2,000 fresh within-alphabet trials, test alphabets, drawers 9-20"),
            E("ranking", title="the page's task: 1,000 drawings, each against every character of its alphabet (20 evaluation alphabets)"),
            E("ranking", within_alphabet=False, title="1,000 drawings, each against all 659 evaluation characters at once"),
            E("calibration", title="P(character | drawing): temperature and \"no confident match\" threshold fitted on "
                                   "validation drawings, measured on 1,000 test drawings against their alphabet"),
            E("verification", title="verification: 1,000 within-alphabet validation pairs"),
            E("mnist-transfer", title="Koch's MNIST transfer: 10-way one-shot digits, 400 trials"),
            E("sketches", title="Lake's runs with the test items re-drawn as sketches (place, size, pen, anti-aliasing, transparency)"),
        ]  # fmt: skip
    elif kind == "att_faces":
        plan = [
            E("verification", data=spec, split="test", title="verification: 1,000 pairs of the 5 test subjects"),
            E("oneshot", data=spec, split="test", way=5, trials_per_group=400,
              title="5-way one-shot identification of the 5 test subjects (400 trials)"),
            E("oneshot", data=spec, split="held-out", way=10, trials_per_group=400,
              title="10-way one-shot identification across all 10 held-out subjects (400 trials)"),
        ]  # fmt: skip
    elif kind == "mnist":
        plan = [
            E("oneshot", data=spec, split="test", way=4, trials_per_group=400, title="4-way one-shot on the unseen digits 6-9 (400 trials)"),
            E("verification", data=spec, split="all", title="verification: 1,000 pairs of all ten digits"),
        ]  # fmt: skip
    else:
        held_out = load_split(spec, "test", seed).num_classes
        way = min(5, held_out)
        plan = [
            E("verification", data=spec, title=f"verification: 1,000 pairs of the {held_out} held-out classes"),
            E("oneshot", data=spec, way=way, trials_per_group=400, title=f"{way}-way one-shot on the {held_out} held-out classes (400 trials)"),
        ]  # fmt: skip
    return [dataclasses.replace(e, seed=seed) for e in plan]


def format_table(result: dict[str, Any]) -> str:
    """A readable summary of one result: the headline numbers first, then any per-run or per-group breakdown."""
    lines = [f"{result['mode']} ({result.get('model', 'model')})"]
    for key, value in result.items():
        if key in ("mode", "model") or isinstance(value, dict):
            continue
        lines.append(f"  {key:<22} {_format(key, value)}")
    for key in ("per_run", "per_group", "per_style"):
        if key in result:
            lines.append(f"  {key.replace('_', ' ')}:")
            lines += [f"    {name:<32} {100 * acc:5.1f}%" for name, acc in result[key].items()]
    if "per_split" in result:
        lines += _calibration_table(result["per_split"])
    for key in ("paper", "settings", "fitted_on", "evaluated_on"):
        if key in result:
            lines.append(f"  {key}: " + ", ".join(f"{k}={_format(k, v)}" for k, v in result[key].items()))
    return "\n".join(lines)


def _calibration_table(per_split: dict[str, dict[str, dict[str, Any]]]) -> list[str]:
    """One row per split and task: the figures of :func:`siamese.evaluation.calibration.figures`."""
    percent = ("accuracy", "coverage", "accepted_accuracy", "absent_rejected")
    columns = {"n_queries": "queries", "candidates": "candidates", "accuracy": "accuracy", "ece_before": "ECE T=1",
               "ece": "ECE", "coverage": "coverage", "accepted_accuracy": "accepted", "absent_rejected": "absent rej."}  # fmt: skip
    lines = ["  per split and task:", f"    {'':<28}" + "".join(f"{head:>12}" for head in columns.values())]

    def cell(key: str, value: Any) -> str:
        if value is None or key == "n_queries":
            return _format(key, value)
        if key == "candidates":
            return f"{value:.1f}"
        return f"{100 * value:.1f}%" if key in percent else f"{value:.4f}"

    for split, tasks in per_split.items():
        for task, values in tasks.items():
            cells = "".join(f"{cell(key, values[key]):>12}" for key in columns)
            lines.append(f"    {split + ' ' + task.replace('_', ' '):<28}" + cells)
    return lines


def _format(key: str, value: Any) -> str:
    if isinstance(value, float) and ("accuracy" in key or key in ("siamese", "pixel_1nn")):
        return f"{100 * value:.1f}%"
    if isinstance(value, float):
        return f"{value:.4f}"
    return "-" if value is None else str(value)


def _lake_runs(scorer: Scorer, baseline: Scorer | None, plot: str | None) -> dict[str, Any]:
    runs = load_lake_runs()
    result = evaluate_lake_runs(scorer, runs)
    if baseline is not None:
        result["baseline_accuracy"] = evaluate_lake_runs(baseline, runs)["accuracy"]
    if plot:
        # From each of the first runs: a test item with its own class and with the next class.
        pairs = []
        for run in runs[:6]:
            query, answer = run.test[0], int(run.answers[0])
            other = run.training[(answer + 1) % len(run.training)]
            pairs += [(query, run.training[answer], True), (query, other, False)]
        result["plot"] = str(plot_pair_scores(scorer, pairs, plot))
    return result


def _calibration(model: SiameseNet | Scorer, evaluation: Evaluation) -> dict[str, Any]:
    if not isinstance(model, SiameseNet):
        raise ValueError("The calibration fits a temperature to a model's logits of same: give it the model, not a scorer.")
    fitted_on = evaluation.split or "validation"
    validation, test = (load_split("omniglot", split) for split in (fitted_on, "test"))
    result = evaluate_calibration(model, validation, test, n_queries=evaluation.queries, seed=evaluation.seed,
                                  precision=evaluation.precision)  # fmt: skip
    result["evaluated_on"] = {"data": "omniglot", "split": "test", "classes": describe_split("omniglot", "test"),
                              "fitted_on": f"{fitted_on}: " + describe_split("omniglot", fitted_on)}  # fmt: skip
    if evaluation.plot:
        result["plot"] = str(plot_reliability(result, evaluation.plot))
    return result


def _data(evaluation: Evaluation) -> tuple[ImageSet, dict[str, Any]]:
    """The images an evaluation runs on (``seed`` also picks a folder's class split), and a note of what they are."""
    split = evaluation.resolved_split()
    description = describe_split(evaluation.data, split)  # an unknown data set or split fails here, before loading anything
    data = load_split(evaluation.data, split, evaluation.seed)
    which: dict[str, Any] = {"data": evaluation.data, "split": split, "classes": description}
    if protocol(evaluation.data) == "folder":  # which of the user's classes were held out
        which["class_names"] = list(data.class_names)
    return data, which


def first_pairs(data: ImageSet, n_pairs: int, seed: int, within_alphabet: bool, shown: int = 12) -> list[tuple]:
    """The first pairs of an evaluated set of pairs (the same sampler call), for a figure."""
    left, right, same = PairSampler(data, n_pairs, seed=seed, within_alphabet=within_alphabet).batch(0)
    return [(data.images[a], data.images[b], bool(s)) for a, b, s in list(zip(left, right, same))[:shown]]
