"""The linear face model ``S(a) = mean + a @ basis`` and its reconstruction.

Shapes: ``N`` = 9,409 dense vertices, ``K`` = 50 coefficients (40 identity, then
10 expression). Model space is in centimetres, x to the face's left, y up, z out
of the face (see :mod:`ddfa.morphable.pose`).

Vertices of a parameter vector ``p`` are ``V = T @ [S(a); 1]`` with ``T`` the 3x4
pose block of ``p``: the result is in whatever frame ``T`` targets. For network
outputs that is the crop frame (see :mod:`ddfa.morphable.frames`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from functools import cached_property
from importlib import resources
from pathlib import Path

import numpy as np

from ddfa.morphable import layout

ASSET = "face_model.npz"


@dataclass(frozen=True, eq=False)
class FaceModel:
    """The derived ICT face model. Load it with :meth:`FaceModel.load`."""

    mean: np.ndarray  # (N, 3) float32
    basis: np.ndarray  # (K, 3N) float32, vertex-major (x, y, z per vertex)
    triangles: np.ndarray  # (F, 3) int32
    landmarks: np.ndarray  # (68,) int32 vertex ids of the output landmarks
    landmark_flip: np.ndarray  # (68,) int32 mirror permutation of the 68 points
    symmetry: np.ndarray  # (N,) int32 id of each vertex's mirror twin
    uv: np.ndarray  # (U, 2) float32 texture coordinates in [0, 1]
    triangle_uv: np.ndarray  # (F, 3) int32 ids into ``uv``
    contour_ids: np.ndarray  # (17, C) int32 candidate vertices per jaw landmark
    contour_normals: np.ndarray  # (17, 3) float32 outward jaw directions
    exp_to_arkit: np.ndarray  # (57, 10) float32
    arkit_names: tuple[str, ...]
    meta: dict = field(default_factory=dict)
    network: str | None = None  # bundled network whose neutral expression ARKit readings start from

    @classmethod
    def load(cls, path: str | Path | None = None) -> "FaceModel":
        """Load the bundled model (default) or a file written by ``ddfa model build``."""
        if path is None:
            path = resources.files("ddfa.assets") / ASSET
        path = Path(str(path))
        if not path.is_file():
            from ddfa.errors import ModelError

            raise ModelError(f"face model file not found: {path} (rebuild it with `ddfa model build`)")
        with np.load(path) as z:
            return cls.from_arrays({k: z[k] for k in z.files})

    @classmethod
    def from_arrays(cls, d: dict[str, np.ndarray]) -> "FaceModel":
        """Build from the arrays of a model file (see :mod:`ddfa.morphable.build`)."""
        return cls(
            mean=d["mean"], basis=d["basis"], triangles=d["triangles"], landmarks=d["landmarks"],
            landmark_flip=d["landmark_flip"], symmetry=d["symmetry"], uv=d["uv"],
            triangle_uv=d["triangle_uv"], contour_ids=d["contour_ids"], contour_normals=d["contour_normals"],
            exp_to_arkit=d["exp_to_arkit"], arkit_names=tuple(str(n) for n in d["arkit_names"]),
            meta=json.loads(str(d["meta"])),
        )

    def for_network(self, name: str | None) -> "FaceModel":
        """This model (arrays shared) reading expressions from bundled network ``name``'s neutral
        expression (:mod:`ddfa.morphable.expression`); None or a weights file: the photo model's."""
        return replace(self, network=name)

    @property
    def n_vertices(self) -> int:
        return self.mean.shape[0]

    @cached_property
    def face_triangles(self) -> np.ndarray:
        """(F', 3) int32 triangles of the narrow face area (no scalp, ears or neck), for drawing."""
        from ddfa.morphable.build import NARROW_FACE_AREA

        return self.triangles[(self.triangles < NARROW_FACE_AREA).all(1)]

    @cached_property
    def landmark_mean(self) -> np.ndarray:
        """(68, 3) float32 mean-shape landmarks."""
        return self.mean[self.landmarks]

    @cached_property
    def landmark_basis(self) -> np.ndarray:
        """(K, 68*3) float32 basis rows of the 68 landmarks (sparse reconstruction)."""
        return self.basis.reshape(self.basis.shape[0], -1, 3)[:, self.landmarks].reshape(self.basis.shape[0], -1)

    @cached_property
    def basis_gram(self) -> np.ndarray:
        """(K, 3, 3) float32 Gram matrices ``A_k^T A_k`` of each mode as an (N, 3) array (used by fWPDC)."""
        A = self.basis.reshape(self.basis.shape[0], -1, 3).astype(np.float64)
        return np.einsum("kni,knj->kij", A, A).astype(np.float32)

    # --- reconstruction (numpy) -------------------------------------------------------
    def shape(self, a: np.ndarray) -> np.ndarray:
        """a (B, 50) -> model-space dense shape (B, N, 3) float32."""
        a = np.asarray(a, dtype=np.float32)
        return (self.mean.reshape(-1) + a @ self.basis).reshape(a.shape[0], self.n_vertices, 3)

    def vertices(self, params: np.ndarray, dense: bool = True) -> np.ndarray:
        """params (B, 62) -> vertices ``T [S; 1]``: (B, N, 3) dense or (B, 68, 3) sparse, float32.

        The sparse path multiplies only the 68 landmark rows of the basis.
        """
        params = np.asarray(params, dtype=np.float32)
        T = layout.pose_matrix(params)
        a = layout.shape_coeffs(params)
        if dense:
            S = self.shape(a)
        else:
            S = (self.landmark_mean.reshape(-1) + a @ self.landmark_basis).reshape(a.shape[0], len(self.landmarks), 3)
        return S @ T[:, :, :3].transpose(0, 2, 1) + T[:, None, :, 3]

    def expression_weights(self, a_exp: np.ndarray) -> dict[str, np.ndarray]:
        """a_exp (B, 10) -> {ARKit name: (B,) float32 reading in [0, 1]}: the bounded projection of
        :mod:`ddfa.morphable.expression` (about 0 for a neutral face). Readings of the fitted
        10-d expression, not measured blendshape weights. A model whose shapes do not match the
        shipped projection gets the plain least-squares reading (may leave [0, 1])."""
        projection = self._arkit_projection
        if projection is None:
            w = np.asarray(a_exp, dtype=np.float32) @ self.exp_to_arkit.T
        else:
            w = projection(a_exp)
        return {name: w[:, i] for i, name in enumerate(self.arkit_names)}

    @cached_property
    def _arkit_projection(self):
        from ddfa.morphable.expression import ArkitProjection

        try:
            projection = ArkitProjection.load()
        except (OSError, KeyError):
            return None
        if projection.names != self.arkit_names or projection.cross.shape[1] != self.exp_to_arkit.shape[1]:
            return None
        return projection.for_network(self.network)

    # --- reconstruction (torch) -------------------------------------------------------
    def torch(self, device=None, dtype=None) -> "TorchFaceModel":
        """A torch view of the model (constant tensors on ``device``)."""
        return TorchFaceModel(self, device=device, dtype=dtype)


class TorchFaceModel:
    """Batched, differentiable reconstruction in torch; see :class:`FaceModel`."""

    def __init__(self, model: FaceModel, device=None, dtype=None):
        import torch

        dtype = dtype or torch.float32
        kw = dict(device=device, dtype=dtype)
        self.model = model
        self.mean = torch.as_tensor(model.mean.reshape(-1), **kw)
        self.basis = torch.as_tensor(model.basis, **kw)
        self.landmark_mean = torch.as_tensor(model.landmark_mean.reshape(-1), **kw)
        self.landmark_basis = torch.as_tensor(model.landmark_basis, **kw)
        self.basis_gram = torch.as_tensor(model.basis_gram, **kw)

    def shape(self, a, dense: bool = True):
        """a (B, 50) -> model-space shape (B, N, 3) dense or (B, 68, 3) sparse."""
        if dense:
            return (self.mean + a @ self.basis).reshape(a.shape[0], -1, 3)
        return (self.landmark_mean + a @ self.landmark_basis).reshape(a.shape[0], -1, 3)

    def vertices(self, params, dense: bool = True):
        """params (B, 62) tensor -> vertices (B, N, 3) or (B, 68, 3) in T's target frame."""
        T = layout.pose_matrix(params)
        S = self.shape(layout.shape_coeffs(params), dense)
        return S @ T[:, :, :3].transpose(1, 2) + T[:, None, :, 3]
