"""Training state on disk: written atomically, read back with ``weights_only=True``.

The state file holds everything a run needs to continue as if never stopped: model and optimiser
tensors, the step (which is also the samplers' position), the best validation figure so far and the
random number generators. It is written to a temporary file and renamed, so a kill -9 or a full
disk mid-write leaves the previous state intact.
"""

from __future__ import annotations
from siamese.utils import replacing

import json
import os
import random
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import torch

STATE_FILE = "state.pt"
METRICS_FILE = "metrics.jsonl"


def rng_state() -> dict[str, Any]:
    np_state = np.random.get_state()
    return {
        "torch": torch.get_rng_state(),
        "numpy_keys": torch.from_numpy(np_state[1].astype(np.int64)),
        "numpy_pos": int(np_state[2]),
        "python": json.dumps(random.getstate()),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
    }


def set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    np.random.set_state(("MT19937", state["numpy_keys"].numpy().astype(np.uint32), state["numpy_pos"], 0, 0.0))
    version, internal, gauss = json.loads(state["python"])
    random.setstate((version, tuple(internal), gauss))
    if state["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save_state(folder: Path, state: dict[str, Any]) -> None:
    """Write ``state.pt`` atomically (temporary file in the same folder, then rename)."""
    with replacing(folder / STATE_FILE) as tmp, open(tmp, "wb") as handle:
        torch.save(state, handle)
        handle.flush()
        os.fsync(handle.fileno())


def load_state(folder: Path) -> dict[str, Any] | None:
    path = folder / STATE_FILE
    if not path.is_file():
        return None
    return torch.load(path, map_location="cpu", weights_only=True)


def save_model_atomically(model: torch.nn.Module, folder: Path) -> None:
    """``save_pretrained`` into a sibling temporary folder, then swap it in place of ``folder``.

    A failure while writing (a full disk) leaves ``folder`` as it was and removes the partial copy. A kill between
    the two renames of the swap leaves the previous copy as ``.<name>.old``; the next call puts it back first.
    """
    tmp = folder.with_name(f".{folder.name}.tmp")
    old = folder.with_name(f".{folder.name}.old")
    if old.is_dir() and not folder.exists():
        os.replace(old, folder)  # an interrupted swap: the previous copy is the good one
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        model.save_pretrained(tmp)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    shutil.rmtree(old, ignore_errors=True)
    if folder.exists():
        os.replace(folder, old)
    os.replace(tmp, folder)
    shutil.rmtree(old, ignore_errors=True)


def append_metrics(folder: Path, row: dict[str, Any]) -> None:
    with open(folder / METRICS_FILE, "a", encoding="utf-8") as handle:
        handle.write(json.dumps(row) + "\n")


def read_metrics(folder: Path) -> list[dict[str, Any]]:
    path = folder / METRICS_FILE
    if not path.is_file():
        return []
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:
            continue  # a line cut short by a kill
    return rows


def truncate_metrics(folder: Path, step: int) -> list[dict[str, Any]]:
    """Keep the rows up to ``step`` (the resumed state's), dropping what the lost steps logged."""
    rows = [row for row in read_metrics(folder) if row.get("step", 0) <= step]
    with replacing(folder / METRICS_FILE) as tmp:
        tmp.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return rows
