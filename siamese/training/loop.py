"""The training loop, top to bottom: data, model, optimiser, then steps with validation and checkpoints.

Configuration is one dataclass, :class:`TrainConfig`; ``scripts/train.py`` turns its fields into
command-line flags. A run writes to ``out_dir``:

- ``state.pt``       everything needed to resume (written atomically every ``checkpoint_every`` steps);
- ``best/``          the model with the best validation one-shot accuracy (Koch's early stopping),
                     as ``config.json`` + ``model.safetensors``;
- ``final/``         with ``keep="final"``: the weights the run ends with (the moving average with ``ema``);
- ``metrics.jsonl``  one JSON row per logged step; ``curves.png`` the learning curves.

When the run ends, the kept checkpoint (``best/``, or ``final/`` with ``keep="final"``) is evaluated on its
data set's test split (``final_eval``; the plan of :func:`siamese.evaluation.checkpoint_plan`) and gets its model card
(``README.md``, with those figures and the commands that reproduce them), ``evaluation.json``,
``curves.png`` and ``metrics.jsonl``; an Omniglot model also gets ``calibration.json``, the page's
posterior (:mod:`siamese.evaluation.calibration`).

Runs on CPU or one GPU, or on several processes through ``torchrun`` (DistributedDataParallel,
NCCL on GPUs, gloo on CPU). Batch ``s`` depends only on ``(seed, s)``, so a resumed run continues
exactly where the killed one stopped.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
import torch.distributed as dist

from siamese.data import ClassBatchSampler, EpisodeSampler, ImageSet, PairSampler, preprocess_dataset
from siamese.evaluation import checkpoint_plan, evaluate_oneshot, evaluate_verification, model_scorer, run_plan
from siamese.data.prepare import data_dir
from siamese.data.splits import load_train_val
from siamese.losses import LOSSES, CosineClassifier, cosface_objective, pair_objective, prototypical_objective, similarity_distillation
from siamese.models import SiameseNet, build_model
from siamese.training.card import headline, write_model_card
from siamese.training.execution import execution_for
from siamese.training.optim import OptimConfig, apply_schedule, build_optimizer
from siamese.evaluation.calibration import fitted_calibration
from siamese.evaluation.plots import plot_learning_curves
from siamese.hub import load_model, write_calibration
from siamese.training.state import (
    append_metrics,
    read_metrics,
    load_state,
    rng_state,
    save_model_atomically,
    save_state,
    set_rng_state,
    truncate_metrics,
)
from siamese.transforms import BatchAugmentation, training_augmentation
from siamese.utils import progress_bar


class TrainingError(RuntimeError):
    """Training cannot go on (e.g. the loss became NaN); the last good checkpoint is kept."""


@dataclass
class TrainConfig:
    data: str = "omniglot"  # omniglot | mnist | att_faces | folder:PATH
    train_on_validation: bool = False  # omniglot: also train on drawers 1-12 of the validation alphabets; validate on 13-20
    architecture: str = "compact"  # compact | resnet12 | koch
    model_args: dict[str, Any] = field(default_factory=dict)  # extra constructor arguments, e.g. {"input_size": 64}
    loss: str = "bce"  # bce | contrastive | prototypical (episodes) | cosface (softmax over every training class)
    margin: float = 1.0  # contrastive loss margin
    cosface_margin: float = 0.2  # cosface: cosine margin the true class must win by
    cosface_scale: float = 16.0  # cosface: logit scale (inverse temperature) of the softmax
    per_class: int = 2  # cosface: images of each class in a batch of batch_size images
    classifier_lr_scale: float = 1.0  # cosface: the class vectors' learning rate over lr (each class is in few batches)
    episode_way: int = 20  # prototypical: classes per episode
    episode_shot: int = 1  # prototypical: support images per class
    episode_query: int = 5  # prototypical: query images per class
    partial_episodes: bool = False  # prototypical within an alphabet: smaller alphabets give episodes of all their characters
    optimizer: str = "adamw"  # koch-sgd | adam | adamw
    lr: float = 1e-3
    weight_decay: float = 1e-4
    ema: float = 0.0  # if > 0, validate and keep an exponential moving average of the weights with this decay (e.g. 0.999)
    teacher: str = ""  # a checkpoint (folder or Hub id, e.g. an ensemble) whose similarities the model also learns
    distill_weight: float = 1.0  # with --teacher: the distillation loss's weight beside the objective's
    distill_temperature: float = 0.1  # with --teacher: the softmax temperature over cosine similarities
    momentum: float = 0.9  # koch-sgd: final momentum (rises from 0.5); ignored by adam/adamw
    layer_lrs: str = ""  # koch-sgd: comma-separated learning rate per layer (Koch: eta_j), e.g. "0.01,0.01,0.01,0.01,0.01,0.01"
    layer_momenta: str = ""  # koch-sgd: comma-separated final momentum per layer (Koch: mu_j)
    batch_size: int = 128  # pairs (pair losses) or images (cosface) per step, over all processes
    steps: int = 2000
    epochs: float = 0.0  # if > 0, overrides steps: one epoch = training images / (pairs or episode images) per step
    within_alphabet: bool = True  # negatives from the same alphabet (harder, like the test trials)
    augment: bool = True  # Koch's affine distortions
    stroke_jitter: bool = False  # with augment: thicken or thin strokes at random
    elastic: bool = False  # with augment: elastic distortion (Simard et al. 2003)
    rotated_classes: bool = False  # add each training class turned by 90/180/270 degrees as a new class
    mirrored_classes: bool = False  # add each training class mirrored as a new class (with rotated_classes: each turn mirrored too)
    eval_every: int = 250
    val_trials_per_alphabet: int = 20  # 20-way within-alphabet trials per validation alphabet
    checkpoint_every: int = 250
    seed: int = 0
    out_dir: str = "runs/default"
    device: str = "auto"  # auto | cpu | cuda | cuda:N
    amp: bool = True  # bfloat16 autocast on CUDA and on CPUs with native bf16, with channels_last (--no-amp: fp32)
    compile: bool = True  # on CUDA: channels_last and torch.compile (scripts/benchmark_gpu.py measures the gain)
    workers: int = 0  # data-loading processes (each builds whole augmented batches)
    log_every: int = 25
    max_minutes: float = 0.0  # if > 0, a time budget: the schedule follows the clock and the run stops cleanly
    budget_clock: str = "wall"  # wall | cpu: what --max-minutes and the logged seconds count (cpu: this process's CPU time)
    final_eval: bool = True  # at the end, evaluate the kept checkpoint on the test split and record it in the model card
    keep: str = "best"  # best | final: the model a run delivers, its best validation point or its last (or averaged) weights

    def optim(self) -> OptimConfig:
        return OptimConfig(name=self.optimizer, lr=self.lr, weight_decay=self.weight_decay, momentum=self.momentum,
                           layer_lrs=_floats(self.layer_lrs), layer_momenta=_floats(self.layer_momenta))  # fmt: skip


def _floats(text: str) -> tuple[float, ...]:
    try:
        return tuple(float(v) for v in text.split(",") if v.strip())
    except ValueError as error:
        raise ValueError(f"Expected comma-separated numbers, got {text!r}.") from error


def train(config: TrainConfig) -> dict[str, Any]:
    """Train (or resume) a run; returns a summary with the best validation accuracy."""
    if config.loss not in LOSSES:
        raise ValueError(f"Unknown loss {config.loss!r}; choose from {', '.join(LOSSES)}.")
    if config.keep not in ("best", "final"):
        raise ValueError(f"Unknown --keep {config.keep!r}; choose best (the best validation point) or final (the last weights).")
    if config.budget_clock not in CLOCKS:
        raise ValueError(f"Unknown --budget-clock {config.budget_clock!r}; choose from {', '.join(CLOCKS)}.")
    clock = CLOCKS[config.budget_clock]
    rank, world, device = _setup_distributed(config.device)
    main_process = rank == 0
    out = Path(config.out_dir)
    torch.manual_seed(config.seed)

    # --- data: preprocess once through the shared path, keep as uint8 in memory -------------
    model = build_model(config.architecture, **config.model_args)
    teacher = _teacher(config.teacher, model, device)  # checked before the data loads
    train_set, val_set = load_train_val(config.data, config.seed, config.train_on_validation)
    if config.rotated_classes or config.mirrored_classes:
        train_set = train_set.with_transformed_classes((1, 2, 3) if config.rotated_classes else (), config.mirrored_classes)
    train_images = preprocess_dataset(train_set.images, model.preprocess_config, desc="train images", cache_dir=data_dir() / "cache")
    if config.loss == "prototypical":
        sampler = EpisodeSampler(train_set, config.episode_way, config.episode_shot, config.episode_query, config.seed,
                                 config.within_alphabet, config.partial_episodes)  # fmt: skip
        batch = config.episode_way * (config.episode_shot + config.episode_query) * world
    elif config.loss == "cosface":
        if config.batch_size % (config.per_class * world):
            raise ValueError(f"batch_size {config.batch_size} must be a multiple of per_class x processes ({config.per_class} x {world}).")
        sampler = ClassBatchSampler(train_set, config.batch_size // config.per_class, config.per_class, config.seed, config.within_alphabet)
        batch = config.batch_size
    else:
        if config.batch_size % world:
            raise ValueError(f"batch_size {config.batch_size} must divide evenly over {world} processes.")
        sampler = PairSampler(train_set, config.batch_size, config.seed, config.within_alphabet)
        batch = config.batch_size
    steps_per_epoch = max(1, len(train_set) // batch)
    total_steps = int(round(config.epochs * steps_per_epoch)) if config.epochs > 0 else config.steps
    augment = training_augmentation(train_images.shape[-1], config.stroke_jitter, config.elastic) if config.augment else None
    batches = TrainingBatches(train_images, sampler, augment, rank, world, config.seed)
    validation = Validation(val_set, config.val_trials_per_alphabet, config.seed)

    # --- model and optimiser, then resume if a state exists ---------------------------------
    model.to(device)
    averaged = _moving_average(model, config.ema)  # the weights that are validated and kept, when --ema is on
    classifier = CosineClassifier(train_set.num_classes, _feature_dim(model)).to(device) if config.loss == "cosface" else None
    optim_config = config.optim()
    optimizer = build_optimizer(model, optim_config, extra=classifier, extra_lr_scale=config.classifier_lr_scale)
    start_step, best = 0, {"val_accuracy": -1.0, "step": 0}
    state = load_state(out)
    if state is not None:
        _check_same_run(json.loads(state["config"]), asdict(config), out)
        model.load_state_dict(state["model"])
        if averaged is not None:
            averaged.load_state_dict(state["ema"])
        if classifier is not None:
            classifier.load_state_dict(state["classifier"])
        optimizer.load_state_dict(state["optimizer"])
        set_rng_state(state["rng"])
        start_step, best = state["step"], state["best"]
        if main_process:
            truncate_metrics(out, start_step)
            print(f"resuming {out} at step {start_step}")
    elif main_process:
        out.mkdir(parents=True, exist_ok=True)
        (out / "train_config.json").write_text(json.dumps(asdict(config), indent=2))
    execution = execution_for(device, config.amp, config.compile)  # bf16 + channels_last where the hardware has it
    memory_format = execution.memory_format
    model.to(memory_format=memory_format)
    if teacher is not None:
        teacher.to(memory_format=memory_format)
    kept = model if averaged is None else averaged.module  # what validation measures and best/ holds
    net = torch.nn.parallel.DistributedDataParallel(model) if world > 1 else model
    net = torch.compile(net) if execution.compile else net
    if main_process:
        print(f"training on {execution.describe()}")

    def save(step: int) -> None:
        if not all(torch.isfinite(t).all() for t in model.state_dict().values() if t.is_floating_point()):
            raise TrainingError(f"The weights became NaN or infinite by step {step}; the last good checkpoint in {out} is kept. "
                                "Try a lower learning rate.")  # fmt: skip
        if main_process:
            save_state(out, {"model": model.state_dict(), "optimizer": optimizer.state_dict(), "step": step, "best": best,
                             "rng": rng_state(), "elapsed": clock() - started, "config": json.dumps(asdict(config)),
                             **({"classifier": classifier.state_dict()} if classifier is not None else {}),
                             **({"ema": averaged.state_dict()} if averaged is not None else {})})  # fmt: skip

    def validate(step: int) -> None:
        nonlocal best
        if main_process:
            result = validation.run(kept)
            append_metrics(out, {"step": step, "seconds": round(clock() - started, 2), **result})
            if result["val_accuracy"] > best["val_accuracy"]:
                best = {"val_accuracy": result["val_accuracy"], "step": step}
                save_model_atomically(kept, out / "best")
            progress.write(f"step {step}: val loss {result['val_loss']:.4f}, "
                           f"one-shot {100 * result['val_accuracy']:.1f}% (best {100 * best['val_accuracy']:.1f}%)")  # fmt: skip
        model.train()

    # --- the loop -------------------------------------------------------------------------
    loader = torch.utils.data.DataLoader(batches, batch_size=None, sampler=range(start_step, total_steps),
                                         num_workers=config.workers, pin_memory=device.type == "cuda")  # fmt: skip
    progress = progress_bar(total=total_steps, initial=start_step, desc="training", quiet=not main_process, dynamic_ncols=True)
    started, running = clock() - (state["elapsed"] if state else 0.0), []  # training time counts across resumes
    model.train()
    for step, (images, targets) in enumerate(loader, start=start_step):
        spent = _time_spent(clock() - started, config.max_minutes, world)  # fraction of --max-minutes used (0 without it)
        if spent >= 1.0 and step > 0:  # at least one step, so that every run has a best checkpoint
            if step % config.eval_every:
                validate(step)
            if step % config.checkpoint_every:
                save(step)
            progress.write(f"stopping at step {step}: --max-minutes {config.max_minutes} reached")
            total_steps = step
            break
        lr = apply_schedule(optimizer, optim_config, step, max(step / total_steps, spent), steps_per_epoch)
        images = images.to(device, non_blocking=True, memory_format=memory_format)
        targets = targets.to(device, non_blocking=True)
        with execution.autocast():
            features = net(images).float()  # one forward pass over every image of the batch
            if teacher is not None:
                with torch.no_grad():
                    taught = teacher.features(images).float()
        loss = objective(config, model, features, targets, classifier)
        if teacher is not None:  # the teacher sees the same augmented images
            loss = loss + config.distill_weight * similarity_distillation(features, taught, config.distill_temperature)
        if not torch.isfinite(loss):
            raise TrainingError(f"The loss became {loss.item()} at step {step}; the last good checkpoint in {out} is kept. "
                                "Try a lower learning rate.")  # fmt: skip
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if classifier is not None and world > 1:  # the classifier sits outside DDP: average its gradient by hand
            for p in classifier.parameters():
                dist.all_reduce(p.grad)
                p.grad /= world
        optimizer.step()
        if averaged is not None:
            averaged.update_parameters(model)
        running.append(loss.item())
        progress.update(1)
        done = step + 1

        if main_process and (done % config.log_every == 0 or done == total_steps):
            row = {"step": done, "train_loss": float(np.mean(running)), "lr": lr, "seconds": round(clock() - started, 2)}
            append_metrics(out, row)
            progress.set_postfix(loss=f"{row['train_loss']:.4f}")
            running = []
        if done % config.eval_every == 0 or done == total_steps:
            validate(done)
        if done % config.checkpoint_every == 0 or done == total_steps:
            save(done)
        if world > 1:
            dist.barrier()
    progress.close()

    summary = {"steps": total_steps, "epochs": round(total_steps / steps_per_epoch, 3), "best_val_accuracy": best["val_accuracy"], "best_step": best["step"], "out_dir": str(out),
               "minutes": (clock() - started) / 60.0, "budget_clock": config.budget_clock, "val_way": validation.n_way, "keep": config.keep}  # fmt: skip
    if main_process:
        metrics = read_metrics(out)
        plot_learning_curves(metrics, out / "curves.png")
        delivered = out / config.keep
        if config.keep == "final":  # the schedule was fixed in advance: the last weights, whatever validation said
            save_model_atomically(kept, delivered)
            summary["final_val_accuracy"] = [row for row in metrics if "val_accuracy" in row][-1]["val_accuracy"]
        if delivered.is_dir():
            evaluation = None
            if config.final_eval:
                evaluation = final_evaluation(delivered, config, device, progress.write)
            if evaluation is not None:
                summary["test"] = [{"title": e["title"], "command": e["command"],
                                    **{k: e["result"][k] for k in ("accuracy", "roc_auc") if e["result"].get(k) is not None}}
                                   for e in evaluation["evaluations"]]  # fmt: skip
            write_model_card(delivered, asdict(config), summary, out / "curves.png", evaluation, out / "metrics.jsonl")
        (out / "summary.json").write_text(json.dumps(summary, indent=2))
    if world > 1:
        dist.destroy_process_group()
    return summary


def final_evaluation(folder: Path, config: TrainConfig, device: torch.device, say: Callable[[str], object] = print) -> dict[str, Any] | None:
    """A checkpoint folder, reloaded from disk, through the plan of :func:`siamese.evaluation.checkpoint_plan`; an
    Omniglot model's fitted calibration is written next to it.

    If it cannot run (e.g. the test data is missing), the trained model is kept and its card written
    without figures; the reason is printed."""
    from siamese.data import DataError
    from siamese.models import CheckpointError

    say(f"evaluating {folder} on the test split of {config.data}")
    try:
        model = load_model(folder, device=str(device))
        evaluation = {"data": config.data, "seed": config.seed, **run_plan(model, checkpoint_plan(config.data, config.seed, config.train_on_validation))}
    except (DataError, CheckpointError, ValueError) as error:
        say(f"warning: the final evaluation could not run, so the model card has no test figures: {error}")
        return None
    for item in evaluation["evaluations"]:
        say(f"  {item['title']}: {headline(item['result'])}")
        if item["result"]["mode"] == "calibration":  # the page's posterior travels with the checkpoint
            write_calibration(folder, fitted_calibration(item["result"], item["command"]))
    return evaluation


def objective(config: TrainConfig, model: SiameseNet, features: torch.Tensor, targets: torch.Tensor,
              classifier: CosineClassifier | None = None) -> torch.Tensor:  # fmt: skip
    """The loss of one batch from the features of all its images (see :class:`TrainingBatches`)."""
    if config.loss == "cosface":
        return cosface_objective(model, classifier, features, targets, config.cosface_margin, config.cosface_scale)
    if config.loss == "prototypical":
        n_support = targets.shape[0] * targets.shape[1]
        support = features[:n_support].reshape(*targets.shape[:2], -1)
        query = features[n_support:].reshape(targets.shape[0], -1, features.shape[1])
        return prototypical_objective(model, support, query)
    left, right = features.chunk(2)
    return pair_objective(model, left, right, targets, config.loss, config.margin)


class TrainingBatches(torch.utils.data.Dataset):
    """Item ``s`` is this process's share of training batch ``s``, as ``(images, targets)``.

    - Pairs: ``images`` is the left images then the right ones, ``targets`` the same-labels.
    - Episodes: ``images`` is the support ``[n_way * k_shot]`` then the queries, ``targets`` the
      support's class index ``[n_way, k_shot]``; each process draws its own episode.
    - Class batches: ``images`` is ``per_class`` images of each class, ``targets`` their class labels.

    Seeded by ``(seed, s)`` alone (augmentation included), so any worker can build any step and a
    resumed run sees exactly the batches the interrupted one would have.
    """

    def __init__(self, images: torch.Tensor, sampler: PairSampler | EpisodeSampler | ClassBatchSampler,
                 augment: BatchAugmentation | None, rank: int, world: int, seed: int) -> None:  # fmt: skip
        self.images, self.sampler, self.augment, self.rank, self.world, self.seed = images, sampler, augment, rank, world, seed

    def __len__(self) -> int:
        return 2**62

    def __getitem__(self, step: int) -> tuple[torch.Tensor, torch.Tensor]:
        if isinstance(self.sampler, EpisodeSampler):
            episode = self.sampler.episode(step * self.world + self.rank)
            index = np.concatenate([episode.support.ravel(), episode.query.ravel()])
            targets = torch.arange(len(episode.support))[:, None].expand(episode.support.shape).contiguous()
        elif isinstance(self.sampler, ClassBatchSampler):
            index, labels = self.sampler.batch(step)
            part = slice(self.rank, None, self.world)
            index, targets = index[part], torch.from_numpy(labels[part])
        else:
            left, right, same = self.sampler.batch(step)
            part = slice(self.rank, None, self.world)
            index = np.concatenate([left[part], right[part]])
            targets = torch.from_numpy(same[part])
        return self._load(index, step), targets

    def _load(self, index: np.ndarray, step: int) -> torch.Tensor:
        batch = self.images[torch.from_numpy(index)].float().div_(255.0)
        if self.augment is None:
            return batch
        generator = torch.Generator().manual_seed(int(np.random.default_rng([self.seed, step, self.rank]).integers(2**62)))
        return self.augment(batch, generator)  # the whole batch at once, each image with its own distortion


class Validation:
    """Koch's early-stopping criterion: 20-way within-alphabet one-shot accuracy on the validation
    alphabets (a fixed, seeded set of trials), plus the log loss and ROC AUC on fixed validation
    pairs. Measured by the same code as ``siamese.evaluate``, through the model's own preprocessing."""

    def __init__(self, data: ImageSet, trials_per_group: int, seed: int) -> None:
        largest_group = max(len(np.unique(data.labels[data.groups == g])) for g in range(len(data.group_names)))
        self.data, self.n_way, self.trials_per_group, self.seed = data, min(20, largest_group), trials_per_group, seed

    def run(self, model: SiameseNet) -> dict[str, float]:
        scorer = model_scorer(model)
        oneshot = evaluate_oneshot(scorer, self.data, self.n_way, trials_per_group=self.trials_per_group, seed=self.seed + 1)
        pairs = evaluate_verification(scorer, self.data, n_pairs=512, seed=self.seed + 2)
        return {"val_loss": pairs["log_loss"], "val_accuracy": oneshot["accuracy"], "val_auc": pairs["roc_auc"]}


#: Settings that define what a run learns; resuming with other values would mix two runs.
_RUN_IDENTITY = ("data", "train_on_validation", "architecture", "model_args", "ema", "teacher", "distill_weight", "distill_temperature", "loss", "margin", "cosface_margin", "cosface_scale", "per_class", "classifier_lr_scale", "optimizer",
                 "batch_size", "episode_way", "episode_shot", "episode_query", "partial_episodes", "within_alphabet", "augment", "stroke_jitter",
                 "elastic", "rotated_classes", "mirrored_classes", "seed")  # fmt: skip


def _check_same_run(saved: dict[str, Any], current: dict[str, Any], out: Path) -> None:
    defaults = asdict(TrainConfig())  # a setting added after the run started had its default then
    changed = [f"--{k.replace('_', '-')} {saved.get(k, defaults[k])!r} -> {current[k]!r}"
               for k in _RUN_IDENTITY if saved.get(k, defaults[k]) != current[k]]  # fmt: skip
    if changed:
        raise ValueError(f"{out} holds a run with other settings ({'; '.join(changed)}); "
                         "resume it with its own settings or choose another --out-dir.")  # fmt: skip


def _teacher(source: str, model: SiameseNet, device: torch.device) -> SiameseNet | None:
    """The model to distil from, frozen in eval mode; its input must be the student's."""
    if not source:
        return None
    teacher = load_model(source, device=str(device))
    if teacher.preprocess_config != model.preprocess_config:
        raise ValueError(f"The teacher {source} takes other inputs ({teacher.preprocess_config}) than the model being trained "
                         f"({model.preprocess_config}); distillation needs the same preprocessing.")  # fmt: skip
    return teacher.eval().requires_grad_(False)


def _moving_average(model: SiameseNet, decay: float) -> torch.optim.swa_utils.AveragedModel | None:
    """An exponential moving average of the weights and of batch norm's statistics, or None when ``decay`` is 0."""
    if decay <= 0:
        return None
    if decay >= 1:
        raise ValueError(f"--ema must be a decay between 0 and 1 (e.g. 0.999), got {decay}.")
    from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

    return AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(decay), use_buffers=True)


def _feature_dim(model: SiameseNet) -> int:
    """The length of the model's feature vector, from one blank image."""
    config = model.preprocess_config
    was_training = model.training
    model.eval()
    with torch.no_grad():
        dim = model.features(torch.zeros(1, config.channels, config.input_size, config.input_size, device=next(model.parameters()).device)).shape[1]
    model.train(was_training)
    return int(dim)


#: The clocks a time budget can follow: wall time, or this process's CPU time (fair on a shared machine).
CLOCKS = {"wall": time.time, "cpu": time.process_time}


def _time_spent(seconds: float, max_minutes: float, world: int) -> float:
    """The fraction of the time budget used, as rank 0 sees it, so all processes agree; 0 without one."""
    if max_minutes <= 0:
        return 0.0
    spent = torch.tensor([seconds / (60.0 * max_minutes)], dtype=torch.float64)
    if world > 1:
        dist.broadcast(spent, src=0)
    return float(spent.item())


def _setup_distributed(requested: str) -> tuple[int, int, torch.device]:
    """Rank, world size and device; starts the process group when launched by torchrun."""
    if requested == "auto":
        requested = "cuda" if torch.cuda.is_available() else "cpu"
    if requested.startswith("cuda"):
        torch.backends.cudnn.benchmark = True  # fixed input sizes: let cuDNN pick the fastest kernels
    if "RANK" not in os.environ:
        return 0, 1, torch.device(requested)
    backend = "nccl" if requested.startswith("cuda") else "gloo"
    dist.init_process_group(backend=backend)
    rank, world = dist.get_rank(), dist.get_world_size()
    if requested.startswith("cuda"):
        local = int(os.environ.get("LOCAL_RANK", 0))
        torch.cuda.set_device(local)
        return rank, world, torch.device("cuda", local)
    return rank, world, torch.device("cpu")


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit("Use scripts/train.py")
