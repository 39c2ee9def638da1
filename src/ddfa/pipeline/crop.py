"""Crop policies: where the 120 x 120 network input comes from.

Two policies, both ending in the training rule of
:func:`ddfa.morphable.frames.roi_from_landmarks` (a square centred on the
68-landmark box, side 1.5 x its longer edge):

- **from landmarks** (tracking, ground truth): the rule applied to the points;
- **from a detector box**: the 68-landmark box is first estimated from the face
  box with the calibration below, then the rule is applied to that estimate.

Calibration (``BOX_CALIBRATION``), measured with the default
:class:`~ddfa.detect.RetinaFaceDetector` on all 1,537 faces of the 300-W
training crops (``../shared/data/300w``; each detection matched to the annotated
face whose landmark-box centre it contains, closest centre first; none missed),
as medians over faces:

- landmark-box centre = box centre + (-0.002 w, 0.128 h)  (std 0.026 w, 0.025 h; with the annotations in
  ddfa's pixel frame, ``ddfa.data.readers.PTS_ORIGIN``: read raw, they gave 0.005 w, 0.134 h);
- landmark-box longer edge = 0.917 sqrt(w h)  (relative std 5 %; sqrt(w h)
  spreads less than w, h or max(w, h) over poses).

``benchmarks/calibrate_box_crop.py`` re-measures the numbers on every face and
``tests/test_pipeline.py`` re-checks them on a subset.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from ddfa.detect import Detection
from ddfa.errors import InputError
from ddfa.morphable.frames import CROP_SIZE, Roi, roi_from_landmarks

__all__ = [
    "BOX_CALIBRATION",
    "BoxCalibration",
    "box_from_landmarks",
    "box_inside_share",
    "check_boxes",
    "crop_faces",
    "eye_turns",
    "unturn_params",
    "fit_box_calibration",
    "landmark_box_from_box",
    "match_detection",
    "roi_from_box",
]


@dataclass(frozen=True)
class BoxCalibration:
    """Detector box (x0, y0, x1, y1; width w, height h) -> estimated 68-landmark box.

    Attributes:
        dx, dy: landmark-box centre minus box centre, in units of w and h.
        side: landmark-box longer edge / sqrt(w h).
    """

    dx: float
    dy: float
    side: float


BOX_CALIBRATION = BoxCalibration(dx=-0.002, dy=0.128, side=0.917)


def check_boxes(boxes) -> np.ndarray:
    """Validate face boxes; returns float64 ``(B, 4)`` x0, y0, x1, y1.

    Raises:
        InputError: wrong shape, non-finite values or a box narrower than 2 px.
    """
    try:
        arr = np.array(boxes, dtype=np.float64)
    except (TypeError, ValueError):
        raise InputError(f"boxes must be numbers of shape (B, 4) as x0, y0, x1, y1, got {boxes!r}") from None
    if arr.size == 0:
        return np.zeros((0, 4))
    if arr.shape == (4,):
        arr = arr[None]
    if arr.ndim != 2 or arr.shape[1] != 4:
        raise InputError(f"boxes must have shape (B, 4) as x0, y0, x1, y1, got {arr.shape}")
    if not np.isfinite(arr).all() or np.any(arr[:, 2:] - arr[:, :2] < 2):
        raise InputError("boxes must be finite x0, y0, x1, y1 with x1 >= x0 + 2 and y1 >= y0 + 2 (pixels)")
    return arr


def box_inside_share(boxes: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Share of each box's area inside an image of ``shape`` (H, W, ...) -> float32 ``(B,)`` in [0, 1].

    Pixel centres run from 0 to W - 1, so the image spans [-0.5, W - 0.5] x [-0.5, H - 0.5].

    Raises:
        InputError: a box lies entirely outside the image.
    """
    boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
    h, w = shape[:2]
    lo = np.maximum(boxes[:, :2], -0.5)
    hi = np.minimum(boxes[:, 2:], [w - 0.5, h - 0.5])
    inside = np.prod(np.clip(hi - lo, 0, None), axis=1)
    share = inside / np.prod(boxes[:, 2:] - boxes[:, :2], axis=1)
    outside = np.flatnonzero(share <= 0)
    if len(outside):
        raise InputError(f"face box {outside[0]} {np.round(boxes[outside[0]], 1).tolist()} lies entirely outside "
                         f"the {w}x{h} image")
    return share.astype(np.float32)


def box_from_landmarks(points: np.ndarray, calibration: BoxCalibration = BOX_CALIBRATION) -> np.ndarray:
    """A detector-convention face box ``(4,)`` float32 from 68 landmarks ``(68, 2+)``: the inverse of the
    calibration, with the box's aspect ratio taken from the landmark box. As steady as the landmarks
    (the tracker draws these instead of the detector's boxes, whose size jumps between detections)."""
    pts = np.asarray(points, np.float64)[:, :2]
    lo, hi = pts.min(0), pts.max(0)
    lw, lh = np.maximum(hi - lo, 1e-6)
    root = max(lw, lh) / calibration.side  # sqrt(w h)
    w, h = root * np.sqrt(lw / lh), root * np.sqrt(lh / lw)
    cx = 0.5 * (lo[0] + hi[0]) - calibration.dx * w
    cy = 0.5 * (lo[1] + hi[1]) - calibration.dy * h
    return np.array([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], np.float32)


def landmark_box_from_box(box, calibration: BoxCalibration = BOX_CALIBRATION) -> np.ndarray:
    """Estimated square 68-landmark box ``(4,)`` float64 of one detector box ``(4,)``."""
    x0, y0, x1, y1 = (float(v) for v in box)
    w, h = x1 - x0, y1 - y0
    cx = 0.5 * (x0 + x1) + calibration.dx * w
    cy = 0.5 * (y0 + y1) + calibration.dy * h
    half = 0.5 * calibration.side * np.sqrt(w * h)
    return np.array([cx - half, cy - half, cx + half, cy + half])


def roi_from_box(box, calibration: BoxCalibration = BOX_CALIBRATION) -> Roi:
    """The crop of a detector box: the landmark rule applied to its estimated landmark box."""
    return roi_from_landmarks(landmark_box_from_box(box, calibration).reshape(2, 2))


def crop_faces(image: np.ndarray, rois: Sequence[Roi], size: int = CROP_SIZE,
               turns: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Resample each ROI of an RGB uint8 image to ``size x size``.

    Pixels outside the image repeat the edge (``BORDER_REPLICATE``), as the
    training crops do. ``turns``: ``(B,)`` degrees, counter-clockwise on screen, to rotate
    each crop by about its centre (see :func:`eye_turns`); None or 0 is the plain crop.

    Returns:
        crops: uint8 ``(B, size, size, 3)``.
        affines: float64 ``(B, 2, 3)`` image -> crop pixel maps.
    """
    affines = np.stack([roi.affine(size) for roi in rois]) if rois else np.zeros((0, 2, 3))
    if turns is not None and len(rois):
        from ddfa.data.augment import compose_affines, similarity_matrix

        c = (size - 1) / 2
        affines = compose_affines(similarity_matrix(1.0, np.asarray(turns, np.float64), 0.0, 0.0, (c, c)), affines)
    crops = np.empty((len(rois), size, size, 3), np.uint8)
    for crop, affine in zip(crops, affines):
        cv2.warpAffine(image, affine, (size, size), dst=crop, flags=cv2.INTER_LINEAR,
                       borderMode=cv2.BORDER_REPLICATE)
    return crops, affines


def eye_turns(detections: Sequence[Detection], min_angle: float = 5.0, min_span: float = 0.25) -> np.ndarray | None:
    """``(B,)`` float64 degrees that turn each detected face upright by its eye line (the
    detector's 5 points); 0 where the line is within ``min_angle`` of level or the eyes are
    closer than ``min_span`` x the box width (profile views, where the eye line misleads);
    None when no face is turned (or a detection has no points).

    Turning the crop before the network does at once what the upright pass
    (:class:`~ddfa.pipeline.regressor.UprightRegressor`) would do with a second network pass
    (AFLW2000-3D through the pipeline: ``benchmarks/aflw_pipeline.py``).
    """
    if not detections or any(d.landmarks5 is None for d in detections):
        return None
    eyes = np.array([d.landmarks5[:2] for d in detections], np.float64)  # (B, 2, 2): image-left eye first
    width = np.array([max(d.width, 1e-6) for d in detections])
    d = eyes[:, 1] - eyes[:, 0]
    angle = np.degrees(np.arctan2(d[:, 1], d[:, 0]))  # clockwise on screen (y down) = the turn back
    angle[(np.abs(angle) <= min_angle) | (np.hypot(d[:, 0], d[:, 1]) < min_span * width)] = 0.0
    return angle if angle.any() else None


def unturn_params(params: np.ndarray, turns: np.ndarray, size: int = CROP_SIZE) -> np.ndarray:
    """``(B, 62)`` params regressed on crops turned by ``turns`` (:func:`crop_faces`) -> the params of
    the plain crops (exact: :func:`ddfa.data.augment.warp_params`); float32."""
    from ddfa.data.augment import similarity_matrix, warp_params

    c = (size - 1) / 2
    out = np.array(params, np.float32)
    turned = np.flatnonzero(np.asarray(turns) != 0)
    if turned.size:
        back = similarity_matrix(1.0, -np.asarray(turns, np.float64)[turned], 0.0, 0.0, (c, c))
        out[turned] = warp_params(out[turned], back, height=size)
    return out


def match_detection(detections: Sequence[Detection], points: np.ndarray) -> Detection | None:
    """The detection whose box contains the centre of the landmarks' box (closest centre first), or None."""
    pts = np.asarray(points, np.float64)[:, :2]
    centre = 0.5 * (pts.min(0) + pts.max(0))
    best, best_dist = None, np.inf
    for det in detections:
        b = det.box.astype(np.float64)
        if b[0] < centre[0] < b[2] and b[1] < centre[1] < b[3]:
            dist = float(np.hypot(*(0.5 * (b[:2] + b[2:]) - centre)))
            if dist < best_dist:
                best, best_dist = det, dist
    return best


def fit_box_calibration(boxes: np.ndarray, landmarks: np.ndarray) -> BoxCalibration:
    """Medians of the box -> landmark-box mapping over M faces.

    Args:
        boxes: ``(M, 4)`` detector boxes.
        landmarks: ``(M, 68, 2)`` annotated points of the same faces.
    """
    b = np.asarray(boxes, np.float64)
    p = np.asarray(landmarks, np.float64)[..., :2]
    lo, hi = p.min(1), p.max(1)
    w, h = b[:, 2] - b[:, 0], b[:, 3] - b[:, 1]
    offset = 0.5 * (lo + hi) - 0.5 * (b[:, :2] + b[:, 2:])
    return BoxCalibration(
        dx=float(np.median(offset[:, 0] / w)),
        dy=float(np.median(offset[:, 1] / h)),
        side=float(np.median((hi - lo).max(1) / np.sqrt(w * h))),
    )
