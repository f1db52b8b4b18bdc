"""The interface every Siamese model shares: embed images, score pairs, save and load.

A model owns its preprocessing settings, so ``compare`` and ``embed`` accept raw images in any
form that :func:`siamese.transforms.preprocess` understands and always return P(same).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
from huggingface_hub import PyTorchModelHubMixin
from PIL import Image

from siamese.transforms import PreprocessConfig, preprocess_batch

ImageLike = Image.Image | np.ndarray
#: The two files of a checkpoint, named here only.
CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"


class CheckpointError(RuntimeError):
    """A checkpoint that cannot be loaded as it is; the message says why."""


def model_preprocess_config(input_size: int, channels: int, kind: str, fit_to_box: bool = False, **ink: Any) -> PreprocessConfig:
    """A model's input settings from its constructor arguments (:class:`PreprocessConfig` checks them);
    ``fit_to_box`` and ``ink`` (``margin``, ``stroke_band``) only apply to ink."""
    return PreprocessConfig(input_size=input_size, channels=channels, kind=kind, fit_to_box=bool(fit_to_box) and kind == "ink", **ink)


class SiameseNet(torch.nn.Module, PyTorchModelHubMixin):
    """Base class: a twin ``features`` network and a ``pair_logits`` head.

    Subclasses define ``architecture`` (the name written to ``config.json``), ``features`` and
    ``pair_logit_matrix``. Logits are log-odds of *same*; see :mod:`siamese.losses`.
    """

    architecture: str = ""
    preprocess_config: PreprocessConfig

    # --- what subclasses implement ---------------------------------------------------------

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Model input ``[N, C, H, W]`` -> one feature vector per image ``[N, D]``."""
        raise NotImplementedError

    def pair_logit_matrix(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        """Features ``[Q, D]`` and ``[C, D]`` -> logits of *same* for every pair, ``[Q, C]``."""
        raise NotImplementedError

    def distance(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        """Row-wise distance between aligned features ``[N, D]`` -> ``[N]`` (contrastive loss)."""
        return torch.linalg.vector_norm(a - b, dim=1)

    # --- shared behaviour ------------------------------------------------------------------

    def pair_logits(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        """Logits of *same* for aligned feature rows ``[N, D]`` -> ``[N]``."""
        raise NotImplementedError

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """One twin: model inputs ``[N, C, H, W]`` -> features ``[N, D]``.

        Training runs both sides of a pair (or a whole episode) through one call, concatenated,
        and scores them with the head afterwards; see :mod:`siamese.losses`.
        """
        return self.features(x)

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    def preprocess_inputs(self, images: Sequence[ImageLike] | torch.Tensor) -> torch.Tensor:
        """Raw images (or an already preprocessed batch) -> a batch on the model's device."""
        if isinstance(images, torch.Tensor):
            batch = images if images.dim() == 4 else images[None]
        else:
            batch = preprocess_batch(list(images), self.preprocess_config)
        return batch.to(self.device, dtype=torch.float32)

    @torch.inference_mode()
    def embed(self, images: Sequence[ImageLike] | torch.Tensor, batch_size: int = 256) -> torch.Tensor:
        """Images -> features ``[N, D]``, in eval mode and without gradients."""
        was_training = self.training
        self.eval()
        try:
            batch = self.preprocess_inputs(images)
            return torch.cat([self.features(chunk) for chunk in batch.split(batch_size)])
        finally:
            self.train(was_training)

    @torch.inference_mode()
    def compare(
        self, queries: Sequence[ImageLike] | torch.Tensor, candidates: Sequence[ImageLike] | torch.Tensor
    ) -> torch.Tensor:
        """P(same) for every query against every candidate, ``[Q, C]``."""
        return torch.sigmoid(self.pair_logit_matrix(self.embed(queries), self.embed(candidates)))

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())

    def embedding_ms(self, repeats: int = 20) -> dict[int, float]:
        """Median milliseconds per image to embed a preprocessed batch of 1 and of 64 on this machine's CPU threads."""
        import statistics
        import time

        config = self.preprocess_config
        result = {}
        for batch in (1, 64):
            images = torch.rand(batch, config.channels, config.input_size, config.input_size, device=self.device)
            self.embed(images)
            seconds = []
            for _ in range(repeats if batch == 1 else max(3, repeats // 4)):
                start = time.perf_counter()
                self.embed(images)
                seconds.append(time.perf_counter() - start)
            result[batch] = 1000 * statistics.median(seconds) / batch
        return result

    def flops_per_image(self) -> int:
        """Floating-point operations of one image's forward pass through :meth:`features` (``torch.utils.flop_counter``)."""
        from torch.utils.flop_counter import FlopCounterMode

        config = self.preprocess_config
        counter = FlopCounterMode(display=False)
        with counter, torch.inference_mode():
            self.features(torch.rand(1, config.channels, config.input_size, config.input_size, device=next(self.parameters()).device))
        return counter.get_total_flops()

    # --- saving and loading ----------------------------------------------------------------

    def config(self) -> dict[str, Any]:
        """What ``config.json`` holds: the architecture's name and its constructor arguments."""
        return {"architecture": self.architecture, **(self._hub_mixin_config or {})}

    def save_pretrained(self, save_directory: str | Path, **kwargs: Any) -> str | None:
        kwargs.setdefault("config", self.config())
        return super().save_pretrained(save_directory, **kwargs)

    @classmethod
    def _from_pretrained(
        cls,
        *,
        model_id: str,
        revision: str | None,
        cache_dir: str | Path | None,
        force_download: bool,
        local_files_only: bool,
        token: str | bool | None,
        map_location: str = "cpu",
        strict: bool = True,
        **model_kwargs: Any,
    ) -> "SiameseNet":
        """Safetensors only, strict: a checkpoint that does not fit the model is an error."""
        try:
            model = cls(**model_kwargs)
        except (TypeError, ValueError, RuntimeError) as error:  # e.g. an input too small for the layers
            raise CheckpointError(f"{CONFIG_FILE} does not describe a valid {cls.__name__}: {error}") from error
        if os.path.isdir(model_id):
            weights = os.path.join(model_id, WEIGHTS_FILE)
            if not os.path.isfile(weights):
                raise CheckpointError(f"{model_id} has no {WEIGHTS_FILE} (only safetensors weights are loaded).")
        else:
            weights = fetch_from_hub(model_id, WEIGHTS_FILE, revision=revision, cache_dir=cache_dir, force_download=force_download,
                                     token=token, local_files_only=local_files_only)  # fmt: skip
        load_weights(model, Path(weights).read_bytes(), weights, strict=strict)
        return model.to(map_location).eval()


def load_weights(model: torch.nn.Module, data: bytes, name: str, strict: bool = True) -> None:
    """Load safetensors ``data`` (the bytes of the file ``name``) into ``model``, telling a corrupt or
    truncated file apart from weights that do not fit the model."""
    from safetensors import SafetensorError
    from safetensors.torch import load as load_safetensors

    try:
        state = load_safetensors(data)
    except (SafetensorError, ValueError, OSError) as error:
        raise CheckpointError(f"{name} is not a readable safetensors file (corrupt or truncated): {error}") from error
    try:
        model.load_state_dict(state, strict=strict)
    except RuntimeError as error:
        raise CheckpointError(f"The weights in {name} do not fit a {type(model).__name__} of this config: {error}") from error


def fetch_from_hub(repo_id: str, filename: str, **kwargs: Any) -> str:
    """Download one file of a Hub repo (or take it from the cache); failures become CheckpointError."""
    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import HfHubHTTPError, LocalEntryNotFoundError

    try:
        return hf_hub_download(repo_id=repo_id, filename=filename, **kwargs)
    except (HfHubHTTPError, LocalEntryNotFoundError, OSError, ValueError) as error:
        raise CheckpointError(f"Could not fetch {filename} of {repo_id!r} from the Hugging Face Hub: {error}") from error


def read_config(folder: str | Path) -> dict[str, Any]:
    """Read and parse ``config.json`` with a clear error for missing or corrupt files."""
    path = Path(folder) / CONFIG_FILE
    if not path.is_file():
        raise CheckpointError(f"{folder} has no {CONFIG_FILE}.")
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise CheckpointError(f"{path} is not valid JSON: {error}") from error
    if not isinstance(config, dict):
        raise CheckpointError(f"{path} must hold a JSON object.")
    return config
