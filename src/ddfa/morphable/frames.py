"""Coordinate frames and the crop policy.

- **Image frame**: x = column, y = row (down), in pixels, origin at the centre of
  the top-left pixel (the OpenCV ``warpAffine`` convention); z is depth in the same
  pixel units, larger = closer to the camera.
- **Crop frame**: the same convention inside the ``size x size`` network input
  (``size`` = 120).
- **Vertex frame** (what ``T [S; 1]`` produces for network parameters): crop
  pixels with the y axis flipped, ``(u, size - 1 - v, z)``, so that it is
  right-handed with y up and the face looks down +z.

A crop is an axis-aligned square ROI of the image resampled to ``size`` pixels:
``crop = k * image + b`` with one scale ``k`` (no rotation).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

CROP_SIZE = 120
LANDMARK_ROI_SCALE = 1.5  # crop side / max(landmark box width, height)


@dataclass(frozen=True)
class Roi:
    """A square region of the image: centre (cx, cy) and side, in image pixels."""

    cx: float
    cy: float
    side: float

    @property
    def box(self) -> np.ndarray:
        """(4,) float32 x0, y0, x1, y1 (pixel-edge extent of the square)."""
        h = self.side / 2
        return np.array([self.cx - h, self.cy - h, self.cx + h, self.cy + h], np.float32)

    def affine(self, size: int = CROP_SIZE) -> np.ndarray:
        """(2, 3) float64 matrix mapping image pixels to crop pixels (one ROI; :func:`landmark_crop_affines`
        is the batched form)."""
        k = size / self.side
        # the square's extent [c - side/2, c + side/2] maps onto the crop's outer pixel edges
        # [-0.5, size - 0.5]; its centre c onto the crop centre (size - 1) / 2
        b = np.array([size / 2 - 0.5 - k * self.cx, size / 2 - 0.5 - k * self.cy])
        return np.array([[k, 0.0, b[0]], [0.0, k, b[1]]])


def _landmark_squares(points: np.ndarray, scale: float) -> tuple[np.ndarray, np.ndarray]:
    """Points ``(..., P, 2+)`` -> centres ``(..., 2)`` and sides ``(...)`` of the crop policy's squares."""
    pts = np.asarray(points, dtype=np.float64)[..., :2]
    lo, hi = pts.min(-2), pts.max(-2)
    side = scale * (hi - lo).max(-1)
    if not np.all(np.isfinite(side) & (side > 1)):
        raise ValueError("landmarks span less than one pixel; cannot build a crop")
    return (lo + hi) / 2, side


def roi_from_landmarks(pts: np.ndarray, scale: float = LANDMARK_ROI_SCALE) -> Roi:
    """68 (or any) 2D points (P, 2+) in image pixels -> the square ROI used for training
    and for tracking: centred on the points' bounding box, side = scale * its longer edge."""
    c, side = _landmark_squares(np.asarray(pts)[:, :2], scale)
    return Roi(float(c[0]), float(c[1]), float(side))


def landmark_crop_affines(points: np.ndarray, scale: float = LANDMARK_ROI_SCALE, size: int = CROP_SIZE) -> np.ndarray:
    """:func:`roi_from_landmarks` and :meth:`Roi.affine` for a batch: points ``(..., P, 2+)`` in image
    pixels -> ``(..., 2, 3)`` float64 image -> crop pixel maps (the same numbers, without a Python loop)."""
    centre, side = _landmark_squares(points, scale)
    k = size / side
    out = np.zeros((*side.shape, 2, 3))
    out[..., 0, 0] = out[..., 1, 1] = k
    out[..., 2] = size / 2 - 0.5 - k[..., None] * centre  # as Roi.affine
    return out


def vertex_to_image(vertices: np.ndarray, affines: np.ndarray, size: int = CROP_SIZE) -> np.ndarray:
    """Vertex-frame points (B, P, 3) and crop affines (B, 2, 3) -> image-frame points (B, P, 3) float32.

    Undoes the y flip and the crop's scale and shift; z is divided by the crop scale.
    """
    v = np.asarray(vertices, dtype=np.float32)
    A = np.asarray(affines, dtype=np.float32)
    k = A[:, 0, 0][:, None]
    out = np.empty_like(v)
    out[..., 0] = (v[..., 0] - A[:, 0, 2][:, None]) / k
    out[..., 1] = ((size - 1 - v[..., 1]) - A[:, 1, 2][:, None]) / k
    out[..., 2] = v[..., 2] / k
    return out


def image_to_vertex(points: np.ndarray, affines: np.ndarray, size: int = CROP_SIZE) -> np.ndarray:
    """Image-frame points (B, P, 2 or 3) -> vertex frame (same shape); inverse of :func:`vertex_to_image`."""
    p = np.asarray(points, dtype=np.float32)
    A = np.asarray(affines, dtype=np.float32)
    k = A[:, 0, 0][:, None]
    out = np.empty_like(p)
    out[..., 0] = k * p[..., 0] + A[:, 0, 2][:, None]
    out[..., 1] = size - 1 - (k * p[..., 1] + A[:, 1, 2][:, None])
    if p.shape[-1] > 2:
        out[..., 2] = k * p[..., 2]
    return out
