"""What every registered regressor shares: the input contract and the two heads.

Input: ``float32 (B, 3, H, W)`` RGB pixel values in ``[0, 255]``; each network normalises
internally (its first layer), so exported graphs take raw pixel values too.
Output of ``forward``: ``float32 (B, num_outputs)`` parameters; the training-only LRR head
(``forward_with_lrr``) adds ``float32 (B, 2 * num_landmarks)`` landmarks ``x0, y0, x1, y1, ...``.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import nn

from .errors import NetError


class LRROutput(NamedTuple):
    """Outputs of :meth:`ParamRegressor.forward_with_lrr`.

    params: float32 (B, num_outputs) regressed parameters.
    landmarks: float32 (B, 2 * num_landmarks) LRR-head landmarks ``x0, y0, x1, y1, ...``.
    """

    params: torch.Tensor
    landmarks: torch.Tensor


def check_head_args(num_outputs: int, lrr: bool, num_landmarks: int) -> None:
    if not (isinstance(num_outputs, int) and num_outputs >= 1):
        raise NetError(f"num_outputs must be a positive int, got {num_outputs!r}")
    if lrr and not (isinstance(num_landmarks, int) and num_landmarks >= 1):
        raise NetError(f"num_landmarks must be a positive int, got {num_landmarks!r}")


class ParamRegressor(nn.Module):
    """Base of the regressors: subclasses set ``features`` (pixels -> pooled (B, num_features)),
    ``head`` (linear, 62 outputs) and ``lrr_head`` (linear or None)."""

    features: nn.Module
    head: nn.Linear
    lrr_head: nn.Linear | None

    @property
    def has_lrr(self) -> bool:
        return self.lrr_head is not None

    def _init_weights(self, conv_mode: str) -> None:
        """He-normal convolutions (``conv_mode``: ``"fan_in"`` or ``"fan_out"``), unit BatchNorm,
        small-normal linear heads."""
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode=conv_mode, nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, std=0.01)
                nn.init.zeros_(m.bias)

    def _check_input(self, x: torch.Tensor) -> None:
        if not isinstance(x, torch.Tensor):
            raise NetError(f"expected a torch.Tensor, got {type(x).__name__}")
        if x.dim() != 4 or x.shape[1] != 3:
            raise NetError(f"expected input of shape (B, 3, H, W), got {tuple(x.shape)}")
        if not x.is_floating_point():
            raise NetError(f"expected float pixels in [0, 255], got dtype {x.dtype}; cast with .float()")

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """float (B, 3, H, W) pixels in [0, 255] -> pooled features (B, num_features)."""
        if not torch.jit.is_tracing():  # shapes are symbolic while tracing (ONNX export)
            self._check_input(x)
        return self.features(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """float (B, 3, H, W) pixels in [0, 255] -> params (B, num_outputs). Never runs the LRR head."""
        return self.head(self.forward_features(x))

    def forward_with_lrr(self, x: torch.Tensor) -> LRROutput:
        """Both heads on shared features; requires ``lrr=True``."""
        if self.lrr_head is None:
            raise NetError("this model has no LRR head; create it with lrr=True")
        f = self.forward_features(x)
        return LRROutput(self.head(f), self.lrr_head(f))
