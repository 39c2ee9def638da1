"""Re-choose the 68 landmark vertices to match a 2D annotation convention.

The ICT ``landmarks_68`` vertices are offset from where 300-W annotators put
the points (e.g. jaw corners inside the outline, brows high). Given faces
already fitted to annotated points, each landmark moves to the nearby vertex
whose projection best matches the annotations on average, mirror pairs moving
together so that the set stays symmetric. The jaw points are chosen on
near-frontal faces only, where the silhouette and the fixed vertex coincide.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from ddfa.morphable import layout
from ddfa.morphable.model import FaceModel
from ddfa.morphable.pose import euler_from_pose_matrix

JAW = np.arange(17)


def calibrate_landmarks(model: FaceModel, params: np.ndarray, points: np.ndarray, region: int,
                        radius: float = 1.5, frontal_yaw: float = 20.0) -> np.ndarray:
    """Fitted params (B, 62) and their target points (B, 68, 2), both in the vertex frame
    -> new landmark vertex ids (68,) int32 among vertices [0, region)."""
    B = params.shape[0]
    T = layout.pose_matrix(params).astype(np.float32)
    a = layout.shape_coeffs(params).astype(np.float32)
    K = a.shape[1]
    basis = model.basis.reshape(K, -1, 3)[:, :region].reshape(K, -1)
    S = (model.mean[:region].reshape(-1) + a @ basis).reshape(B, region, 3)
    proj = np.einsum("bij,bnj->bni", T[:, :2, :3], S) + T[:, None, :2, 3]  # (B, region, 2)
    span = points.max(1) - points.min(1)
    size = np.sqrt(span[:, 0] * span[:, 1])
    yaw = np.abs(euler_from_pose_matrix(T)[:, 0])
    frontal = yaw < frontal_yaw

    mean = model.mean[:region]
    flip, sym = model.landmark_flip, model.symmetry
    ids = model.landmarks.copy()
    for j in range(68):
        jm = flip[j]
        if jm < j:
            continue
        use = frontal if j in JAW else np.ones(B, bool)
        cand = np.flatnonzero(np.linalg.norm(mean - mean[model.landmarks[j]], axis=1) < radius)

        def cost(p, vs):
            d = proj[use][:, vs] - points[use, p][:, None]
            return (np.linalg.norm(d, axis=-1) / size[use, None]).mean(0)

        c = cost(j, cand)
        if jm != j:
            c = c + cost(jm, sym[cand])
        else:  # a point on the symmetry plane stays on it
            c = np.where(np.abs(mean[cand, 0]) < 1e-4, c, np.inf)
        best = cand[np.argmin(c)]
        ids[j], ids[jm] = best, sym[best]
    return ids.astype(np.int32)


def calibrate_to_annotations(model: FaceModel, points: np.ndarray, rounds: int = 2) -> np.ndarray:
    """Annotated faces ``(B, 68, 2)`` image pixels -> the landmark vertex ids ``(68,)`` int32 of their
    convention: ``rounds`` of fitting the faces (:class:`ddfa.morphable.fit.LandmarkFitter`, from
    ``model.landmarks``) and re-choosing the vertices (:func:`calibrate_landmarks`)."""
    from ddfa.morphable.build import NARROW_FACE_AREA
    from ddfa.morphable.fit import LandmarkFitter
    from ddfa.morphable.frames import image_to_vertex, landmark_crop_affines

    targets = image_to_vertex(points, landmark_crop_affines(points))
    for _ in range(rounds):
        fit = LandmarkFitter(model).fit(targets)
        model = dataclasses.replace(model, landmarks=calibrate_landmarks(model, fit.params, targets, NARROW_FACE_AREA))
    return model.landmarks
