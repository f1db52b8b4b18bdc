"""How a training step runs on its device: precision, memory layout and compilation.

On a CPU with native bfloat16 (AVX-512 BF16 or AMX) the fast path is bf16 autocast with
channels_last tensors, about 3x the images per second of fp32 for the default network
(``scripts/benchmark_cpu.py`` measures it); elsewhere it is fp32. On CUDA it is bf16 autocast,
channels_last and ``torch.compile``. ``--no-amp`` forces fp32 on both. Evaluation and serving
stay fp32.
"""

from __future__ import annotations

import platform
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass

import torch


def cpu_supports_bf16() -> bool:
    """True when this CPU computes bfloat16 natively (x86 AVX-512 BF16 or AMX); emulated bf16 is slower than fp32."""
    if platform.machine().lower() not in ("x86_64", "amd64"):
        return False  # ARM's bf16 paths were not measured here: fp32 is the safe choice
    cpu = torch.cpu
    return bool(getattr(cpu, "_is_avx512_bf16_supported", lambda: False)() or getattr(cpu, "_is_amx_tile_supported", lambda: False)())


@dataclass(frozen=True)
class Execution:
    """The settings of one training step on ``device``; see :func:`execution_for`."""

    device: torch.device
    bf16: bool  # autocast to bfloat16 (weights and gradients stay fp32)
    channels_last: bool  # NHWC tensors, which oneDNN's and cuDNN's bf16 convolutions prefer
    compile: bool  # torch.compile (on CPU it was slower than eager here, so CUDA only)

    @property
    def memory_format(self) -> torch.memory_format:
        return torch.channels_last if self.channels_last else torch.contiguous_format

    def autocast(self) -> AbstractContextManager:
        return torch.autocast(self.device.type, dtype=torch.bfloat16) if self.bf16 else nullcontext()

    def describe(self) -> str:
        parts = ["bf16 autocast" if self.bf16 else "fp32", *(["channels_last"] if self.channels_last else []),
                 *(["torch.compile"] if self.compile else [])]  # fmt: skip
        return f"{self.device.type}: {', '.join(parts)}"


def execution_for(device: torch.device, amp: bool = True, compile: bool = True) -> Execution:
    """The fast path where the hardware has one: bf16 + channels_last on CPUs with native bf16
    (``amp``), and with ``torch.compile`` on CUDA (``compile``); fp32 and contiguous otherwise."""
    if device.type == "cuda":
        return Execution(device, bf16=amp, channels_last=compile, compile=compile)
    fast = amp and device.type == "cpu" and cpu_supports_bf16()
    return Execution(device, bf16=fast, channels_last=fast, compile=False)
