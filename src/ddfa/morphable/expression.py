"""ARKit-named expression readings of the fitted mesh: a bounded projection onto the 57 ICT shapes.

The network predicts 10 expression coefficients ``c`` (the top-10 principal directions of the ICT
shape displacements, :mod:`ddfa.morphable.build`). Their displacement ``d = B^T c`` (``B`` the
``(10, 3N)`` expression rows of the model basis) is read in the 57 ARKit-named ICT shapes ``D``
``(3N, 57)`` by a bounded, slightly damped least-squares fit over the dense face area::

    w = argmin_{0 <= w <= 1} |D w - d|^2 + ridge |w|^2

with ``d`` the displacement of ``c - rest``: ``rest`` is the median expression a network predicts
for neutral faces (162 300-W faces with closed mouth, open eyes and a narrow mouth), so a neutral face
reads about 0 instead of about 0.1. Each bundled network has its own (``network_rests``: networks
disagree along expression directions the 68 points barely see); ``rest`` is the photo model's, used for
weights files. Every weight lies in [0, 1]. Only ``G = D^T D``
``(57, 57)`` and ``H = D^T B^T`` ``(57, 10)`` are needed; they are shipped in
``ddfa/assets/arkit_projection.npz`` (built from the ICT Face Model Light by
:func:`build_arkit_projection`, ``python -m ddfa.morphable.expression``). Each face's problem is
solved exactly by projected Newton steps (about 7 steps, 1-2 ms per face).

These are readings of a 10-dimensional fitted expression, not measured blendshape weights: 57 shapes
cannot all be told apart from 10 numbers (see ``docs/robustness.md`` for how well jawOpen, smiles and
blinks follow the landmarks on real faces).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from functools import cached_property
from importlib import resources
from pathlib import Path

import numpy as np

__all__ = ["ASSET", "ArkitProjection", "build_arkit_projection", "eye_opening", "mouth_opening", "neutral_expression"]

ASSET = "arkit_projection.npz"
RIDGE = 0.01  # times the mean diagonal of G


@dataclass(frozen=True, eq=False)
class ArkitProjection:
    """``gram`` float64 ``(E, E)`` = D^T D, ``cross`` float64 ``(E, K)`` = D^T B^T, ``rest`` float64 ``(K,)``,
    ``names`` (E,); ``network_rests``: bundled model name -> its own float64 ``(K,)`` rest."""

    gram: np.ndarray
    cross: np.ndarray
    rest: np.ndarray
    names: tuple[str, ...]
    network_rests: dict[str, np.ndarray] = field(default_factory=dict)
    ridge: float = RIDGE
    max_steps: int = 100

    @classmethod
    def load(cls, path: str | os.PathLike | None = None) -> "ArkitProjection":
        path = Path(str(path or resources.files("ddfa.assets") / ASSET))
        with np.load(path) as z:
            rests = dict(zip((str(n) for n in z["networks"]), z["network_rests"].astype(np.float64))) \
                if "networks" in z.files else {}
            return cls(z["gram"].astype(np.float64), z["cross"].astype(np.float64), z["rest"].astype(np.float64),
                       tuple(str(n) for n in z["names"]), rests)

    def for_network(self, name: str | None) -> "ArkitProjection":
        """This projection measured from bundled network ``name``'s rest (None or another name: ``rest``)."""
        return replace(self, rest=self.network_rests[name]) if name in self.network_rests else self

    def __call__(self, a_exp: np.ndarray) -> np.ndarray:
        """``(B, K)`` expression coefficients -> float32 ``(B, E)`` weights in [0, 1]."""
        c = np.asarray(a_exp, np.float64).reshape(-1, self.cross.shape[1]) - self.rest
        return np.array([self._solve(b) for b in c @ self.cross.T], np.float32).reshape(len(c), -1)

    @cached_property
    def _q(self) -> np.ndarray:
        return self.gram + self.ridge * np.mean(np.diag(self.gram)) * np.eye(len(self.gram))

    def _solve(self, b: np.ndarray) -> np.ndarray:
        """argmin 0.5 w^T Q w - b^T w over [0, 1]^E: projected Newton (solve on the free variables, then a
        projected backtracking line search); exact in a handful of steps for 57 variables."""
        Q = self._q
        w = np.zeros_like(b)
        f = 0.0
        for _ in range(self.max_steps):
            g = Q @ w - b
            fixed = ((w <= 0) & (g > 0)) | ((w >= 1) & (g < 0))
            free = ~fixed
            if not free.any():
                break
            target = w.copy()
            target[free] = np.linalg.solve(Q[np.ix_(free, free)], b[free] - Q[np.ix_(free, fixed)] @ w[fixed])
            step = 1.0
            while True:
                cand = np.clip(w + step * (target - w), 0.0, 1.0)
                f_cand = 0.5 * cand @ Q @ cand - b @ cand
                if f_cand <= f or step < 1e-4:
                    break
                step /= 2
            done = np.abs(cand - w).max() < 1e-9
            w, f = cand, f_cand
            if done:
                break
        return w


def mouth_opening(points: np.ndarray) -> np.ndarray:
    """Inner-mouth aspect ratio of iBUG-68 points ``(..., 68, 2)`` -> float64 ``(...)``: the mean gap of the
    inner lips (61-67, 62-66, 63-65) over the inner mouth width (60-64); about 0 for a closed mouth."""
    p = np.asarray(points, np.float64)
    gap = np.linalg.norm(p[..., [61, 62, 63], :] - p[..., [67, 66, 65], :], axis=-1).mean(-1)
    return gap / np.linalg.norm(p[..., 60, :] - p[..., 64, :], axis=-1)


def eye_opening(points: np.ndarray) -> np.ndarray:
    """Eye aspect ratio of iBUG-68 points ``(..., 68, 2)`` -> float64 ``(...)``, the mean of both eyes: each
    eye's two lid gaps (37-41, 38-40; 43-47, 44-46) over twice its width (36-39; 42-45); low when closed."""
    p = np.asarray(points, np.float64)
    gaps = np.linalg.norm(p[..., [37, 38, 43, 44], :] - p[..., [41, 40, 47, 46], :], axis=-1)
    widths = np.linalg.norm(p[..., [36, 42], :] - p[..., [39, 45], :], axis=-1)
    return ((gaps[..., :2].sum(-1) / (2 * widths[..., 0])) + (gaps[..., 2:].sum(-1) / (2 * widths[..., 1]))) / 2


def neutral_expression(aligner, w300: str | os.PathLike) -> np.ndarray:
    """float64 ``(K,)`` median expression coefficients ``aligner`` predicts on the neutral faces of a 300-W
    folder (every 2nd face; crops from the annotated points): inner lips closed (gap < 5 % of the
    mouth width), eye aspect and mouth width / eye-corner distance on the open-eye, narrow-mouth side of
    their medians."""
    from ddfa.data.readers import read_300w
    from ddfa.io import load_image
    from ddfa.morphable import layout

    coeffs, refs = [], []
    for item in read_300w(w300)[::2]:
        p = item.points
        d = lambda i, j: float(np.linalg.norm(p[i] - p[j]))  # noqa: E731
        face = aligner.align(load_image(item.image_path), landmarks=p)[0]
        coeffs.append(layout.exp_coeffs(face.params[None])[0])
        refs.append((mouth_opening(p), eye_opening(p), d(48, 54) / d(36, 45)))
    mar, ear, width = np.array(refs).T
    neutral = (mar < 0.05) & (ear > np.median(ear)) & (width < np.median(width))
    return np.median(np.array(coeffs)[neutral], 0)


def build_arkit_projection(model, ict_npz: str | os.PathLike, rests: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """``gram``, ``cross``, ``rest``, ``names``, ``networks`` and ``network_rests`` for ``model`` (a
    :class:`~ddfa.morphable.FaceModel`) from the ICT repack ``ict_face_model_light.npz`` (expression shapes
    over the model's dense region); ``rests``: network name -> its neutral expression, the first one also
    the default ``rest``."""
    from ddfa.morphable.build import N_ID

    with np.load(ict_npz) as ict:
        names = [str(n) for n in ict["expression_names"]]
        D = ict["expression_modes"][:, : model.n_vertices].reshape(len(names), -1).astype(np.float64).T
    keep = [names.index(n) for n in model.arkit_names]
    D = D[:, keep]
    B = model.basis[N_ID:].astype(np.float64)  # (K, 3N)
    return {"gram": D.T @ D, "cross": D.T @ B.T, "rest": np.asarray(next(iter(rests.values())), np.float64),
            "names": np.asarray(model.arkit_names), "networks": np.asarray(list(rests)),
            "network_rests": np.array(list(rests.values()), np.float64)}


if __name__ == "__main__":  # python -m ddfa.morphable.expression [ICT_NPZ [300W_DIR]]
    import sys

    from ddfa.morphable import FaceModel
    from ddfa.pipeline import MODEL_NAMES, FaceAligner

    source = sys.argv[1] if len(sys.argv) > 1 else "../shared/data/ict-face-model/ict_face_model_light.npz"
    w300 = sys.argv[2] if len(sys.argv) > 2 else "../shared/data/300w"
    # each bundled network as still images run it (int8, upright pass); the photo model first
    rests = {name: neutral_expression(FaceAligner(model=name), w300) for name in MODEL_NAMES}
    arrays = build_arkit_projection(FaceModel.load(), source, rests)
    target = Path(str(resources.files("ddfa.assets") / ASSET))
    np.savez_compressed(target, **{k: v.astype(np.float32) if v.dtype.kind == "f" else v for k, v in arrays.items()})
    print(f"wrote {target}")
