"""Where and how fast training runs: device choice, bf16 autocast and time-sized schedules."""

from __future__ import annotations

import contextlib
import math
import time

from ddfa._optional import require

require("torch", "training")

import torch  # noqa: E402

from ddfa.errors import InputError

DEVICES = ("cpu", "cuda", "auto")


def resolve_device(name: str) -> torch.device:
    """``"cpu"``, ``"cuda"`` (an error if no GPU is visible) or ``"auto"`` (CUDA when available)."""
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda" and not torch.cuda.is_available():
        raise InputError("device = \"cuda\" but torch sees no CUDA GPU (use \"auto\" or \"cpu\")")
    return torch.device(name)


def autocast(device: torch.device, enabled: bool):
    """bf16 autocast (no loss scaling needed with bf16) when ``enabled`` on a CUDA ``device``; a no-op
    otherwise (bf16 on CPUs without bf16 units is many times slower than float32)."""
    if not enabled or device.type != "cuda":
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=torch.bfloat16)


class StepBudget:
    """Sizes a run to ``seconds`` of wall time: over ``probe`` steps after the first call (which pays for
    start-up and kernel selection), or fewer if they take more than a tenth of the budget, the measured
    seconds per step decide how many steps still fit, keeping ``reserve`` of the budget for validation
    and checkpoints."""

    def __init__(self, seconds: float, probe: int = 10, reserve: float = 0.08):
        self.seconds, self.probe, self.reserve = seconds, probe, reserve
        self.start = time.perf_counter()
        self.mark: tuple[float, int] | None = None  # (time, step) when the probe started
        self.sec_per_step: float | None = None

    def update(self, step: int, total: int) -> int | None:
        """Call after every optimiser round at ``step``; returns the new total steps once, when sized."""
        if self.sec_per_step is not None:
            return None
        now = time.perf_counter()
        if self.mark is None:
            self.mark = (now, step)
            return None
        if step - self.mark[1] < self.probe and now - self.mark[0] < 0.1 * self.seconds:
            return None
        self.sec_per_step = (now - self.mark[0]) / (step - self.mark[1])
        left = self.seconds * (1 - self.reserve) - (now - self.start)
        return max(step + 1, min(total, step + math.floor(max(0.0, left) / self.sec_per_step)))
