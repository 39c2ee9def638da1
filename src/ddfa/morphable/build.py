"""Derive the compact face model shipped in ``ddfa/assets`` from the ICT Face Model Light.

Run ``ddfa model build`` (or :func:`build_face_model`). The source is the
``ict_face_model_light.npz`` repack described in ``../shared/data/README.md``.
What is derived:

- the dense region: the ICT "full face area" (vertices 0..9408: face, ears, front
  of the neck), its quads split into triangles;
- the mean shape, centred on the centroid of the 68 landmark vertices;
- 40 identity modes (already scaled to N(0, 1) coefficients);
- a 10-d expression basis: the top-10 principal directions of the 57 ARKit shape
  displacements (uncentred, so a_exp = 0 is the rest face), scaled so that the
  coefficients of the 57 unit shapes have unit second moment; ``exp_to_arkit``
  maps coefficients back to ARKit weights (least squares, exact in the span);
- the 68 landmark vertex ids, the left/right vertex symmetry, UVs, and per-jaw-
  landmark contour candidates used by the landmark fitter under yaw.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import numpy as np

FULL_FACE_AREA = 9409
NARROW_FACE_AREA = 6706
N_ID, N_EXP = 40, 10

# iBUG 68-point mirror permutation: index i of a mirrored face is point FLIP_68[i].
FLIP_68 = np.array(
    list(range(16, -1, -1))
    + list(range(26, 16, -1))
    + [27, 28, 29, 30, 35, 34, 33, 32, 31]
    + [45, 44, 43, 42, 47, 46, 39, 38, 37, 36, 41, 40]
    + [54, 53, 52, 51, 50, 49, 48, 59, 58, 57, 56, 55]
    + [64, 63, 62, 61, 60, 67, 66, 65],
    dtype=np.int32,
)

JAW = np.arange(17)


def triangulate(quads: np.ndarray) -> np.ndarray:
    """Quads (F, 4) with -1 as the 4th id of triangles -> triangles (F', 3) int32."""
    quads = np.asarray(quads)
    tri1 = quads[:, [0, 1, 2]]
    is_quad = quads[:, 3] >= 0
    tri2 = quads[is_quad][:, [0, 2, 3]]
    return np.concatenate([tri1, tri2]).astype(np.int32)


def expression_pca(shapes: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Expression shapes (E, N, 3) -> basis (k, N, 3), explained energy (k,), exp_to_shape (E, k).

    With ``D = shapes.reshape(E, -1).T = U S V^T`` the basis is ``U_k S_k / sqrt(E)``; a
    coefficient vector c reconstructs ``D w`` with ``w = V_k c / sqrt(E)``.
    """
    E = shapes.shape[0]
    D = shapes.reshape(E, -1).T.astype(np.float64)
    u, s, vt = np.linalg.svd(D, full_matrices=False)
    basis = (u[:, :k] * s[:k] / np.sqrt(E)).T.reshape(k, *shapes.shape[1:])
    energy = (s[:k] ** 2).cumsum() / (s**2).sum()
    return basis.astype(np.float32), energy, (vt[:k].T / np.sqrt(E)).astype(np.float32)


def vertex_symmetry(vertices: np.ndarray) -> np.ndarray:
    """Vertices (N, 3), symmetric about x = 0 -> (N,) id of each vertex's mirror twin."""
    from ddfa._optional import require

    cKDTree = require("scipy.spatial", "ddfa model build").cKDTree

    mirrored = vertices * np.array([-1.0, 1.0, 1.0])
    return cKDTree(vertices).query(mirrored)[1].astype(np.int32)


def contour_candidates(mean: np.ndarray, landmarks: np.ndarray, region: int, width: float = 0.3,
                       reach: float = 7.0) -> tuple[np.ndarray, np.ndarray]:
    """For each jaw landmark, the slice of mesh vertices across the jaw at that point.

    Returns ``ids`` (17, K) int32 (rows padded by repeating the landmark vertex) and
    ``normals`` (17, 3) float32: each jaw point's outward direction in the frontal
    image plane (z = 0). Under a rotation R, the silhouette point of landmark j is the
    candidate that lies furthest along ``R @ normals[j]`` in the image.
    """
    jaw = mean[landmarks[JAW]]
    tangent = np.gradient(jaw, axis=0)
    tangent[:, 2] = 0.0
    tangent /= np.linalg.norm(tangent, axis=1, keepdims=True)
    centre = mean[landmarks].mean(0)
    normals = np.stack([tangent[:, 1], -tangent[:, 0], np.zeros(17)], 1)
    flip = np.einsum("ij,ij->i", normals[:, :2], (jaw - centre)[:, :2]) < 0
    normals[flip] *= -1
    pts = mean[:region]
    rows = []
    for j in JAW:
        # the plane through the landmark spanned by its outward normal and the z axis
        d_plane = np.abs((pts - jaw[j]) @ tangent[j])
        near = (d_plane < width) & (np.linalg.norm(pts - jaw[j], axis=1) < reach)
        # the face-side half of the slice: not further inwards than the landmark itself minus reach/2
        rows.append(np.flatnonzero(near))
    K = max(len(r) for r in rows)
    ids = np.stack([np.concatenate([r, np.full(K - len(r), landmarks[j])]) for j, r in zip(JAW, rows)])
    return ids.astype(np.int32), normals.astype(np.float32)


def build_face_model(source: str | os.PathLike, out: str | os.PathLike, region: int = FULL_FACE_AREA,
                     calibrate_with: str | os.PathLike | None = None, rounds: int = 2) -> Path:
    """Build the derived model file from the ICT source folder; returns the written path.

    With ``calibrate_with`` (a 300-W folder), the 68 landmark vertices are re-chosen to
    match its annotations (:func:`ddfa.morphable.calibrate.calibrate_landmarks`), in
    ``rounds`` rounds of fit-then-choose; the ICT originals are kept as ``landmarks_ict``.
    """
    source = Path(source)
    npz_path = source / "ict_face_model_light.npz"
    if not npz_path.is_file():
        raise FileNotFoundError(f"ICT Face Model not found: {npz_path}")
    ict = np.load(npz_path)
    landmarks = ict["landmarks_68"].astype(np.int32)
    if landmarks.max() >= region:
        raise ValueError("the chosen region must contain every landmark vertex")

    neutral = ict["neutral"][:region].astype(np.float64)
    origin = neutral[landmarks].mean(0)
    origin[0] = 0.0  # keep the symmetry plane at x = 0
    mean = neutral - origin

    id_basis = ict["identity_modes"][:N_ID, :region]
    names = ict["expression_names"]
    exp_all = ict["expression_modes"][:, :region]
    moving = np.linalg.norm(exp_all.reshape(len(names), -1), axis=1) > 1e-6  # drops the pupil-only shapes
    exp_basis, energy, exp_to_arkit = expression_pca(exp_all[moving], N_EXP)

    faces = ict["faces"]
    keep = faces.max(1) < region
    triangles = triangulate(faces[keep])
    tri_uv = triangulate(np.where(faces[keep] >= 0, ict["faces_uv"][keep], -1))

    cand, normals = contour_candidates(mean, landmarks, NARROW_FACE_AREA)
    basis = np.concatenate([id_basis, exp_basis]).reshape(N_ID + N_EXP, -1)

    arrays = dict(
        mean=mean.astype(np.float32),
        basis=basis.astype(np.float32),
        triangles=triangles,
        landmarks=landmarks,
        landmark_flip=FLIP_68,
        symmetry=vertex_symmetry(mean),
        uv=ict["uv"].astype(np.float32),
        triangle_uv=tri_uv.astype(np.int32),
        contour_ids=cand,
        contour_normals=normals,
        exp_to_arkit=exp_to_arkit,
        arkit_names=np.asarray(names[moving]),
        exp_energy=energy.astype(np.float32),
        landmarks_ict=landmarks,
        meta=np.asarray(json.dumps({
            "source": "ICT Face Model Light (USC ICT, MIT licence)",
            "region": f"full face area, vertices [0, {region - 1}]",
            "units": "centimetres",
            "origin_shift_cm": origin.round(5).tolist(),
            "n_id": N_ID,
            "n_exp": N_EXP,
            "expression_basis": "uncentred PCA of the ARKit shape displacements",
        })),
    )
    if calibrate_with is not None:
        arrays["landmarks"] = _calibrated_landmarks(arrays, calibrate_with, rounds)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=out.parent, suffix=".npz", delete=False) as tmp:
        np.savez_compressed(tmp, **arrays)
    os.replace(tmp.name, out)
    licence = source / "LICENSE"
    if licence.is_file():
        (out.parent / "LICENSE_ICT_FACE_MODEL.txt").write_text(
            "The face model in face_model.npz is derived from the ICT Face Model Light\n"
            "(https://github.com/ICT-VGL/ICT-FaceKit), used under its MIT licence:\n\n" + licence.read_text())
    return out


def _calibrated_landmarks(arrays: dict, w300_root, rounds: int) -> np.ndarray:
    from ddfa.data.readers import read_300w
    from ddfa.morphable.calibrate import calibrate_to_annotations
    from ddfa.morphable.model import FaceModel

    pts = np.stack([item.points for item in read_300w(w300_root)])
    return calibrate_to_annotations(FaceModel.from_arrays(arrays), pts, rounds)
