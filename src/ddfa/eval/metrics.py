"""Landmark error metrics: NME, scale+shift alignment, yaw bins, CED.

Points are image-frame ``(..., 68, 2+)`` arrays; only x and y are compared.
"""

from __future__ import annotations

import numpy as np

from ddfa.errors import InputError

__all__ = ["YAW_BINS", "box_size", "nme", "align_scale_shift", "yaw_bin", "angle_error", "ced"]

YAW_BINS = ("[0, 30]", "(30, 60]", "> 60")
"""Labels of the |yaw| bins (degrees); values beyond 90 go to the last bin."""


def _xy(points, name: str) -> np.ndarray:
    p = np.asarray(points, dtype=np.float64)
    if p.ndim < 2 or p.shape[-1] < 2:
        raise InputError(f"{name} must have shape (..., P, 2 or 3), got {p.shape}")
    return p[..., :2]


def box_size(gt: np.ndarray) -> np.ndarray:
    """``sqrt(w * h)`` of the 2D bounding box of points ``(..., P, 2+)`` -> ``(...,)`` float64."""
    g = _xy(gt, "gt")
    wh = g.max(-2) - g.min(-2)
    return np.sqrt(wh[..., 0] * wh[..., 1])


def nme(pred: np.ndarray, gt: np.ndarray, norm: np.ndarray | None = None) -> np.ndarray:
    """Normalised mean error in % ``(...,)``: the mean point-to-point 2D distance over
    ``sqrt(w * h)`` of the ground truth's box (or ``norm`` ``(...,)`` when given), x 100."""
    p, g = _xy(pred, "pred"), _xy(gt, "gt")
    if p.shape != g.shape:
        raise InputError(f"pred and gt shapes differ: {p.shape} vs {g.shape}")
    norm = box_size(g) if norm is None else np.asarray(norm, dtype=np.float64)
    if np.any(norm <= 0):
        raise InputError("ground-truth landmarks have a degenerate (zero-area) box")
    return 100.0 * np.linalg.norm(p - g, axis=-1).mean(-1) / norm


def align_scale_shift(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """The least-squares ``s * pred + t`` (scalar s, 2D shift t, no rotation) closest to ``gt``.

    pred ``(..., P, 2+)`` and gt ``(..., P, 2+)`` -> aligned x, y ``(..., P, 2)`` float64.
    """
    p, g = _xy(pred, "pred"), _xy(gt, "gt")
    if p.shape != g.shape:
        raise InputError(f"pred and gt shapes differ: {p.shape} vs {g.shape}")
    pm, gm = p.mean(-2, keepdims=True), g.mean(-2, keepdims=True)
    pc, gc = p - pm, g - gm
    s = (pc * gc).sum((-2, -1), keepdims=True) / np.maximum((pc * pc).sum((-2, -1), keepdims=True), 1e-12)
    return s * pc + gm


def yaw_bin(yaw_deg: np.ndarray) -> np.ndarray:
    """Bin index ``(N,)`` int of each yaw by ``|yaw|``: 0 for [0, 30], 1 for (30, 60], 2 above (incl. > 90)."""
    a = np.abs(np.asarray(yaw_deg, dtype=np.float64))
    if not np.all(np.isfinite(a)):
        raise InputError("yaw angles must be finite")
    return (a > 30).astype(np.int64) + (a > 60)


def angle_error(pred_deg: np.ndarray, gt_deg: np.ndarray) -> np.ndarray:
    """Absolute angle difference in degrees, wrapped to [0, 180]."""
    d = np.asarray(pred_deg, np.float64) - np.asarray(gt_deg, np.float64)
    return np.abs((d + 180.0) % 360.0 - 180.0)


def ced(errors: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    """Cumulative error distribution: the fraction of ``errors`` ``(N,)`` at or below each threshold.

    NaN or inf errors (failures, e.g. missed detections) count in the total but never below a threshold.
    """
    e = np.sort(np.nan_to_num(np.asarray(errors, np.float64), nan=np.inf))
    if e.size == 0:
        return np.zeros(len(thresholds))
    return np.searchsorted(e, thresholds, side="right") / e.size
