"""Horizontal flips of a face image and its labels.

Mirroring ``x -> W - 1 - x`` (image, crop and vertex frames share the x axis) maps
the face onto its mirror image, so the labels become:

- 68 points: mirrored, then reordered with ``model.landmark_flip``;
- pose ``T = [M | t]``: ``[D M D | D t + (W - 1, 0, 0)]`` with ``D = diag(-1, 1, 1)``;
- shape coefficients: ``a' = a @ C``, where the 50 x 50 matrix ``C`` best maps the
  basis onto its mirror image, ``D B[:, symmetry] ~ C B`` (least squares, once per
  model). The model is only nearly symmetric, so the result is approximate;
  :func:`shape_mirror` reports the residual.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from ddfa.errors import InputError
from ddfa.morphable import FaceModel, layout

__all__ = ["ShapeMirror", "shape_mirror", "flip_image", "flip_points", "flip_params", "flip_sample"]

_D = np.diag([-1.0, 1.0, 1.0])


@dataclass(frozen=True)
class ShapeMirror:
    """The coefficient map of a model's mirror symmetry.

    matrix: (K, K) float64 ``C`` with ``mirror(a @ B) ~ (a @ C) @ B``.
    residual: relative RMS error ``||C B - B_mirror|| / ||B_mirror||`` of the basis.
    mean_residual: largest distance (model units, cm) between the mean shape and its mirror image.
    """

    matrix: np.ndarray
    residual: float
    mean_residual: float


@lru_cache(maxsize=4)
def shape_mirror(model: FaceModel) -> ShapeMirror:
    """Least-squares coefficient map of the mirror symmetry of ``model`` (cached per model)."""
    K = model.basis.shape[0]
    B = model.basis.reshape(K, -1, 3).astype(np.float64)
    Bm = (B[:, model.symmetry] @ _D).reshape(K, -1)
    B = B.reshape(K, -1)
    C = np.linalg.solve(B @ B.T, B @ Bm.T).T  # argmin ||C B - Bm||
    residual = float(np.linalg.norm(C @ B - Bm) / np.linalg.norm(Bm))
    mean = model.mean.astype(np.float64)
    mean_residual = float(np.linalg.norm(mean[model.symmetry] @ _D - mean, axis=1).max())
    return ShapeMirror(C, residual, mean_residual)


def flip_image(image: np.ndarray) -> np.ndarray:
    """(H, W, C) image -> its left-right mirror image (a contiguous copy)."""
    image = np.asarray(image)
    if image.ndim < 2:
        raise InputError(f"image must have at least 2 dimensions, got shape {image.shape}")
    return np.ascontiguousarray(image[:, ::-1])


def flip_points(points: np.ndarray, width: int, model: FaceModel | None = None) -> np.ndarray:
    """68 points (..., 68, 2|3) in an image (or crop / vertex frame) of ``width`` pixels ->
    the mirrored points, reordered so that each id keeps its meaning (float32)."""
    model = model or _default_model()
    pts = np.array(points, dtype=np.float32)
    if pts.ndim < 2 or pts.shape[-2:-1] != (len(model.landmark_flip),) or pts.shape[-1] not in (2, 3):
        raise InputError(f"points must have shape (..., {len(model.landmark_flip)}, 2 or 3), got {pts.shape}")
    pts[..., 0] = (width - 1) - pts[..., 0]
    return np.ascontiguousarray(pts[..., model.landmark_flip, :])


def flip_params(params: np.ndarray, width: int, model: FaceModel | None = None) -> np.ndarray:
    """Parameters (..., 62) of a frame ``width`` pixels wide (a crop's vertex frame, or the
    image frame) -> the parameters of the mirrored face in the mirrored frame (float32)."""
    model = model or _default_model()
    params = np.asarray(params, dtype=np.float64)
    T = layout.pose_matrix(params)
    M = _D @ T[..., :3] @ _D
    t = T[..., 3:] * np.array([[-1.0], [1.0], [1.0]])
    t[..., 0, 0] += width - 1
    a = layout.shape_coeffs(params) @ shape_mirror(model).matrix
    return layout.join(np.concatenate([M, t], -1), a).astype(np.float32)


def flip_sample(image: np.ndarray, params: np.ndarray, points: np.ndarray, model: FaceModel | None = None):
    """Flip an (H, W, 3) image with its vertex-frame params (62,) and 68 points (68, 2|3)
    in its pixels. Returns ``(image, params, points)``."""
    width = np.asarray(image).shape[1]
    return flip_image(image), flip_params(params, width, model), flip_points(points, width, model)


@lru_cache(maxsize=1)
def _default_model() -> FaceModel:
    return FaceModel.load()
