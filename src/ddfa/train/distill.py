"""Distillation: a frozen teacher network labels every augmented training frame on the fly.

The student's loss adds ``distill`` times the same loss (fWPDC, VDC, ...) measured against the
teacher's parameters, beside the loss against the fitted labels. The teacher is any checkpoint of
the registry (``ddfa.nets.checkpoint``), run in eval mode without gradients, on the training device.
"""

from __future__ import annotations

import os

from ddfa._optional import require

require("torch", "distillation")

import torch  # noqa: E402

from ddfa.nets.checkpoint import load_regressor
from ddfa.train.accel import autocast


class Teacher:
    """``teacher(images)``: float32 (B, 3, 120, 120) RGB 0..255 on ``device`` -> params float32 (B, 62),
    raw (vertex frame, de-normalised by the teacher's own statistics)."""

    def __init__(self, path: str | os.PathLike, device: torch.device, amp: bool = False):
        reg = load_regressor(path)
        self.arch = reg.arch
        self.net = reg.net.to(device).eval()
        for p in self.net.parameters():
            p.requires_grad_(False)
        self.mean = torch.from_numpy(reg.normalizer.mean).to(device)
        self.std = torch.from_numpy(reg.normalizer.std).to(device)
        self.device, self.amp = device, amp

    @torch.no_grad()
    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        with autocast(self.device, self.amp):
            out = self.net(images)
        return out.float() * self.std + self.mean
