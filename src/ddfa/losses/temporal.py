"""A clip loss on frame-to-frame landmark motion (the short-video idea of 3DDFA_V2, as a loss)."""

from __future__ import annotations

import torch
from torch import nn


class TemporalOffsets(nn.Module):
    """Mean squared error of the frame-to-frame offsets of the landmarks within each clip.

    ``pred`` and ``target`` (B, P, D) hold the points of ``B / clip_len`` clips, the frames of
    each clip consecutive. With offsets ``d_j = x_{j+1} - x_j``, the loss is
    ``mean over clips, j and points of || d_j(pred) - d_j(target) ||^2``: zero when the prediction
    moves exactly as the truth does (whatever its per-frame error), positive otherwise.
    """

    def __init__(self, clip_len: int):
        super().__init__()
        if clip_len < 2:
            raise ValueError(f"the temporal loss needs clips of at least 2 frames, got {clip_len}")
        self.clip_len = clip_len

    def forward(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        if pred.shape != target.shape or pred.ndim != 3 or pred.shape[0] % self.clip_len:
            raise ValueError(f"expected matching (clips x {self.clip_len}, P, D) tensors, got "
                             f"{tuple(pred.shape)} and {tuple(target.shape)}")
        d = (pred - target).unflatten(0, (-1, self.clip_len))  # (C, L, P, D)
        return (d[:, 1:] - d[:, :-1]).square().sum(-1).mean()
