"""Per-face results: the :class:`Face` and :class:`Pose` dataclasses and their batched construction.

All geometry is in the **image frame** of the input image: x = column, y = row
(down), in pixels, origin at the centre of the top-left pixel; z = depth in the
same pixel units, larger = closer to the camera. ``params`` stay in the vertex
frame of the face's crop (``roi``), the frame the network predicts in.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

from ddfa.morphable import FaceModel, layout
from ddfa.morphable.frames import CROP_SIZE, Roi, vertex_to_image
from ddfa.morphable.pose import decompose, euler_from_rotation

__all__ = ["Face", "Pose", "build_faces", "faces_to_arrays", "image_pose_matrix", "crop_pose_matrix"]


@dataclass(frozen=True, eq=False, repr=False)
class Pose:
    """Head pose of one face.

    Attributes:
        yaw, pitch, roll: degrees, ``R = Rx(pitch) Ry(yaw) Rz(roll)``; yaw > 0 turns
            the nose to the image right, pitch > 0 tilts it down, roll > 0 is
            counter-clockwise in the image (see :mod:`ddfa.morphable.pose`).
        rotation: float64 ``(3, 3)`` model axes -> camera axes (x right, y up, z
            towards the viewer).
        scale: image pixels per model centimetre.
        matrix: float64 ``(3, 4)`` model space (cm) -> image frame:
            ``vertex_image = matrix @ [X; 1]`` (its 3x3 block includes the y flip
            of the image frame, so its determinant is negative).
    """

    yaw: float
    pitch: float
    roll: float
    rotation: np.ndarray
    scale: float
    matrix: np.ndarray

    @property
    def angles(self) -> np.ndarray:
        """float64 ``(3,)`` (yaw, pitch, roll) in degrees."""
        return np.array([self.yaw, self.pitch, self.roll])

    def __repr__(self) -> str:
        return f"Pose(yaw={self.yaw:.1f}, pitch={self.pitch:.1f}, roll={self.roll:.1f}, scale={self.scale:.3g})"


@dataclass(frozen=True, eq=False, repr=False)
class Face:
    """One aligned face.

    Attributes:
        box: float32 ``(4,)`` face box x0, y0, x1, y1 (detector convention).
        score: face confidence in [0, 1] (detector score; for tracked faces the
            score of the check that the face is still there).
        roi: the square crop the network saw.
        params: float32 ``(62,)`` 3DMM parameters in the crop's vertex frame.
        landmarks_3d: float32 ``(68, 3)`` iBUG-68 landmarks, image frame.
        pose: the head :class:`Pose`.
        expression: ARKit blendshape name -> reading in [0, 1] (0 rest) of the fitted expression,
            computed on first access (a small bounded least-squares solve per face).
        track_id: identity across video frames (None for still images).
        model: the face model that decodes ``params``.

    ``vertices`` (dense, ``(N, 3)``) is computed on first access (or up front
    with ``FaceAligner.align(..., dense=True)``); sparse results never build it.
    ``expression`` is also computed on first access.
    """

    box: np.ndarray
    score: float
    roi: Roi
    params: np.ndarray
    landmarks_3d: np.ndarray
    pose: Pose
    model: FaceModel = field(repr=False)
    track_id: int | None = None

    def __repr__(self) -> str:
        box = ", ".join(f"{v:.0f}" for v in self.box)
        track = "" if self.track_id is None else f"track_id={self.track_id}, "
        return f"Face({track}box=[{box}], score={self.score:.2f}, {self.pose!r})"

    @property
    def landmarks(self) -> np.ndarray:
        """float32 ``(68, 2)`` 2D landmarks (x, y) in image pixels."""
        return self.landmarks_3d[:, :2]

    @property
    def affine(self) -> np.ndarray:
        """float64 ``(2, 3)`` image -> crop pixel map of ``roi``."""
        return self.roi.affine(CROP_SIZE)

    @cached_property
    def expression(self) -> dict[str, float]:
        """ARKit name -> float reading in [0, 1] (:meth:`ddfa.morphable.FaceModel.expression_weights`)."""
        weights = self.model.expression_weights(layout.exp_coeffs(self.params[None]))
        return {name: float(w[0]) for name, w in weights.items()}

    @cached_property
    def vertices(self) -> np.ndarray:
        """float32 ``(N, 3)`` dense vertices in the image frame."""
        return vertex_to_image(self.model.vertices(self.params[None], dense=True), self.affine[None])[0]

    @property
    def triangles(self) -> np.ndarray:
        """int32 ``(F, 3)`` vertex ids of the dense mesh."""
        return self.model.triangles

    def to_dict(self) -> dict:
        """JSON-ready dict of every field except the dense mesh (lists of floats)."""
        return {
            "track_id": self.track_id,
            "box": _rounded(self.box),
            "score": round(float(self.score), 5),
            "roi": {"cx": round(self.roi.cx, 3), "cy": round(self.roi.cy, 3), "side": round(self.roi.side, 3)},
            "landmarks_3d": _rounded(self.landmarks_3d),
            "pose": {
                "yaw": round(self.pose.yaw, 3), "pitch": round(self.pose.pitch, 3), "roll": round(self.pose.roll, 3),
                "rotation": _rounded(self.pose.rotation, 6), "scale": round(self.pose.scale, 5),
                "matrix": _rounded(self.pose.matrix, 5),
            },
            "expression": {k: round(float(v), 4) for k, v in self.expression.items()},
            "params": _rounded(self.params, 6),
        }


    def to_arrays(self, dense: bool = False) -> dict[str, np.ndarray]:
        """This face as numpy arrays: the keys of :func:`faces_to_arrays` without its leading face axis."""
        arrays = faces_to_arrays([self], dense=dense)
        return {k: v if k in ("expression_names", "triangles") else v[0] for k, v in arrays.items()}


def _rounded(a: np.ndarray, decimals: int = 3) -> list:
    return np.round(np.asarray(a, np.float64), decimals).tolist()


def _crop_to_image(affines: np.ndarray, size: int = CROP_SIZE) -> tuple[np.ndarray, np.ndarray]:
    """(B, 2, 3) crop affines -> diagonal D (B, 3) and offset d (B, 3) with image = D * vertex + d."""
    A = np.asarray(affines, np.float64)
    k = A[:, 0, 0]
    D = np.stack([1 / k, -1 / k, 1 / k], 1)
    d = np.stack([-A[:, 0, 2] / k, (size - 1 - A[:, 1, 2]) / k, np.zeros_like(k)], 1)
    return D, d


def image_pose_matrix(params: np.ndarray, affines: np.ndarray) -> np.ndarray:
    """Crop vertex-frame params (B, 62) + crop affines (B, 2, 3) -> image-frame pose matrices (B, 3, 4) float64."""
    return _image_pose_matrix(layout.pose_matrix(np.asarray(params, np.float64)), affines)


def _image_pose_matrix(T: np.ndarray, affines: np.ndarray) -> np.ndarray:
    D, d = _crop_to_image(affines)
    M = D[:, :, None] * T
    M[:, :, 3] += d
    return M


def crop_pose_matrix(matrices: np.ndarray, affines: np.ndarray) -> np.ndarray:
    """Inverse of :func:`image_pose_matrix`: image-frame (B, 3, 4) -> crop vertex frame (B, 3, 4)."""
    D, d = _crop_to_image(affines)
    M = np.array(matrices, np.float64)
    M[:, :, 3] -= d
    return M / D[:, :, None]


def build_faces(
    model: FaceModel,
    params: np.ndarray,
    rois: list[Roi],
    boxes: np.ndarray,
    scores: np.ndarray,
    track_ids: list[int] | None = None,
    dense: bool = False,
) -> list[Face]:
    """Decode a batch of parameters into :class:`Face` objects (one batched pass per quantity).

    Args:
        params: float32 ``(B, 62)`` in the vertex frames of ``rois``.
        boxes: ``(B, 4)``; scores ``(B,)``.
        dense: also reconstruct the dense vertices now, in one batch.
    """
    params = np.asarray(params, np.float32)
    if not len(params):
        return []
    affines = np.stack([roi.affine(CROP_SIZE) for roi in rois])
    landmarks = vertex_to_image(model.vertices(params, dense=False), affines)
    T = layout.pose_matrix(params.astype(np.float64))
    scale, R, _ = decompose(T)
    euler = euler_from_rotation(R).tolist()
    matrices = _image_pose_matrix(T, affines)
    scales = (scale / affines[:, 0, 0]).tolist()  # image pixels per model unit
    verts = vertex_to_image(model.vertices(params, dense=True), affines) if dense else None
    ids = track_ids if track_ids is not None else [None] * len(params)
    boxes = np.asarray(boxes, np.float32)
    scores = np.asarray(scores, np.float64).tolist()
    faces = []
    for i in range(len(params)):
        pose = Pose(*euler[i], R[i], scales[i], matrices[i])
        face = Face(box=boxes[i], score=scores[i], roi=rois[i], params=params[i], landmarks_3d=landmarks[i],
                    pose=pose, model=model, track_id=ids[i])
        if verts is not None:
            face.__dict__["vertices"] = verts[i]  # pre-fill the cached_property
        faces.append(face)
    return faces


def faces_to_arrays(faces: list[Face], dense: bool = True) -> dict[str, np.ndarray]:
    """Stack every field of ``faces`` into arrays (for ``.npz``); M = number of faces.

    Keys: ``box`` (M, 4), ``score`` (M,), ``track_id`` (M,) int64 (-1 = none),
    ``roi`` (M, 3) cx, cy, side, ``params`` (M, 62), ``landmarks_3d`` (M, 68, 3),
    ``pose_angles`` (M, 3) yaw, pitch, roll, ``pose_rotation`` (M, 3, 3),
    ``pose_scale`` (M,), ``pose_matrix`` (M, 3, 4), ``expression`` (M, E) with
    ``expression_names`` (E,); with ``dense``: ``vertices`` (M, N, 3) and
    ``triangles`` (F, 3).
    """
    model = faces[0].model if faces else None
    names = list(faces[0].expression) if faces else []
    out = {
        "box": np.array([f.box for f in faces], np.float32).reshape(-1, 4),
        "score": np.array([f.score for f in faces], np.float32),
        "track_id": np.array([-1 if f.track_id is None else f.track_id for f in faces], np.int64),
        "roi": np.array([[f.roi.cx, f.roi.cy, f.roi.side] for f in faces], np.float32).reshape(-1, 3),
        "params": np.array([f.params for f in faces], np.float32).reshape(-1, layout.N_PARAMS),
        "landmarks_3d": np.array([f.landmarks_3d for f in faces], np.float32).reshape(-1, 68, 3),
        "pose_angles": np.array([f.pose.angles for f in faces], np.float32).reshape(-1, 3),
        "pose_rotation": np.array([f.pose.rotation for f in faces], np.float32).reshape(-1, 3, 3),
        "pose_scale": np.array([f.pose.scale for f in faces], np.float32),
        "pose_matrix": np.array([f.pose.matrix for f in faces], np.float32).reshape(-1, 3, 4),
        "expression": np.array([[f.expression[n] for n in names] for f in faces], np.float32).reshape(
            len(faces), len(names)),
        "expression_names": np.array(names, dtype=str),
    }
    if dense and model is not None:
        out["vertices"] = np.stack([f.vertices for f in faces])
        out["triangles"] = model.triangles
    return out
