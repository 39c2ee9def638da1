"""Training losses: VDC, WPDC, fWPDC, landmark regression (LRR), temporal offsets and their weighting."""

from ddfa._optional import require

require("torch", "ddfa.losses")

from ddfa.losses.param_losses import FWPDC, VDC, WPDC, LandmarkRegression, balanced
from ddfa.losses.temporal import TemporalOffsets

__all__ = ["VDC", "WPDC", "FWPDC", "LandmarkRegression", "TemporalOffsets", "balanced"]
