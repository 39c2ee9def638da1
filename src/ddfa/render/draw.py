"""Drawing helpers for landmarks, boxes, head-pose axes and dense point clouds.

Every function takes an RGB uint8 ``(H, W, 3)`` image and returns a new one; the
input is never modified. Coordinates are image pixels: x = column, y = row
(down), with the centre of the top-left pixel at (0, 0). Lines are anti-aliased
and drawn with sub-pixel precision.
"""

from __future__ import annotations

import cv2
import numpy as np

from ._checks import RenderError, as_color, as_fraction, as_image, as_points

__all__ = ["LANDMARK_CONTOURS", "draw_landmarks", "draw_box", "draw_pose_axes", "draw_points"]

# Standard 68-point (iBUG / Multi-PIE) polylines: (first id, last id, closed).
LANDMARK_CONTOURS: tuple[tuple[int, int, bool], ...] = (
    (0, 16, False),  # jaw
    (17, 21, False),  # right brow
    (22, 26, False),  # left brow
    (27, 30, False),  # nose bridge
    (31, 35, False),  # nostrils
    (36, 41, True),  # right eye
    (42, 47, True),  # left eye
    (48, 59, True),  # outer lips
    (60, 67, True),  # inner lips
)

_SHIFT = 4  # fractional bits of cv2's sub-pixel coordinates
_ONE = 1 << _SHIFT


def _fixed(points: np.ndarray) -> np.ndarray:
    """Pixel coordinates -> int32 cv2 fixed-point coordinates (``shift=_SHIFT``).

    Coordinates are clamped to +-1e6 pixels, far outside any image, so that
    they fit in int32.
    """
    return np.rint(np.clip(points, -1e6, 1e6) * _ONE).astype(np.int32)


def _scale(image: np.ndarray) -> int:
    """A line width / radius unit that grows with the image size."""
    return max(1, round(max(image.shape[:2]) / 400))


def _color(color) -> tuple[int, int, int]:
    return tuple(int(round(c)) for c in as_color(color))


def draw_landmarks(
    image: np.ndarray,
    pts68: np.ndarray,
    color=(0, 255, 0),
    lines: bool = True,
    radius: int | None = None,
    thickness: int | None = None,
) -> np.ndarray:
    """Draw facial landmarks as dots, optionally joined by the 68-point contours.

    Args:
        image: RGB uint8 ``(H, W, 3)``.
        pts68: ``(K, 2)`` or ``(K, 3)`` points in pixels (z is ignored); ``K`` must
            be 68 when ``lines`` is True.
        color: RGB colour in [0, 255].
        lines: join the points with the standard 68-point polylines.
        radius, thickness: dot radius and line width in pixels; default scales
            with the image size.
    """
    out = as_image(image)
    pts = as_points(pts68, "pts68", n=68 if lines else None)[:, :2]
    rgb = _color(color)
    unit = _scale(out)
    radius = unit + 1 if radius is None else int(radius)
    thickness = unit if thickness is None else int(thickness)
    if radius < 0 or thickness < 1:
        raise RenderError(f"radius must be >= 0 and thickness >= 1, got {radius}, {thickness}")
    fixed = _fixed(pts)
    if lines:
        for closed in (False, True):
            curves = [fixed[a : b + 1] for a, b, c in LANDMARK_CONTOURS if c == closed]
            cv2.polylines(out, curves, closed, rgb, thickness, cv2.LINE_AA, _SHIFT)
    for p in fixed:
        cv2.circle(out, (int(p[0]), int(p[1])), radius * _ONE, rgb, -1, cv2.LINE_AA, _SHIFT)
    return out


def draw_box(
    image: np.ndarray,
    box,
    score: float | None = None,
    label: str | None = None,
    color=(0, 255, 0),
    thickness: int | None = None,
) -> np.ndarray:
    """Draw an axis-aligned box ``(x1, y1, x2, y2)`` in pixels, with an optional caption.

    The caption ``"{label} {score:.2f}"`` (either part may be omitted) is written
    on a filled band above the box, or inside it when the box touches the top.
    """
    out = as_image(image)
    box = np.asarray(box, dtype=np.float64)
    if box.shape != (4,) or not np.isfinite(box).all() or box[2] < box[0] or box[3] < box[1]:
        raise RenderError(f"box must be finite (x1, y1, x2, y2) with x1 <= x2 and y1 <= y2, got {box.tolist()}")
    rgb = _color(color)
    thickness = _scale(out) if thickness is None else int(thickness)
    if thickness < 1:
        raise RenderError(f"thickness must be >= 1, got {thickness}")
    p1, p2 = _fixed(box[:2]), _fixed(box[2:])
    cv2.rectangle(out, (int(p1[0]), int(p1[1])), (int(p2[0]), int(p2[1])), rgb, thickness, cv2.LINE_AA, _SHIFT)

    caption = " ".join(part for part in (label, None if score is None else f"{float(score):.2f}") if part)
    if caption:
        font, font_scale = cv2.FONT_HERSHEY_SIMPLEX, 0.4 * _scale(out)
        (tw, th), baseline = cv2.getTextSize(caption, font, font_scale, 1)
        x, top = int(round(box[0])), int(round(box[1]))
        band = th + baseline + 2
        y = top - band if top - band >= 0 else top  # above the box if there is room
        cv2.rectangle(out, (x, y), (x + tw + 2, y + band), rgb, -1)
        ink = (0, 0, 0) if sum(rgb) > 382 else (255, 255, 255)
        cv2.putText(out, caption, (x + 1, y + th + 1), font, font_scale, ink, 1, cv2.LINE_AA)
    return out


def draw_pose_axes(image: np.ndarray, R: np.ndarray, centre, size: float, thickness: int | None = None) -> np.ndarray:
    """Draw the head's x, y, z axes in red, green and blue.

    Args:
        image: RGB uint8 ``(H, W, 3)``.
        R: ``(3, 3)`` rotation taking model axes to a camera frame with x right,
            y up and z towards the viewer (columns = the rotated model axes).
        centre: ``(x, y)`` pixel position of the origin.
        size: length in pixels of an axis parallel to the image plane.
        thickness: line width; default scales with the image size.

    Axes are projected orthographically and drawn far-to-near, so the axis
    pointing most towards the viewer ends on top.
    """
    out = as_image(image)
    R = np.asarray(R, dtype=np.float64)
    if R.shape != (3, 3) or not np.isfinite(R).all():
        raise RenderError(f"R must be a finite (3, 3) rotation matrix, got shape {R.shape}")
    if not np.allclose(R.T @ R, np.eye(3), atol=1e-3) or np.linalg.det(R) < 0:
        raise RenderError("R must be a rotation matrix (orthonormal, determinant +1)")
    centre = as_points(np.reshape(centre, (1, -1)), "centre", n=1, dims=(2,))[0]
    size = float(size)
    if not np.isfinite(size) or size <= 0:
        raise RenderError(f"size must be a positive number of pixels, got {size}")
    thickness = _scale(out) + 1 if thickness is None else int(thickness)
    if thickness < 1:
        raise RenderError(f"thickness must be >= 1, got {thickness}")

    tips = centre + size * np.stack([R[0], -R[1]], axis=1)  # (3 axes, xy); y up -> y down
    origin = _fixed(centre)
    colours = ((255, 0, 0), (0, 255, 0), (0, 0, 255))
    for k in np.argsort(R[2], kind="stable"):  # far to near
        tip = _fixed(tips[k])
        cv2.arrowedLine(
            out, (int(origin[0]), int(origin[1])), (int(tip[0]), int(tip[1])),
            colours[k], thickness, cv2.LINE_AA, _SHIFT, 0.15,
        )
    return out


def draw_points(image: np.ndarray, pts: np.ndarray, color=(64, 160, 255), size: int = 1, alpha: float = 1.0) -> np.ndarray:
    """Draw a dense point cloud as square dots (vectorised; no per-point loop).

    Args:
        image: RGB uint8 ``(H, W, 3)``.
        pts: ``(N, 2)`` or ``(N, 3)`` points in pixels (z is ignored); each is
            snapped to the nearest pixel. Dots outside the image are dropped.
        color: RGB colour in [0, 255].
        size: dot side in pixels (>= 1).
        alpha: opacity in [0, 1].
    """
    out = as_image(image)
    pts = as_points(pts, "pts")[:, :2]
    rgb = as_color(color)
    alpha = as_fraction(alpha, "alpha")
    if int(size) != size or size < 1:
        raise RenderError(f"size must be a positive integer, got {size}")
    offsets = np.arange(int(size)) - (int(size) - 1) // 2
    dy, dx = (g.ravel() for g in np.meshgrid(offsets, offsets, indexing="ij"))
    h, w = out.shape[:2]
    centres = np.rint(np.clip(pts, -size, max(h, w) + size)).astype(np.int64)
    xs = (centres[:, 0, None] + dx).ravel()
    ys = (centres[:, 1, None] + dy).ravel()
    inside = (xs >= 0) & (xs < w) & (ys >= 0) & (ys < h)
    ys, xs = ys[inside], xs[inside]
    out[ys, xs] = np.rint((1.0 - alpha) * out[ys, xs] + alpha * rgb).astype(np.uint8)
    return out
