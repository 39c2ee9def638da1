"""Stability benchmark on synthetic short clips (after Tai et al., as used by 3DDFA_V2).

Each still image with ground-truth landmarks becomes a clip of ``n`` frames: a
random walk of small in-plane similarity moves (known exactly, so the
per-frame ground truth is exact), each frame with fresh Gaussian noise and
motion blur. An optional out-of-plane operator can change the source image and
its points before each frame's move: :class:`ddfa.eval.out_of_plane.ProfilingMoves`
turns the head a few degrees a frame by face profiling.

The predictor sees each frame with the box of that frame's ground truth. Scores, in %:

- **NME**: the usual per-frame NME (normalised by sqrt(w * h) of the frame's
  ground-truth box), averaged over frames;
- **stability**: for each pair of adjacent frames, the mean over points of
  ``|(p[k+1] - p[k]) - (g[k+1] - g[k])|`` (predicted minus true motion), over the
  mean box size of the two frames; averaged over pairs. A constant bias cancels;
  only frame-to-frame jitter counts.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from itertools import islice
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from ddfa.data.augment import (
    compose_affines, gaussian_noise, motion_blur, similarity_jitter, transform_points, warp_sample,
)
from ddfa.errors import InputError
from ddfa.eval.aflw2000 import Aflw2000, iter_image_batches, load_aflw2000
from ddfa.eval.metrics import box_size, nme
from ddfa.eval.plot import draw_ced
from ddfa.eval.predictors import LandmarkPredictor
from ddfa.eval.report import save_report

__all__ = ["OutOfPlane", "ClipConfig", "Clip", "synthesize_clip", "stability_error", "StabilityReport",
           "evaluate_stability", "evaluate_stability_aflw2000"]

OutOfPlane = Callable[[np.random.Generator, np.ndarray, np.ndarray, int], tuple[np.ndarray, np.ndarray]]
"""``(rng, image (H, W, 3) uint8, points (P, D) image frame, frame index) -> (image, points)``:
an out-of-plane change of the source applied before frame ``k``'s in-plane move."""


@dataclass(frozen=True)
class ClipConfig:
    """How clips are synthesised. Moves are per frame, drawn uniformly in ``[-max, max]``.

    Attributes:
        n_frames: frames per clip (>= 2).
        max_scale: relative scale change per frame.
        max_angle: in-plane rotation per frame, degrees.
        max_shift: shift per frame and axis, as a fraction of the face size sqrt(w * h).
        noise_sigma: Gaussian noise, grey levels.
        max_blur: motion blur length in pixels, uniform in ``[0, max_blur]`` (none below 1).
    """

    n_frames: int = 8
    max_scale: float = 0.02
    max_angle: float = 2.0
    max_shift: float = 0.02
    noise_sigma: float = 2.0
    max_blur: float = 3.0

    def __post_init__(self):
        if self.n_frames < 2:
            raise InputError(f"a clip needs at least 2 frames, got n_frames={self.n_frames}")
        if min(self.max_scale, self.max_angle, self.max_shift, self.noise_sigma, self.max_blur) < 0:
            raise InputError("clip ranges must be non-negative")


@dataclass(frozen=True)
class Clip:
    """A synthetic clip: ``frames`` (n, H, W, 3) uint8, ground truth ``points`` (n, P, D)
    float32 in each frame, and ``affines`` (n, 2, 3) from the source image to each frame."""

    frames: np.ndarray
    points: np.ndarray
    affines: np.ndarray


def synthesize_clip(
    rng: np.random.Generator,
    image: np.ndarray,
    points: np.ndarray,
    config: ClipConfig = ClipConfig(),
    out_of_plane: OutOfPlane | None = None,
) -> Clip:
    """Make a clip from one image ``(H, W, 3)`` uint8 and its image-frame points ``(P, 2|3)``.

    Frame 0 has the identity move; frame k's move is a random similarity about
    the face centre composed with frame k-1's.
    """
    points = np.asarray(points, dtype=np.float32)
    if points.ndim != 2 or points.shape[1] not in (2, 3):
        raise InputError(f"points must have shape (P, 2) or (P, 3), got {points.shape}")
    if not isinstance(image, np.ndarray) or image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise InputError(f"image must be an RGB uint8 (H, W, 3) array, got {getattr(image, 'shape', type(image))}")
    h, w = image.shape[:2]
    size = float(box_size(points))
    affine = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    frames = np.empty((config.n_frames, h, w, 3), np.uint8)
    gts = np.empty((config.n_frames, *points.shape), np.float32)
    affines = np.empty((config.n_frames, 2, 3))
    for k in range(config.n_frames):
        src, pts = (image, points) if out_of_plane is None else out_of_plane(rng, image, points, k)
        if k:
            centre = gts[k - 1, :, :2].mean(0)
            move = similarity_jitter(rng, centre, max_scale=config.max_scale, max_angle=config.max_angle,
                                     max_shift=config.max_shift * size)
            affine = compose_affines(move, affine)
        frame = warp_sample(src, affine).image
        frame = gaussian_noise(rng, frame, config.noise_sigma)
        length = rng.uniform(0.0, config.max_blur)
        frames[k] = motion_blur(rng, frame, length) if length >= 1 else frame
        gts[k] = transform_points(affine, pts)
        affines[k] = affine
    return Clip(frames, gts, affines)


def stability_error(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """Frame-to-frame motion error in % ``(..., n - 1)`` of predictions and ground truth ``(..., n, P, 2+)``."""
    pred, gt = np.asarray(pred, np.float64)[..., :2], np.asarray(gt, np.float64)[..., :2]
    if pred.shape != gt.shape or pred.ndim < 3:
        raise InputError(f"pred and gt must both be (..., n, P, 2+), got {pred.shape} and {gt.shape}")
    size = box_size(gt)
    norm = (size[..., 1:] + size[..., :-1]) / 2
    return nme(np.diff(pred, axis=-3), np.diff(gt, axis=-3), norm)


@dataclass(frozen=True, eq=False)
class StabilityReport:
    """Result of :func:`evaluate_stability`.

    Attributes:
        predictor: the predictor's name.
        config: the clip settings.
        seed: the random seed of the clips.
        nme: mean per-frame NME (%).
        stability: mean frame-to-frame motion error (%).
        per_clip: ``names`` (C,), ``nme`` (C, n), ``stability`` (C, n - 1).
        seconds: wall time.
        out_of_plane: description of the out-of-plane moves (``str`` of the hook), None without.
    """

    predictor: str
    config: ClipConfig
    seed: int
    nme: float
    stability: float
    per_clip: dict[str, np.ndarray] = field(repr=False)
    seconds: float
    out_of_plane: str | None = None

    def to_dict(self) -> dict:
        return {
            "benchmark": "stability", "predictor": self.predictor, "clips": int(len(self.per_clip["names"])),
            "config": asdict(self.config), "out_of_plane": self.out_of_plane, "seed": self.seed,
            "nme": self.nme, "stability": self.stability,
            "nme_median": float(np.median(self.per_clip["nme"])),
            "stability_median": float(np.median(self.per_clip["stability"])), "seconds": self.seconds,
        }

    def to_markdown(self) -> str:
        d, c = self.to_dict(), self.config
        return "\n".join([
            f"### Stability — `{self.predictor}`",
            "",
            f"{d['clips']} clips x {c.n_frames} frames (seed {self.seed}); per frame: scale ±{c.max_scale:g}, "
            f"rotation ±{c.max_angle:g}°, shift ±{c.max_shift:g} x face size, noise σ {c.noise_sigma:g}, "
            f"motion blur ≤ {c.max_blur:g} px; out of plane: {self.out_of_plane or 'none'}; "
            f"{self.seconds:.1f} s.",
            "",
            "| predictor | NME (%) | NME median | stability (%) | stability median |",
            "|---|---|---|---|---|",
            f"| {self.predictor} | {self.nme:.2f} | {d['nme_median']:.2f} | **{self.stability:.2f}** "
            f"| {d['stability_median']:.2f} |",
        ]) + "\n"

    def save(self, outdir: str | Path) -> dict[str, Path]:
        """Write ``report.md``, ``report.json``, ``per_clip.npz`` and ``ced.png`` into ``outdir``."""
        curves = {f"NME per frame, mean {self.nme:.2f}": self.per_clip["nme"].ravel(),
                  f"stability per frame pair, mean {self.stability:.2f}": self.per_clip["stability"].ravel()}
        ced = draw_ced(curves, title=f"Stability benchmark, {self.predictor}", xlabel="error (%)")
        return save_report(outdir, self.to_markdown(), self.to_dict(), "per_clip", self.per_clip, ced)


def evaluate_stability(
    predictor: LandmarkPredictor,
    images: Iterable[np.ndarray],
    points: np.ndarray,
    *,
    names: Sequence[str] | None = None,
    config: ClipConfig = ClipConfig(),
    seed: int = 0,
    out_of_plane: OutOfPlane | None = None,
    name: str | None = None,
    batch_size: int = 64,
    progress: bool = True,
) -> StabilityReport:
    """Score ``predictor`` on one synthetic clip per image.

    Args:
        images: C RGB uint8 images ``(H, W, 3)`` (a list, or a generator to stream large sets).
        points: ``(C, P, 2|3)`` image-frame ground truth.
        seed: clip ``i`` uses ``np.random.default_rng([seed, i])``, so results do not depend on batching.
    """
    t0 = time.perf_counter()
    points = np.asarray(points, dtype=np.float32)
    if points.ndim != 3:
        raise InputError(f"points must have shape (C, P, 2|3), got {points.shape}")
    n_clips, n = len(points), config.n_frames
    if n_clips == 0:
        raise InputError("no images to build clips from")
    pred = np.empty((n_clips, n, points.shape[1], 3), np.float32)
    gt = np.empty((n_clips, n, *points.shape[1:]), np.float32)
    per_call = max(1, batch_size // n)
    bar = tqdm(total=n_clips, desc=f"stability ({name or type(predictor).__name__})", unit="clip",
               disable=not progress)
    stream, i = iter(images), 0
    while chunk := list(islice(stream, per_call)):
        if i + len(chunk) > n_clips:
            raise InputError(f"got more images than the {n_clips} sets of points")
        clips = [synthesize_clip(np.random.default_rng([seed, i + c]), im, points[i + c], config, out_of_plane)
                 for c, im in enumerate(chunk)]
        gts = np.stack([c.points for c in clips])
        boxes = np.concatenate([gts[..., :2].min(2), gts[..., :2].max(2)], -1).reshape(-1, 4)
        frames = [f for c in clips for f in c.frames]
        pred[i:i + len(clips)] = predictor.predict(frames, boxes).reshape(len(clips), n, -1, 3)
        gt[i:i + len(clips)] = gts
        i += len(clips)
        bar.update(len(clips))
    bar.close()
    if i != n_clips:
        raise InputError(f"got {i} images for {n_clips} sets of points")
    per_clip = {
        "names": np.asarray(names if names is not None else [str(k) for k in range(n_clips)]),
        "nme": nme(pred, gt), "stability": stability_error(pred, gt),
    }
    return StabilityReport(
        predictor=name or type(predictor).__name__, config=config, seed=seed,
        nme=float(per_clip["nme"].mean()), stability=float(per_clip["stability"].mean()),
        per_clip=per_clip, seconds=time.perf_counter() - t0,
        out_of_plane=None if out_of_plane is None else str(out_of_plane),
    )


def evaluate_stability_aflw2000(
    predictor: LandmarkPredictor,
    data: Aflw2000 | None = None,
    *,
    exact_only: bool = True,
    **kwargs,
) -> StabilityReport:
    """:func:`evaluate_stability` on AFLW2000-3D crops (by default the 199 exact ones) with ``pts68``."""
    data = load_aflw2000() if data is None else data
    if exact_only:
        data = data.subset(data.exact)
    images = (im for batch in iter_image_batches(data.image_paths, 16) for im in batch)
    return evaluate_stability(predictor, images, data.points, names=list(data.names), **kwargs)
