"""The loss study: one network trained with each objective, on the same data, augmentation, seeds and
CPU budget, and every run evaluated by the same code.

For each objective and seed, :func:`run_loss_study` trains a run under ``out_dir/<data>/<objective>/seed<N>``
(through :func:`siamese.training.train`, so a killed study re-run with the same settings resumes), then
evaluates its best checkpoint on the test split and records ``study.json`` beside it; a run with a
``study.json`` is done and is not touched again. The contrastive margin is chosen on validation: seed 0
is trained once per margin and the best validation accuracy picks the margin for the other seeds.

The budget is CPU time (``budget_clock="cpu"``): on a shared machine, wall time would hand more work to
whichever run had the quieter minutes. The report (:func:`write_report`) is a Markdown table (mean and
standard deviation over seeds), the same in JSON, and three figures: loss curves, validation accuracy
against CPU-minutes, and the same test pairs scored by each objective's model.
"""

from __future__ import annotations

import dataclasses
import json
import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from siamese.utils import replacing
from siamese.data.splits import load_split, protocol
from siamese.evaluation.plan import Evaluation, run_plan
from siamese.evaluation.plots import plot_pair_grid, plot_study_curves, plot_study_validation
from siamese.training.loop import TrainConfig, train
from siamese.training.state import read_metrics

#: What each objective changes in the training configuration; everything else is shared.
OBJECTIVES: dict[str, dict[str, Any]] = {
    "bce": {"loss": "bce"},  # Koch's head: a weighted L1 distance through a sigmoid
    "contrastive": {"loss": "contrastive"},  # Hadsell et al. (2006); the margin is chosen on validation
    "prototypical": {"loss": "prototypical"},  # Snell et al. (2017): 20-way episodes
    "cosface": {"loss": "cosface", "classifier_lr_scale": 10.0},  # a cosine softmax over every training class
    # The paper's network, optimiser and loss (Koch et al. 2015); it validates only when its budget ends,
    # because one validation of a 105 x 105 network costs a large share of a few CPU-minutes.
    "koch": {"architecture": "koch", "model_args": {}, "optimizer": "koch-sgd", "lr": 0.01, "loss": "bce", "eval_every": 10**9},
}

#: The settings of each data set that every objective shares (the faces are photos; MNIST has 6 training digits).
DATA_SETTINGS: dict[str, dict[str, Any]] = {
    "omniglot": {"model_args": {"input_size": 28}, "val_trials_per_alphabet": 20},
    "mnist": {"model_args": {"input_size": 28}, "episode_way": 6, "per_class": 16, "val_trials_per_alphabet": 200},
    "att_faces": {"model_args": {"input_size": 56, "kind": "photo", "fit_to_box": False}, "episode_way": 10,
                  "episode_query": 4, "per_class": 4, "val_trials_per_alphabet": 200},  # fmt: skip
    "folder": {"model_args": {"input_size": 28, "channels": 3, "kind": "photo"}, "episode_way": 5, "episode_query": 3,
               "per_class": 4, "val_trials_per_alphabet": 50},  # fmt: skip
}
#: cosface draws ``per_class`` images of ``batch_size / per_class`` classes: MNIST trains on 6 digits only.
_COSFACE_BATCH = {"mnist": 96, "att_faces": 64, "folder": 32}


class StudyError(ValueError):
    """The study cannot run as asked (an unknown objective, an impossible budget)."""


@dataclass
class LossStudyConfig:
    data: str = "omniglot"  # omniglot | mnist | att_faces | folder:PATH
    objectives: str = "bce,contrastive,prototypical,cosface,koch"  # comma-separated names of OBJECTIVES
    seeds: int = 3  # seeds 0..seeds-1 of every objective
    cpu_minutes: float = 3.0  # training budget of each run, in CPU-minutes of its process
    steps: int = 0  # if > 0, a budget of this many steps per run instead (quick checks)
    margins: str = "0.5,1.0,2.0"  # contrastive margins tried with seed 0; the best on validation is used for all seeds
    eval_every: int = 50  # validation (one-shot accuracy, log loss) every this many steps
    trials_per_group: int = 200  # test: 20-way trials per alphabet (Omniglot: 10 alphabets, 2,000 trials)
    pairs: int = 1000  # test: verification pairs
    shown_pairs: int = 10  # test pairs in the figure, half same and half different
    out_dir: str = "runs/loss-study"
    docs_dir: str = "docs/loss-study"
    extra: dict[str, Any] = field(default_factory=dict)  # further TrainConfig settings for every run, e.g. {"batch_size": 64}

    def objective_names(self) -> list[str]:
        names = [n.strip() for n in self.objectives.split(",") if n.strip()]
        unknown = [n for n in names if n not in OBJECTIVES]
        if unknown or not names:
            raise StudyError(f"Unknown objective {', '.join(unknown) or '(none)'}; choose from {', '.join(OBJECTIVES)}.")
        return names

    def margin_values(self) -> list[float]:
        try:
            margins = [float(m) for m in self.margins.split(",") if m.strip()]
        except ValueError:
            raise StudyError(f"--margins must be comma-separated numbers, got {self.margins!r}.") from None
        if not margins or min(margins) <= 0:
            raise StudyError(f"--margins must be positive numbers, got {self.margins!r}.")
        return margins

    def check(self) -> None:
        """Fail before any training when the study cannot run as asked."""
        self.objective_names(), self.margin_values()
        if self.seeds < 1:
            raise StudyError(f"--seeds must be at least 1, got {self.seeds}.")
        if self.steps < 0 or self.cpu_minutes < 0 or (self.steps == 0 and self.cpu_minutes == 0):
            raise StudyError("The budget is empty: give --cpu-minutes or --steps a positive value.")
        if self.eval_every < 1 or self.trials_per_group < 1 or self.pairs < 2:
            raise StudyError("--eval-every and --trials-per-group must be positive and --pairs at least 2.")
        unknown = set(self.extra) - {f.name for f in dataclasses.fields(TrainConfig)}
        if unknown:
            raise StudyError(f"--extra names settings that training does not have: {', '.join(sorted(unknown))}.")


def data_name(spec: str) -> str:
    """The folder and file name of a data set in the study's outputs (``folder:PATH`` is ``folder``)."""
    return protocol(spec)


def study_plan(spec: str, trials_per_group: int, pairs: int) -> list[Evaluation]:
    """What every run of the study is measured with, on the test split of ``spec``."""
    kind = protocol(spec)
    way = {"omniglot": 20, "mnist": 4, "att_faces": 5}.get(kind) or min(5, load_split(spec, "test").num_classes)
    plan = [Evaluation("oneshot", data=spec, split="test", way=way, trials_per_group=trials_per_group,
                       title=f"{way}-way one-shot, fresh test trials")]  # fmt: skip
    if kind == "omniglot":
        plan.append(Evaluation("lake-runs", title="Lake's 20 runs"))
    plan.append(Evaluation("verification", data=spec, split="test", pairs=pairs, title="verification, test pairs"))
    return plan


def train_config(config: LossStudyConfig, objective: str, seed: int, margin: float | None = None) -> TrainConfig:
    """The training configuration of one run: the data set's settings, then the objective's, then ``extra``."""
    kind = protocol(config.data)
    settings: dict[str, Any] = {**DATA_SETTINGS[kind], "eval_every": config.eval_every}
    if objective == "cosface" and kind in _COSFACE_BATCH:
        settings["batch_size"] = _COSFACE_BATCH[kind]
    settings.update(OBJECTIVES[objective])
    if objective == "koch":  # the paper's 105 x 105 input, with the data set's kind of image
        settings["model_args"] = {k: v for k, v in DATA_SETTINGS[kind]["model_args"].items() if k != "input_size"}
    settings.update(config.extra)
    if margin is not None:
        settings["margin"] = margin
    budget = {"steps": config.steps} if config.steps > 0 else {"steps": 10**9, "max_minutes": config.cpu_minutes}
    return TrainConfig(data=config.data, seed=seed, out_dir=str(run_dir(config, objective, seed, margin)), budget_clock="cpu",
                       checkpoint_every=config.eval_every, log_every=10, final_eval=False,
                       **budget, **settings)  # fmt: skip


def run_dir(config: LossStudyConfig, objective: str, seed: int, margin: float | None = None) -> Path:
    name = objective if margin is None else f"{objective}-margin{margin:g}"
    return Path(config.out_dir) / data_name(config.data) / name / f"seed{seed}"


def run_once(config: LossStudyConfig, objective: str, seed: int, margin: float | None = None) -> dict[str, Any]:
    """Train (or resume) one run and evaluate its best checkpoint; a finished run is read back, not redone."""
    from siamese.hub import load_model

    folder = run_dir(config, objective, seed, margin)
    record_path = folder / "study.json"
    if record_path.is_file():
        return json.loads(record_path.read_text())
    summary = train(train_config(config, objective, seed, margin))
    model = load_model(folder / "best")
    evaluation = run_plan(model, study_plan(config.data, config.trials_per_group, config.pairs))
    record = {"objective": objective, "seed": seed, "margin": margin, "summary": summary,
              "flops_per_image": model.flops_per_image(), "parameters": model.num_parameters(),
              "evaluations": evaluation["evaluations"]}  # fmt: skip
    with replacing(record_path) as tmp:  # written last and whole: its presence means the run is done
        tmp.write_text(json.dumps(record, indent=2))
    return record


def run_loss_study(config: LossStudyConfig) -> dict[str, Any]:
    """Train and evaluate every run the study asks for, then write its report; returns the report."""
    config.check()
    records: dict[str, list[dict[str, Any]]] = {}
    chosen_margin = None
    for objective in config.objective_names():
        if objective == "contrastive":
            trials = [run_once(config, objective, 0, m) for m in config.margin_values()]
            best = max(trials, key=lambda r: r["summary"]["best_val_accuracy"])  # on validation, never test
            chosen_margin = best["margin"]
            records[objective] = [best] + [run_once(config, objective, s, chosen_margin) for s in range(1, config.seeds)]
            records["contrastive margins (seed 0)"] = trials
        else:
            records[objective] = [run_once(config, objective, s) for s in range(config.seeds)]
    return write_report(config, records, chosen_margin)


# --- the report ---------------------------------------------------------------------------------------


def summarise(records: list[dict[str, Any]]) -> dict[str, Any]:
    """Mean and standard deviation over seeds of each figure of a set of runs."""
    columns: dict[str, list[float]] = {
        "best_val_accuracy": [r["summary"]["best_val_accuracy"] for r in records],
        "steps": [r["summary"]["steps"] for r in records],
        "epochs": [r["summary"]["epochs"] for r in records],
        "cpu_minutes": [r["summary"]["minutes"] for r in records],
    }
    for r in records:
        for item in r["evaluations"]:
            result = item["result"]
            prefix = item["argv"][0]
            for key in ("accuracy", "roc_auc", "ece"):
                if result.get(key) is not None:
                    columns.setdefault(f"{prefix}.{key}", []).append(float(result[key]))
    return {key: {"mean": statistics.fmean(v), "sd": statistics.stdev(v) if len(v) > 1 else 0.0, "n": len(v)}
            for key, v in columns.items()}  # fmt: skip


#: The table's columns: (key in the summary, heading, format: "%" a percentage, else a format spec).
_COLUMNS = [
    ("oneshot.accuracy", "fresh test one-shot", "%"),
    ("lake-runs.accuracy", "Lake's runs", "%"),
    ("verification.accuracy", "verification accuracy", "%"),
    ("verification.roc_auc", "ROC AUC", ".3f"),
    ("verification.ece", "ECE", ".3f"),
    ("best_val_accuracy", "best validation one-shot", "%"),
    ("steps", "steps", ",.0f"),
    ("epochs", "epochs", ".2f"),
    ("cpu_minutes", "CPU-minutes", ".2f"),
]


def _cell(figure: dict[str, float] | None, form: str) -> str:
    if figure is None:
        return "—"
    if form == "%":
        return f"{100 * figure['mean']:.1f} ± {100 * figure['sd']:.1f}"
    return f"{figure['mean']:{form}} ± {figure['sd']:{form}}"


def write_report(config: LossStudyConfig, records: dict[str, list[dict[str, Any]]], margin: float | None) -> dict[str, Any]:
    """Write ``<docs_dir>/<data>.md``, ``.json`` and three PNGs from the runs' records; returns the JSON."""
    name = data_name(config.data)
    docs = Path(config.docs_dir)
    docs.mkdir(parents=True, exist_ok=True)
    objectives = [o for o in records if o in OBJECTIVES]
    table = {o: summarise(records[o]) for o in objectives}
    report = {"data": config.data, "settings": dataclasses.asdict(config), "contrastive_margin": margin, "table": table,
              "margins": {str(r["margin"]): r["summary"]["best_val_accuracy"] for r in records.get("contrastive margins (seed 0)", [])},
              "flops_per_image": {o: records[o][0]["flops_per_image"] for o in objectives},
              "parameters": {o: records[o][0]["parameters"] for o in objectives}}  # fmt: skip
    curves = {o: [read_metrics(run_dir(config, o, r["seed"], r["margin"])) for r in records[o]] for o in objectives}
    plot_study_curves(curves, docs / f"{name}-loss-curves.png")
    plot_study_validation(curves, docs / f"{name}-validation.png")
    _plot_pairs(config, objectives, records, docs / f"{name}-pairs.png")

    columns = [c for c in _COLUMNS if any(c[0] in table[o] for o in objectives)]
    lines = [
        f"# Loss study on {name}",
        "",
        "Generated by `scripts/compare_losses.py`; do not edit by hand. Every figure is the mean ± standard deviation "
        f"over {config.seeds} seed(s); every run had the same budget "
        + (f"of {config.steps} steps" if config.steps > 0 else f"of {config.cpu_minutes:g} CPU-minutes (one process, CPU time)")
        + ", data, augmentation and evaluation code.",
        "",
        "| objective | " + " | ".join(c[1] for c in columns) + " | MFLOPs / image |",
        "|---|" + "---|" * (len(columns) + 1),
    ]
    for o in objectives:
        label = f"{o} (margin {margin:g})" if o == "contrastive" and margin is not None else o
        cells = [_cell(table[o].get(key), form) for key, _, form in columns]
        lines.append(f"| {label} | " + " | ".join(cells) + f" | {report['flops_per_image'][o] / 1e6:,.1f} |")
    if report["margins"]:
        tried = ", ".join(f"{m}: {100 * v:.1f}%" for m, v in report["margins"].items())
        lines += ["", f"Contrastive margins tried with seed 0 (best validation one-shot accuracy): {tried}."]
    lines += [
        "",
        f"The test figures: {'; '.join(e.title for e in study_plan(config.data, config.trials_per_group, config.pairs))}.",
        "",
        f"![loss curves]({name}-loss-curves.png)",
        "",
        f"![validation accuracy against CPU-minutes]({name}-validation.png)",
        "",
        f"![the same test pairs scored by each objective]({name}-pairs.png)",
        "",
    ]
    (docs / f"{name}.md").write_text("\n".join(lines), encoding="utf-8")
    (docs / f"{name}.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    return report


def _plot_pairs(config: LossStudyConfig, objectives: list[str], records: dict[str, list[dict[str, Any]]], path: Path) -> None:
    """The same test pairs (half same, half different, in the sampler's order), scored by each objective's seed-0 model."""
    from siamese.data import PairSampler
    from siamese.hub import load_model

    data = load_split(config.data, "test", 0)
    left, right, same = PairSampler(data, max(config.pairs, config.shown_pairs), seed=0, within_alphabet=True).batch(0)
    half = config.shown_pairs // 2
    picked = [i for i in np.flatnonzero(same)[: config.shown_pairs - half]] + [i for i in np.flatnonzero(~same.astype(bool))[:half]]
    pairs = [(data.images[left[i]], data.images[right[i]], bool(same[i])) for i in sorted(picked)]
    models = {o: load_model(run_dir(config, o, records[o][0]["seed"], records[o][0]["margin"]) / "best") for o in objectives}
    plot_pair_grid(models, pairs, path)
