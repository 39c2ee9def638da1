"""Faces at any in-plane angle: detect on the image turned by 0, 45, 90, ..., 315 degrees.

Used by ``FaceAligner(any_rotation=True)`` (``ddfa align --any-rotation``):

1. the detector runs on eight turned copies, counter-clockwise: the four quarter turns
   (``np.rot90``, exact) and the four diagonal ones (resampled onto a larger canvas of the
   detector's mean colour); detections of one face in different copies are merged by their
   centres in the input image;
2. each merged face is aligned in the copy where it is closest to upright (from the
   detector's five points: eyes above the mouth), so at most 22.5 degrees from upright, which
   the upright pass of the regressor (:class:`~ddfa.pipeline.regressor.UprightRegressor`) and
   the pre-rotation handle; the network alone is fragile past its 25 degrees of training roll
   (a small face at 45 degrees could land 10 % of its size off);
3. the result is mapped back through the copy's rotation (exact for the quarter turns, whose
   pixel centres fall on pixel centres): landmarks, box, vertices and the pose matrix in the
   input frame, so the roll is the roll in the copy plus the turn.

Costs eight detector runs instead of one; the network runs once per face as usual.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import cv2
import numpy as np

from ddfa.data.augment import invert_affines
from ddfa.detect import Detection
from ddfa.detect.retinaface import _RGB_MEAN
from ddfa.morphable.frames import CROP_SIZE, Roi, vertex_to_image
from ddfa.morphable.pose import euler_from_rotation
from ddfa.pipeline.crop import eye_turns, roi_from_box
from ddfa.pipeline.face import Face, Pose, build_faces

__all__ = ["TurnedFace", "align_any_rotation", "copy_image", "detect_any_rotation", "turn_affine", "turn_faces",
           "turn_image", "upright_turn"]

MERGE = 0.6  # detections of two copies whose centres are closer than this times the larger size are one face
EIGHTHS = 8  # turned copies: 0, 45, ..., 315 degrees
DIAGONAL_SIDE = 1024  # longer side of the diagonal copies the detector sees, at most


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


def copy_image(image: np.ndarray, eighths: int, shrunk: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The image turned counter-clockwise by ``45 * eighths`` degrees, and float64 ``(2, 3)`` copy pixel ->
    ``image`` pixel. Quarter turns are :func:`turn_image` (exact); diagonal ones, made for the
    detector only, are resampled (area-averaged, then bilinear) onto the smallest canvas that holds
    the turned image, filled with the detector's mean colour, and shrunk so that their longer side
    is at most ``DIAGONAL_SIDE`` pixels; ``shrunk``: that shrunk image, if already made (the four
    diagonal copies share it)."""
    if eighths % 2 == 0:
        return turn_image(image, eighths // 2), turn_affine(image.shape, eighths // 2)
    small_size, to_copy, copy_size, to_image = _diagonal(image.shape, eighths)
    small = shrunk if shrunk is not None else _shrink_for_diagonals(image)
    copy = cv2.warpAffine(small, to_copy, copy_size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT,
                          borderValue=_RGB_MEAN)
    return copy, to_image


def _shrink_for_diagonals(image: np.ndarray) -> np.ndarray:
    size = _diagonal(image.shape, 1)[0]
    return image if size == image.shape[1::-1] else cv2.resize(image, size, interpolation=cv2.INTER_AREA)


def _diagonal(shape: tuple[int, ...], eighths: int):
    """Geometry of a diagonal copy: the shrunk image's (w, h), its map to the copy, the copy's (w, h),
    and the copy -> image pixel map."""
    h, w = shape[:2]
    scale = min(1.0, DIAGONAL_SIDE / ((w + h) * np.sqrt(0.5)))
    sw, sh = max(1, round(w * scale)), max(1, round(h * scale))
    side = int(np.ceil((sw + sh) * np.sqrt(0.5)))  # |cos| = |sin| at odd multiples of 45 degrees
    to_copy = cv2.getRotationMatrix2D(((sw - 1) / 2, (sh - 1) / 2), 45.0 * (eighths % EIGHTHS), 1.0)
    to_copy[:, 2] += [(side - sw) / 2, (side - sh) / 2]
    to_small = invert_affines(to_copy)  # then small pixel -> image pixel, pixel centres: (x + 0.5) * w / sw - 0.5
    k = np.array([[w / sw], [h / sh]])
    to_image = np.concatenate([to_small[:, :2] * k, (to_small[:, 2:] + 0.5) * k - 0.5], 1)
    return (sw, sh), to_copy, (side, side), to_image


def _apply(A: np.ndarray, points: np.ndarray) -> np.ndarray:
    return points @ A[:, :2].T + A[:, 2]


def _map_box(A: np.ndarray, box: np.ndarray) -> np.ndarray:
    corners = _apply(A, np.asarray(box, np.float64).reshape(2, 2))
    return np.r_[corners.min(0), corners.max(0)].astype(np.float32)


def upright_turn(landmarks5: np.ndarray) -> int:
    """Eighth turns (45 degrees, counter-clockwise) that bring a face closest to upright, from its five
    detector points ``(5, 2)`` (eyes, nose, mouth corners) in the image frame: eyes above the mouth."""
    up = landmarks5[:2].mean(0) - landmarks5[3:].mean(0)  # mouth -> eyes, image frame (y down)
    roll = np.degrees(np.arctan2(-up[0], -up[1]))  # counter-clockwise on screen
    return int(np.round(-roll / 45.0)) % EIGHTHS


def detect_any_rotation(detector, image: np.ndarray) -> list[tuple[int, Detection]]:
    """Detect on the eight turned copies (:func:`copy_image`); merge the detections of one face.

    Detections of two copies are the same face when their centres, in the input frame, are closer
    than ``MERGE`` times the larger one's size (``sqrt(w h)`` in its copy, which a turn does not
    change; boxes mapped back from a diagonal copy are too large for an overlap test); this also
    absorbs the part of a face that an upside-down copy reads as a smaller face. A face is aligned
    in the copy of its best detection whose five points say it is upright in that very copy (a
    detector pass can read an upside-down face as upright in a neighbouring copy with full
    confidence, but rarely in its own); a face none of whose detections does so is dropped (a false
    face), one without points stays in the copy of its best detection. Returns one
    ``(eighths, detection)`` per face, highest score first: the detection is in the pixels of
    ``copy_image(image, eighths)``, the copy where the face is closest to upright.
    """
    copies = []  # copy pixel -> input pixel, per turn
    found = []  # (score, turn, detection, centre in the input frame, size)
    shrunk = _shrink_for_diagonals(image)
    for turn in range(EIGHTHS):
        copy, A = copy_image(image, turn, shrunk)
        copies.append(A)
        for det in detector.detect(copy):
            centre = _apply(A, (det.box[:2] + det.box[2:]) / 2.0)
            found.append((det.score, turn, det, centre, float(np.sqrt(det.width * det.height))))
    found.sort(key=lambda f: -f[0])
    groups: list[list] = []
    for f in found:  # the detector already separated the faces of one copy: merge across copies only
        for g in groups:
            if all(m[1] != f[1] for m in g) and np.linalg.norm(f[3] - g[0][3]) < MERGE * max(f[4], g[0][4]):
                g.append(f)
                break
        else:
            groups.append([f])
    out = []
    for g in groups:
        score, turn, det, centre, _ = g[0]
        # the copy: that of the best detection whose five points say the face is upright in its own
        # copy (the detector is surest of upright faces); none such: not a face
        implied = [(f, upright_turn(_apply(copies[f[1]], f[2].landmarks5.astype(np.float64))))
                   for f in g if f[2].landmarks5 is not None]
        upright = [f for f, k in implied if k == f[1]]
        if upright:
            turn = upright[0][1]
        elif implied:
            continue
        same = [f for f in g if f[1] == turn]
        if same:  # the best detection of this face made in that copy
            det = same[0][2]
        else:  # the best one's box, same size, centred on the face in that copy
            c = _apply(invert_affines(copies[turn]), centre)
            half = (det.box[2:] - det.box[:2]) / 2.0
            det = Detection(np.r_[c - half, c + half].astype(np.float32), score, None)
        out.append((turn, Detection(det.box, float(score), det.landmarks5)))
    return out


@dataclass(frozen=True, eq=False, repr=False)
class TurnedFace(Face):
    """A :class:`Face` aligned in a turned copy of the image, reported in the input image frame.

    ``box``, ``roi`` (its centre), ``landmarks_3d``, ``pose`` and ``vertices`` are in the input frame;
    ``params`` stay in the vertex frame of the crop the network saw, ``turned_roi`` in the turned copy.

    Attributes:
        turn: eighth turns (45 degrees, counter-clockwise) of the copy the face was aligned in.
        to_image: float64 ``(2, 3)`` copy pixel -> input pixel.
        turned_roi: the crop in the copy's pixels.
    """

    turn: int = 0
    to_image: np.ndarray | None = None
    turned_roi: Roi | None = None

    @property
    def affine(self) -> np.ndarray:
        """float64 ``(2, 3)`` input image -> crop pixel map (includes the turn)."""
        A = self.turned_roi.affine(CROP_SIZE)
        inv = invert_affines(self.to_image)
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


def turn_faces(faces: list[Face], to_image: np.ndarray, turn: int) -> list[Face]:
    """Map faces aligned in a turned copy back to the image: ``to_image`` float64 ``(2, 3)`` copy pixel ->
    image pixel (a rotation and a shift, :func:`copy_image`), ``turn`` the copy's eighth turns."""
    if turn % EIGHTHS == 0:
        return faces
    A = np.asarray(to_image, np.float64)
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
            model=f.model, track_id=f.track_id, turn=turn % EIGHTHS, to_image=A, turned_roi=f.roi)
        if "vertices" in f.__dict__:  # built up front (dense=True): move them too
            turned.__dict__["vertices"] = _turn_points(A, f.__dict__["vertices"])
        out.append(turned)
    return out


def align_any_rotation(aligner, image: np.ndarray, dense: bool = False) -> list[Face]:
    """Detect at any turn and align each face upright (see the module docstring); faces in score
    order, in the frame of ``image`` (RGB uint8)."""
    found = detect_any_rotation(aligner.detector, image)
    faces: list[Face | None] = [None] * len(found)
    for turn in sorted({t for t, _ in found}):
        idx = [i for i, (t, _) in enumerate(found) if t == turn]
        dets = [found[i][1] for i in idx]
        boxes = np.array([d.box for d in dets], np.float32).reshape(-1, 4)
        rois = [roi_from_box(b) for b in boxes]
        turns = eye_turns(dets) if aligner.prerotate else None  # as FaceAligner.align does upright
        scores = np.array([d.score for d in dets], np.float32)
        if turn % 2:  # diagonal: crop the input itself, turned by the copy's angle (no resampled copy)
            A = _diagonal(image.shape, turn)[3]
            k = float(np.sqrt(abs(np.linalg.det(A[:, :2]))))
            rois = [Roi(*(float(v) for v in _apply(A, np.array([r.cx, r.cy]))), r.side * k) for r in rois]
            turns = 45.0 * turn + (np.zeros(len(rois)) if turns is None else turns)  # counter-clockwise too
            params = aligner.regress(image, rois, turns)
            boxes = np.array([_map_box(A, b) for b in boxes], np.float32).reshape(-1, 4)
            aligned = build_faces(aligner.face_model, params, rois, boxes, scores, dense=dense)
        else:
            copy, to_image = copy_image(image, turn)
            aligned = turn_faces(build_faces(aligner.face_model, aligner.regress(copy, rois, turns), rois, boxes,
                                             scores, dense=dense), to_image, turn)
        for i, face in zip(idx, aligned):
            faces[i] = face
    return faces
