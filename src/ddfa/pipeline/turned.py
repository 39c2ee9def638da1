"""Faces at any in-plane angle: detect on the image turned by 0, 90, 180 and 270 degrees.

Used by ``FaceAligner(any_rotation=True)`` (``ddfa align --any-rotation``):

1. the detector runs on the four quarter-turned copies (``np.rot90``, counter-clockwise);
   all detections are mapped back to the input image and merged by NMS there;
2. each merged face is aligned in the copy where it is closest to upright (from the
   detector's five points: eyes above the mouth); the upright pass of the regressor
   (:class:`~ddfa.pipeline.regressor.UprightRegressor`) handles the remaining up to 45 degrees;
3. the result is mapped back exactly (a quarter turn moves pixel centres onto pixel centres):
   landmarks, box, vertices and the pose matrix in the input frame, so the roll is the roll
   in the copy plus the turn.

Costs four detector runs instead of one; the network runs once per face as usual.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

from ddfa.detect import Detection
from ddfa.detect.retinaface import nms
from ddfa.morphable.frames import CROP_SIZE, Roi, vertex_to_image
from ddfa.morphable.pose import euler_from_rotation
from ddfa.pipeline.crop import eye_turns, roi_from_box
from ddfa.pipeline.face import Face, Pose, build_faces

__all__ = ["TurnedFace", "align_any_rotation", "detect_any_rotation", "turn_affine", "turn_faces", "turn_image", "upright_turn"]

NMS_IOU = 0.4


def turn_image(image: np.ndarray, turn: int) -> np.ndarray:
    """The image turned by ``turn`` quarter turns counter-clockwise (``np.rot90``), C-contiguous."""
    return np.ascontiguousarray(np.rot90(image, turn % 4))


def turn_affine(shape: tuple[int, ...], turn: int) -> np.ndarray:
    """float64 ``(2, 3)``: pixel (x, y) of ``turn_image(image, turn)`` -> pixel of ``image`` (shape H, W)."""
    h, w = shape[:2]
    return {0: np.array([[1.0, 0, 0], [0, 1, 0]]),
            1: np.array([[0.0, -1, w - 1], [1, 0, 0]]),
            2: np.array([[-1.0, 0, w - 1], [0, -1, h - 1]]),
            3: np.array([[0.0, 1, 0], [-1, 0, h - 1]])}[turn % 4]


def _invert(A: np.ndarray) -> np.ndarray:
    L = A[:, :2].T  # rotations by quarter turns: the inverse is the transpose
    return np.concatenate([L, -L @ A[:, 2:]], 1)


def _apply(A: np.ndarray, points: np.ndarray) -> np.ndarray:
    return points @ A[:, :2].T + A[:, 2]


def _map_box(A: np.ndarray, box: np.ndarray) -> np.ndarray:
    corners = _apply(A, np.asarray(box, np.float64).reshape(2, 2))
    return np.r_[corners.min(0), corners.max(0)].astype(np.float32)


def upright_turn(landmarks5: np.ndarray) -> int:
    """Quarter turns (counter-clockwise) that bring a face upright, from its five detector points
    ``(5, 2)`` (eyes, nose, mouth corners) in the image frame: eyes above the mouth."""
    up = landmarks5[:2].mean(0) - landmarks5[3:].mean(0)  # mouth -> eyes, image frame (y down)
    roll = np.degrees(np.arctan2(-up[0], -up[1]))  # counter-clockwise on screen
    return int(np.round(-roll / 90.0)) % 4


def detect_any_rotation(detector, image: np.ndarray) -> list[tuple[int, Detection]]:
    """Detect on the four quarter turns; merge in the input frame by NMS.

    Returns one ``(turn, detection)`` per face, highest score first: the detection is in the
    pixels of ``turn_image(image, turn)``, the copy where the face is closest to upright.
    """
    found = []  # (score, turn, detection, box in the input frame)
    for turn in range(4):
        A = turn_affine(image.shape, turn)
        for det in detector.detect(turn_image(image, turn)):
            found.append((det.score, turn, det, _map_box(A, det.box)))
    if not found:
        return []
    found.sort(key=lambda f: -f[0])
    boxes = np.array([f[3] for f in found], np.float64)
    out = []
    for i in nms(boxes, NMS_IOU):
        score, turn, det, box = found[i]
        if det.landmarks5 is not None:
            pts = _apply(turn_affine(image.shape, turn), det.landmarks5.astype(np.float64))
            turn = upright_turn(pts)
        # the best detection made in that turn over the same face, else the merged box moved there
        A = turn_affine(image.shape, turn)
        same = [f for f in found if f[1] == turn and _iou(f[3], box) > 0.3]
        if same:
            det = max(same, key=lambda f: f[0])[2]
        else:
            det = Detection(_map_box(_invert(A), box), score, None)
        # two merged groups can settle on the same face once turned (near 45 degrees): keep the first
        if all(_iou(_map_box(A, det.box), _map_box(turn_affine(image.shape, t), d.box)) <= NMS_IOU for t, d in out):
            out.append((turn, Detection(det.box, float(score), det.landmarks5)))
    return out


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    lo, hi = np.maximum(a[:2], b[:2]), np.minimum(a[2:], b[2:])
    inter = float(np.prod(np.clip(hi - lo, 0, None)))
    return inter / (float(np.prod(a[2:] - a[:2])) + float(np.prod(b[2:] - b[:2])) - inter)


@dataclass(frozen=True, eq=False, repr=False)
class TurnedFace(Face):
    """A :class:`Face` aligned in a quarter-turned copy of the image, reported in the input image frame.

    ``box``, ``roi`` (its centre), ``landmarks_3d``, ``pose`` and ``vertices`` are in the input frame;
    ``params`` stay in the vertex frame of the crop the network saw, ``turned_roi`` in the turned copy.

    Attributes:
        turn: quarter turns (counter-clockwise) of the copy the face was aligned in.
        to_image: float64 ``(2, 3)`` copy pixel -> input pixel.
        turned_roi: the crop in the copy's pixels.
    """

    turn: int = 0
    to_image: np.ndarray | None = None
    turned_roi: Roi | None = None

    @property
    def affine(self) -> np.ndarray:
        """float64 ``(2, 3)`` input image -> crop pixel map (includes the quarter turn)."""
        A = self.turned_roi.affine(CROP_SIZE)
        inv = _invert(self.to_image)
        return np.concatenate([A[:, :2] @ inv[:, :2], A[:, :2] @ inv[:, 2:] + A[:, 2:]], 1)

    @cached_property
    def vertices(self) -> np.ndarray:
        """float32 ``(N, 3)`` dense vertices in the input image frame."""
        v = vertex_to_image(self.model.vertices(self.params[None], dense=True),
                            self.turned_roi.affine(CROP_SIZE)[None])[0]
        return _turn_points(self.to_image, v)


def _turn_points(A: np.ndarray, points: np.ndarray) -> np.ndarray:
    out = np.array(points, np.float32)
    out[..., :2] = _apply(A, np.asarray(points, np.float64)[..., :2])
    return out


def turn_faces(faces: list[Face], shape: tuple[int, ...], turn: int) -> list[Face]:
    """Map faces aligned in ``turn_image(image, turn)`` back to ``image`` (shape ``(H, W, ...)``)."""
    if turn % 4 == 0:
        return faces
    A = turn_affine(shape, turn)
    L = A[:, :2]
    F = np.diag([1.0, -1.0])
    Rz = np.eye(3)
    Rz[:2, :2] = F @ L @ F  # the same turn in camera axes (y up)
    out = []
    for f in faces:
        R = Rz @ f.pose.rotation
        M = f.pose.matrix.copy()
        M[:2] = L @ f.pose.matrix[:2]
        M[:2, 3] += A[:, 2]
        yaw, pitch, roll = euler_from_rotation(R[None])[0]
        pose = Pose(float(yaw), float(pitch), float(roll), R, f.pose.scale, M)
        centre = _apply(A, np.array([f.roi.cx, f.roi.cy]))
        turned = TurnedFace(
            box=_map_box(A, f.box), score=f.score, roi=Roi(float(centre[0]), float(centre[1]), f.roi.side),
            params=f.params, landmarks_3d=_turn_points(A, f.landmarks_3d), pose=pose,
            model=f.model, track_id=f.track_id, turn=turn % 4, to_image=A, turned_roi=f.roi)
        if "vertices" in f.__dict__:  # built up front (dense=True): move them too
            turned.__dict__["vertices"] = _turn_points(A, f.__dict__["vertices"])
        out.append(turned)
    return out


def align_any_rotation(aligner, image: np.ndarray, dense: bool = False) -> list[Face]:
    """Detect at any quarter turn and align each face upright (see the module docstring); faces in
    score order, in the frame of ``image`` (RGB uint8)."""
    found = detect_any_rotation(aligner.detector, image)
    faces: list[Face | None] = [None] * len(found)
    for turn in sorted({t for t, _ in found}):
        idx = [i for i, (t, _) in enumerate(found) if t == turn]
        dets = [found[i][1] for i in idx]
        boxes = np.array([d.box for d in dets], np.float32).reshape(-1, 4)
        rois = [roi_from_box(b) for b in boxes]
        turns = eye_turns(dets) if aligner.prerotate else None  # as FaceAligner.align does upright
        params = aligner.regress(turn_image(image, turn), rois, turns)
        aligned = build_faces(aligner.face_model, params, rois, boxes,
                              np.array([d.score for d in dets], np.float32), dense=dense)
        for i, face in zip(idx, turn_faces(aligned, image.shape, turn)):
            faces[i] = face
    return faces
