"""Training losses: VDC, WPDC, fWPDC, landmark regression (LRR) and their weighting."""

from ddfa._optional import require

require("torch", "ddfa.losses")

from ddfa.losses.param_losses import FWPDC, VDC, WPDC, LandmarkRegression, balanced

__all__ = ["VDC", "WPDC", "FWPDC", "LandmarkRegression", "balanced"]
