"""Fit the face model to 68 2D landmarks: pseudo ground truth for training.

The fitter is batched over faces (numpy, float64). Per iteration it
1. solves an affine camera by least squares and projects it to the nearest
   scaled orthographic camera (scale * two orthonormal rows),
2. moves the jaw correspondences to the silhouette under the current rotation
   (2D annotations such as 300-W mark the visible outline, not fixed vertices),
3. solves the 50 shape coefficients by ridge regression (Gaussian priors),
with robust (Huber) re-weighting of the points.

Input points are in the **vertex frame** (x right, y up, see
:mod:`ddfa.morphable.frames`); map image points with
:func:`ddfa.morphable.frames.image_to_vertex` first. The result's ``params``
then reproduce the points through ``T [S; 1]`` in that same frame.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ddfa.morphable import layout
from ddfa.morphable.model import FaceModel

# Jaw points that follow the silhouette; 6-10 (around the chin) stay fixed vertices.
CONTOUR_POINTS = np.array([0, 1, 2, 3, 4, 5, 11, 12, 13, 14, 15, 16])


@dataclass
class FitResult:
    """Landmark-fitting output for B faces.

    params: (B, 62) float32 in the input points' frame.
    landmark_ids: (B, 68) int32 vertex ids matched to each input point (jaw moved to the silhouette).
    fitted: (B, 68, 2) float32 projections of those vertices.
    error: (B,) float32 mean point-to-point error / sqrt(w*h) of the target box (a fraction; x100 for %).
    """

    params: np.ndarray
    landmark_ids: np.ndarray
    fitted: np.ndarray
    error: np.ndarray


class LandmarkFitter:
    """Batched 68-point fitting with priors, contour updating and Huber weights.

    ``sigma`` is the assumed annotation noise as a fraction of the landmark box size:
    it sets the strength of the N(0, 1) priors on the coefficients relative to the
    data term. ``exp_prior`` multiplies the prior precision of the expression part.
    """

    def __init__(self, model: FaceModel, iterations: int = 8, sigma: float = 0.02, exp_prior: float = 1.0,
                 huber: float = 2.0):
        self.model = model
        self.iterations = iterations
        self.sigma = sigma
        self.huber = huber
        K = model.basis.shape[0]
        self.basis3 = model.basis.reshape(K, -1, 3).astype(np.float64)  # (K, N, 3)
        self.mean = model.mean.astype(np.float64)
        prec = np.ones(K)
        prec[layout.N_ID:] = exp_prior
        self.prior = prec
        # candidates: drop the chin points, bound the slices so the neck is never chosen
        cand = model.contour_ids[CONTOUR_POINTS]
        normals = model.contour_normals[CONTOUR_POINTS].astype(np.float64)
        lm = self.mean[model.landmarks[CONTOUR_POINTS]]
        out = np.einsum("jcd,jd->jc", self.mean[cand] - lm[:, None], normals)
        self.cand = np.where(out < 1.5, cand, model.landmarks[CONTOUR_POINTS][:, None])
        self.normals = normals
        flat = self.cand.reshape(-1)
        self.cand_mean = self.mean[flat].reshape(-1).astype(np.float32)
        self.cand_basis = self.basis3[:, flat].reshape(K, -1).astype(np.float32)

    def _points(self, ids, a):
        """ids (B, P), a (B, K) -> model-space points (B, P, 3)."""
        return self.mean[ids] + np.einsum("bk,kbpd->bpd", a, self.basis3[:, ids], optimize=True)

    def fit(self, points: np.ndarray, weights: np.ndarray | None = None) -> FitResult:
        """points (B, 68, 2) in the vertex frame; weights (B, 68) in [0, 1] (0 = ignore, e.g. invisible)."""
        x = np.asarray(points, dtype=np.float64)
        if x.ndim != 3 or x.shape[1:] != (68, 2):
            raise ValueError(f"expected points of shape (B, 68, 2), got {x.shape}")
        if not np.all(np.isfinite(x)):
            raise ValueError("landmarks contain NaN or inf")
        B = x.shape[0]
        w0 = np.ones((B, 68)) if weights is None else np.asarray(weights, dtype=np.float64)
        span = x.max(1) - x.min(1)
        size = np.sqrt(span[:, 0] * span[:, 1])
        if np.any(size <= 0):
            raise ValueError("degenerate landmarks: zero-area bounding box")
        K = self.basis3.shape[0]
        a = np.zeros((B, K))
        ids = np.tile(self.model.landmarks, (B, 1))
        w = w0.copy()
        for it in range(self.iterations):
            S = self._points(ids, a)
            s, R, t = _similarity_camera(S, x, w)
            if it > 0:
                ids[:, CONTOUR_POINTS] = self._silhouette(a, s, R)
                S = self._points(ids, a)
            # ridge regression of the shape coefficients with the camera fixed
            P = s[:, None, None] * R[:, :2]  # (B, 2, 3)
            A = np.einsum("bij,kbpj->bpik", P, self.basis3[:, ids], optimize=True).reshape(B, 136, K)
            r = (x - np.einsum("bij,bpj->bpi", P, self.mean[ids]) - t[:, None]).reshape(B, 136)
            wr = np.repeat(w, 2, axis=1)
            lam = (self.sigma * size) ** 2
            H = np.einsum("bpk,bp,bpl->bkl", A, wr, A) + lam[:, None, None] * np.diag(self.prior)
            a = np.linalg.solve(H, np.einsum("bpk,bp,bp->bk", A, wr, r)[..., None])[..., 0]
            # Huber weights from the current residuals
            S = self._points(ids, a)
            res = np.linalg.norm(np.einsum("bij,bpj->bpi", P, S) + t[:, None] - x, axis=-1)
            c = self.huber * self.sigma * size[:, None]
            w = w0 * np.where(res <= c, 1.0, c / np.maximum(res, 1e-12))
        S = self._points(ids, a)
        s, R, t = _similarity_camera(S, x, w)
        T = np.concatenate([s[:, None, None] * R, np.concatenate([t, np.zeros((B, 1))], 1)[:, :, None]], 2)
        fitted = np.einsum("bij,bpj->bpi", T[:, :2, :3], S) + t[:, None]
        err = np.linalg.norm(fitted - x, axis=-1).mean(1) / size
        params = layout.join(T, a).astype(np.float32)
        return FitResult(params, ids.astype(np.int32), fitted.astype(np.float32), err.astype(np.float32))

    def _silhouette(self, a, s, R):
        """The candidate of each contour point lying furthest out along its rotated normal."""
        B = a.shape[0]
        V = (self.cand_mean + a.astype(np.float32) @ self.cand_basis).reshape(B, *self.cand.shape, 3)
        o = np.einsum("bij,pj->bpi", R[:, :2], self.normals)
        o /= np.linalg.norm(o, axis=-1, keepdims=True) + 1e-12
        d = np.einsum("bpi,bij->bpj", o, R[:, :2]).astype(np.float32)  # outward direction in model space
        best = np.einsum("bpcj,bpj->bpc", V, d).argmax(-1)
        return np.take_along_axis(np.broadcast_to(self.cand, (B, *self.cand.shape)), best[..., None], -1)[..., 0]


def _similarity_camera(S: np.ndarray, x: np.ndarray, w: np.ndarray):
    """Weighted scaled-orthographic camera from 3D points S (B, P, 3) to 2D x (B, P, 2).

    Solves the affine camera by least squares, then takes the nearest scale * rotation.
    Returns scale (B,), R (B, 3, 3) with det +1, t (B, 2).
    """
    B, P, _ = S.shape
    Sh = np.concatenate([S, np.ones((B, P, 1))], -1)
    G = np.einsum("bpi,bp,bpj->bij", Sh, w, Sh) + 1e-9 * np.eye(4)
    C = np.einsum("bpi,bp,bpj->bij", Sh, w, x)
    affine = np.linalg.solve(G, C).transpose(0, 2, 1)  # (B, 2, 4)
    M = affine[:, :, :3]
    u, sv, vt = np.linalg.svd(M, full_matrices=False)  # (B,2,2),(B,2),(B,2,3)
    rows = u @ vt
    r3 = np.cross(rows[:, 0], rows[:, 1])
    R = np.concatenate([rows, r3[:, None]], 1)
    scale = sv.mean(1)
    wsum = w.sum(1, keepdims=True)
    t = (np.einsum("bp,bpi->bi", w, x) - scale[:, None] * np.einsum("bp,bij,bpj->bi", w, rows, S)) / wsum
    return scale, R, t
