"""Out-of-plane moves for the stability benchmark, by face profiling.

:class:`ProfilingMoves` is an :data:`ddfa.eval.stability.OutOfPlane` hook: each clip
takes a random walk in head pose, a uniform step in ``[-max_yaw, max_yaw]`` and
``[-max_pitch, max_pitch]`` degrees per frame (frame 0: the source pose), and every
frame is the source re-rendered at the walk's pose by :mod:`ddfa.data.profile`.

To build the scene the model is fitted to the clip's ground-truth 68 points
(:class:`~ddfa.morphable.fit.LandmarkFitter` in the vertex frame of
``roi_from_landmarks(points)``). This only synthesises the benchmark's clips;
nothing is learned from the evaluation images.

Ground truth of the moved frames. The projections of the fitted landmarks are
*not* used as the new ground truth, which would swap the annotation for the fit
(1-5 % of face size off it). Each annotated point is instead **lifted** to 3D
(its own x, y, and the depth z of the vertex the fit matched to it, i.e. the fit
residual stays an offset in the x-y plane at that depth) and moved as a rigid point of the head with
the very rotation the profiler applies to the scene, ``X' = R (X - c) + c`` about
the scene centre ``c``, then projected (orthographic: x', y'). Zero rotation gives
the annotation back exactly. Jaw points mark the silhouette, which slides over the
surface as the head turns; for steps of a few degrees the difference is of second
order in the angle. When points carry a third column (e.g. AFLW2000-3D's
``pts68`` depth) it is moved by the lifted point's change in depth.

The walk's total pose is rendered straight from the source scene:
``scene_rotation`` of the source parameters for the summed (yaw, pitch) equals
the product of the per-step rotations, so no error accumulates over a clip.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ddfa.data.profile import FaceProfiler, ProfileScene, params_to_image
from ddfa.errors import InputError
from ddfa.morphable import FaceModel
from ddfa.morphable.fit import LandmarkFitter
from ddfa.morphable.frames import image_to_vertex, roi_from_landmarks

__all__ = ["LiftedFace", "lift_points", "rotate_points", "ProfilingMoves"]


@dataclass(frozen=True)
class LiftedFace:
    """Annotated points on a fitted face, in the image frame.

    params: (62,) float32 image-frame parameters fitted to the points.
    points: (68, 3) float64 lifted points: annotated x, y and the depth of the matched fitted vertex.
    landmark_ids: (68,) int32 the fitted vertex matched to each point (jaw points: on the silhouette).
    fitted: (68, 3) float64 those vertices (``points - fitted`` is the residual, z = 0).
    error: fit error, mean point distance over sqrt(w * h) of the landmark box (a fraction).
    """

    params: np.ndarray
    points: np.ndarray
    landmark_ids: np.ndarray
    fitted: np.ndarray
    error: float


def lift_points(points: np.ndarray, fitter: LandmarkFitter) -> LiftedFace:
    """Fit the model to image-frame points (68, 2|3) and lift them to 3D (see the module doc)."""
    pts = np.asarray(points, dtype=np.float64)
    if pts.shape not in ((68, 2), (68, 3)) or not np.all(np.isfinite(pts)):
        raise InputError(f"out-of-plane moves need 68 finite points of shape (68, 2|3), got {pts.shape}")
    try:
        affine = roi_from_landmarks(pts).affine()
    except ValueError as exc:
        raise InputError(f"cannot fit the face model to these points: {exc}") from None
    fit = fitter.fit(image_to_vertex(pts[None, :, :2], affine[None]))
    params = params_to_image(fit.params[0], affine)
    fitted = fitter.model.vertices(params[None])[0][fit.landmark_ids[0]].astype(np.float64)
    lifted = np.concatenate([pts[:, :2], fitted[:, 2:]], 1)
    return LiftedFace(params, lifted, fit.landmark_ids[0], fitted, float(fit.error[0]))


def rotate_points(points: np.ndarray, rotation: np.ndarray, centre: np.ndarray) -> np.ndarray:
    """Rigid move ``x -> R (x - c) + c`` of image-frame points (P, 3) by R (3, 3) about c (3,) -> (P, 3) float64."""
    p = np.asarray(points, dtype=np.float64)
    c = np.asarray(centre, dtype=np.float64)
    return (p - c) @ np.asarray(rotation, dtype=np.float64).T + c


class ProfilingMoves:
    """Out-of-plane hook ``(rng, image, points (68, 2|3), k) -> (image, points)`` for
    :func:`ddfa.eval.stability.synthesize_clip`.

    Frames of a clip must come in order ``k = 0, 1, ...`` with the same source image
    object and points; frame 0 starts a new walk. The fit and the scene of the last
    source are cached, so a clip builds its scene once. Each frame ``k >= 1`` draws
    two uniforms from ``rng`` (yaw step, then pitch step): the hook is deterministic
    given the generator. Not thread-safe (one clip at a time).

    Args:
        model: the face model (default: the bundled one).
        max_yaw: half-range of the yaw step per frame, degrees.
        max_pitch: half-range of the pitch step per frame, degrees.
    """

    def __init__(self, model: FaceModel | None = None, max_yaw: float = 3.0, max_pitch: float = 1.5):
        if not (0 <= max_yaw <= 30 and 0 <= max_pitch <= 30):
            raise InputError(f"out-of-plane steps must lie in [0, 30] degrees, got yaw {max_yaw}, pitch {max_pitch}")
        model = FaceModel.load() if model is None else model
        self.max_yaw, self.max_pitch = float(max_yaw), float(max_pitch)
        self.fitter = LandmarkFitter(model)
        self.profiler = FaceProfiler(model)
        self._source: tuple[np.ndarray, bytes] | None = None
        self._face: tuple[LiftedFace, ProfileScene] | None = None
        self._pose = np.zeros(2)
        self._next = 0

    def __str__(self) -> str:
        return f"face profiling, yaw ±{self.max_yaw:g}° and pitch ±{self.max_pitch:g}° per frame"

    def prepare(self, image: np.ndarray, points: np.ndarray) -> tuple[LiftedFace, ProfileScene]:
        """The lifted points and profiling scene of a source image (H, W, 3) uint8 and its points (cached)."""
        pts = np.ascontiguousarray(points, dtype=np.float32)
        if not self._is_source(image, pts):
            lifted = lift_points(pts, self.fitter)
            self._face = lifted, self.profiler.scene(image, lifted.params)
            self._source = image, pts.tobytes()
        return self._face

    def _is_source(self, image: np.ndarray, points: np.ndarray) -> bool:
        return self._source is not None and self._source[0] is image and self._source[1] == points.tobytes()

    def __call__(self, rng: np.random.Generator, image: np.ndarray, points: np.ndarray,
                 k: int) -> tuple[np.ndarray, np.ndarray]:
        """Frame ``k`` of the walk: the re-rendered image (H, W, 3) uint8 and the moved points (68, D) float32."""
        pts = np.ascontiguousarray(points, dtype=np.float32)
        if k == 0:
            self._pose[:] = 0.0
        elif k != self._next or not self._is_source(image, pts):
            raise InputError(f"out-of-plane frame {k} requested out of order: frames of one clip must come as "
                             f"0, 1, 2, ... from the same source image and points")
        lifted, scene = self.prepare(image, pts)
        if k:
            self._pose += [rng.uniform(-self.max_yaw, self.max_yaw), rng.uniform(-self.max_pitch, self.max_pitch)]
        self._next = k + 1
        view = self.profiler.render(scene, *self._pose)
        moved = rotate_points(lifted.points, view.rotation, scene.centre)
        out = pts.copy()
        out[:, :2] = moved[:, :2]
        if pts.shape[1] == 3:
            out[:, 2] += moved[:, 2] - lifted.points[:, 2]
        return view.image, out
