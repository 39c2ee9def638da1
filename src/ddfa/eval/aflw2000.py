"""AFLW2000-3D evaluation (the paper's Table 1), with the protocols of ``aflw2000-3d/README.md``.

- NME (%) = mean 2D point error / sqrt(w * h) of the ground truth's landmark box x 100,
  against the original (``pts68``) and the re-annotated ground truth; each is
  normalised by its own box (the min/max of ``pts68[:2]`` for the original one),
  as in 3DDFA's benchmark code.
- **exact**: the 199 crops whose transform is known exactly; **aligned**: all
  crops, after the least-squares scale + shift (no rotation) of the prediction
  onto the ground truth.
- Bins by |yaw|: [0, 30], (30, 60], > 60; headline = mean of the three bin means.
- Input box: the ground-truth 68-point box (min/max of ``pts68[:2]``), or a
  face detector's best box (end to end; misses are counted and left out).

The published ``yaw_deg`` (3DDFA's pose file) is positive when the nose moves
to the image *left*, the opposite of :mod:`ddfa.morphable.pose`; yaw errors are
computed against its negation, wrapped to [0, 180] degrees.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from ddfa.detect.base import FaceDetector
from ddfa.errors import InputError
from ddfa.eval.metrics import YAW_BINS, align_scale_shift, angle_error, box_size, nme, yaw_bin
from ddfa.eval.plot import draw_ced
from ddfa.eval.predictors import LandmarkPredictor, PosePredictor
from ddfa.eval.report import save_report
from ddfa.io import load_image

__all__ = ["DEFAULT_ROOT", "Aflw2000", "load_aflw2000", "Protocol", "PROTOCOLS", "BinnedScore", "AflwReport",
           "evaluate_aflw2000", "iter_image_batches"]

DEFAULT_ROOT = Path("../shared/data/aflw2000-3d")



@dataclass(frozen=True)
class Protocol:
    """ground_truth: "original" or "re-annotated"; exact_only: the 199 exact crops, else all;
    aligned: scale + shift alignment first. ``key``: its per-image NME array in :class:`AflwReport`."""

    ground_truth: str
    exact_only: bool
    aligned: bool

    @property
    def key(self) -> str:
        return "nme" + ("_aligned" if self.aligned else "") + ("_re" if self.ground_truth == "re-annotated" else "")


PROTOCOLS: dict[str, Protocol] = {
    "exact": Protocol("original", True, False),
    "aligned": Protocol("original", False, True),
    "exact-re": Protocol("re-annotated", True, False),
    "aligned-re": Protocol("re-annotated", False, True),
}


@dataclass(frozen=True, eq=False)
class Aflw2000:
    """The AFLW2000-3D evaluation crops. Points are image-frame, per crop.

    Attributes:
        root: the data folder (with ``images/`` and ``aflw2000_3d.npz``).
        names: ``(N,)`` image file names.
        points: ``(N, 68, 3)`` float32 original ground truth (``pts68``, transposed).
        points_re: ``(N, 68, 2)`` float32 re-annotated ground truth.
        yaw_deg: ``(N,)`` float32 yaw as published (3DDFA sign, see the module doc).
        exact: ``(N,)`` bool, True where ``points`` are exact in crop pixels.
    """

    root: Path
    names: np.ndarray
    points: np.ndarray
    points_re: np.ndarray
    yaw_deg: np.ndarray
    exact: np.ndarray

    def __len__(self) -> int:
        return len(self.names)

    @property
    def yaw(self) -> np.ndarray:
        """``(N,)`` yaw in degrees in the project convention (> 0: nose to the image right)."""
        return -self.yaw_deg

    @property
    def boxes(self) -> np.ndarray:
        """``(N, 4)`` float32 ground-truth 68-point boxes ``x0, y0, x1, y1``."""
        xy = self.points[..., :2]
        return np.concatenate([xy.min(1), xy.max(1)], 1)

    @property
    def image_paths(self) -> list[Path]:
        return [self.root / "images" / str(n) for n in self.names]

    def subset(self, index) -> "Aflw2000":
        """A view on some crops (slice, boolean mask or integer indices)."""
        index = index if isinstance(index, slice) else np.asarray(index)
        return Aflw2000(self.root, self.names[index], self.points[index], self.points_re[index],
                        self.yaw_deg[index], self.exact[index])


def load_aflw2000(root: str | Path = DEFAULT_ROOT) -> Aflw2000:
    """Read ``aflw2000_3d.npz`` from ``root`` (images are read lazily)."""
    root = Path(root)
    npz = root / "aflw2000_3d.npz"
    if not npz.is_file() or not (root / "images").is_dir():
        raise InputError(f"'{root}' is not the AFLW2000-3D folder (needs aflw2000_3d.npz and images/)")
    with np.load(npz) as z:
        pts, re_ = z["pts68"], z["pts68_reannotated"]
        if pts.ndim != 3 or pts.shape[1:] != (3, 68) or re_.shape[1:] != (2, 68):
            raise InputError(f"unexpected landmark arrays in '{npz}': {pts.shape}, {re_.shape}")
        return Aflw2000(root, z["names"].astype(str), np.ascontiguousarray(pts.transpose(0, 2, 1), np.float32),
                        np.ascontiguousarray(re_.transpose(0, 2, 1), np.float32),
                        z["yaw_deg"].astype(np.float32), z["exact"].astype(bool))


def iter_image_batches(paths: Sequence[Path], batch_size: int, threads: int = 2) -> Iterator[list[np.ndarray]]:
    """Decode images in batches, the next batch in background threads while the caller works."""
    if batch_size < 1:
        raise InputError(f"batch_size must be at least 1, got {batch_size}")
    chunks = [paths[i:i + batch_size] for i in range(0, len(paths), batch_size)]
    with ThreadPoolExecutor(threads) as pool:
        pending = [pool.submit(load_image, p) for p in chunks[0]] if chunks else []
        for k in range(len(chunks)):
            current = pending
            pending = [pool.submit(load_image, p) for p in chunks[k + 1]] if k + 1 < len(chunks) else []
            yield [f.result() for f in current]


@dataclass(frozen=True)
class BinnedScore:
    """A score averaged per |yaw| bin (NaN for an empty bin).

    Attributes:
        bins: mean per bin ``YAW_BINS``.
        counts: images scored per bin.
        misses: images of the protocol left out per bin (no detection).
        mean_of_bins: the mean of the three bin means (the headline).
        mean: the plain mean over scored images.
    """

    bins: tuple[float, float, float]
    counts: tuple[int, int, int]
    misses: tuple[int, int, int]
    mean_of_bins: float
    mean: float

    @classmethod
    def of(cls, values: np.ndarray, bins: np.ndarray, include: np.ndarray) -> "BinnedScore":
        """values ``(N,)`` (NaN = missed), bin ids ``(N,)``, mask ``(N,)`` of the images in the protocol."""
        ok = include & np.isfinite(values)
        means = tuple(float(values[ok & (bins == b)].mean()) if np.any(ok & (bins == b)) else float("nan")
                      for b in range(3))
        return cls(
            bins=means,
            counts=tuple(int(np.sum(ok & (bins == b))) for b in range(3)),
            misses=tuple(int(np.sum(include & ~ok & (bins == b))) for b in range(3)),
            mean_of_bins=float(np.mean(means)),
            mean=float(values[ok].mean()) if ok.any() else float("nan"),
        )

    def compact(self) -> str:
        """``a / b / c → **m**`` as in the README's reference table."""
        return " / ".join(f"{v:.2f}" for v in self.bins) + f" → **{self.mean_of_bins:.2f}**"

    def to_dict(self) -> dict:
        return {"bins": dict(zip(YAW_BINS, self.bins)), "counts": list(self.counts), "misses": list(self.misses),
                "mean_of_bins": self.mean_of_bins, "mean": self.mean}


@dataclass(frozen=True, eq=False)
class AflwReport:
    """Result of :func:`evaluate_aflw2000`.

    Attributes:
        predictor: the predictor's name.
        boxes: ``"gt"`` or ``"detector"``.
        nme: NME (%) per protocol name of :data:`PROTOCOLS`.
        yaw_error: absolute yaw error (degrees) on every scored image, or None when
            the predictor returns no pose.
        per_image: arrays ``(N, ...)``: ``names``, ``yaw_deg``, ``exact``, ``box``,
            ``detected``, ``landmarks`` (image frame, NaN when missed), ``nme``,
            ``nme_aligned``, ``nme_re``, ``nme_aligned_re``, ``yaw_error`` (NaN = not scored).
        seconds: wall time of the evaluation.
    """

    predictor: str
    boxes: str
    nme: dict[str, BinnedScore]
    yaw_error: BinnedScore | None
    per_image: dict[str, np.ndarray] = field(repr=False)
    seconds: float

    def to_markdown(self) -> str:
        box = "ground-truth 68-point box" if self.boxes == "gt" else "detector, best box"
        n_miss = int((~self.per_image["detected"]).sum())
        lines = [
            f"### AFLW2000-3D — `{self.predictor}` (input box: {box})",
            "",
            f"NME (%) by |yaw| bin; {len(self.per_image['names'])} images, {self.seconds:.1f} s"
            + (f"; {n_miss} without a detection, left out" if self.boxes == "detector" else "") + ".",
            "",
            "| protocol | ground truth | images per bin | " + " | ".join(YAW_BINS) + " | mean of bins | mean |",
            "|---|---|---|---|---|---|---|---|",
        ]
        rows = [(name, PROTOCOLS[name].ground_truth, s) for name, s in self.nme.items()]
        if self.yaw_error is not None:
            rows.append(("yaw error (°)", "3DDFA pose", self.yaw_error))
        for name, gt, s in rows:
            counts = " / ".join(map(str, s.counts))
            if any(s.misses):
                counts += " (missed " + " / ".join(map(str, s.misses)) + ")"
            vals = " | ".join(f"{v:.2f}" for v in s.bins)
            lines.append(f"| {name} | {gt} | {counts} | {vals} | **{s.mean_of_bins:.2f}** | {s.mean:.2f} |")
        head = "GT landmarks" if self.boxes == "gt" else f"detector, best box (misses: {n_miss})"
        lines += [
            "",
            "Row for the README's reference table (exact | aligned | exact, re-annotated GT):",
            "",
            f"| {self.predictor} | {head} | {self.nme['exact'].compact()} | {self.nme['aligned'].compact()} "
            f"| {self.nme['exact-re'].compact()} |",
        ]
        return "\n".join(lines) + "\n"

    def to_dict(self) -> dict:
        return {
            "dataset": "AFLW2000-3D",
            "predictor": self.predictor,
            "boxes": self.boxes,
            "images": int(len(self.per_image["names"])),
            "missed": int((~self.per_image["detected"]).sum()),
            "seconds": self.seconds,
            "nme": {k: {**asdict(PROTOCOLS[k]), **v.to_dict()} for k, v in self.nme.items()},
            "yaw_error_deg": None if self.yaw_error is None else self.yaw_error.to_dict(),
        }

    def ced_image(self) -> np.ndarray:
        """RGB uint8 CED plot, one curve per protocol (misses count as failures)."""
        curves = {}
        for name, proto in PROTOCOLS.items():
            e = self.per_image[proto.key]
            e = e[self.per_image["exact"]] if proto.exact_only else e
            curves[f"{name}, {len(e)} images, mean of bins {self.nme[name].mean_of_bins:.2f}"] = e
        return draw_ced(curves, title=f"AFLW2000-3D CED, {self.predictor}, {self.boxes} boxes")

    def save(self, outdir: str | Path) -> dict[str, Path]:
        """Write ``report.md``, ``report.json``, ``per_image.npz`` and ``ced.png`` into ``outdir``."""
        return save_report(outdir, self.to_markdown(), self.to_dict(), "per_image", self.per_image,
                           self.ced_image())


def _best_box(detector: FaceDetector, image: np.ndarray) -> np.ndarray | None:
    """The best detection turned into an estimated 68-point box by the product's calibrated rule
    (predictors take landmark boxes)."""
    from ddfa.pipeline.crop import landmark_box_from_box

    faces = detector.detect(image)
    if not faces:
        return None
    return landmark_box_from_box(max(faces, key=lambda d: d.score).box).astype(np.float32)


def evaluate_aflw2000(
    predictor: LandmarkPredictor,
    data: Aflw2000 | None = None,
    *,
    detector: FaceDetector | None = None,
    name: str | None = None,
    batch_size: int = 64,
    progress: bool = True,
) -> AflwReport:
    """Run ``predictor`` on every crop of ``data`` (default: :func:`load_aflw2000`) and score it.

    Boxes are the ground-truth 68-point boxes, or, with ``detector``, its
    highest-scoring face (crops without a detection are counted as misses and
    scored on none of the protocols). When the predictor implements
    :class:`PosePredictor` its yaw is scored too.
    """
    data = load_aflw2000() if data is None else data
    if len(data) == 0:
        raise InputError("no AFLW2000-3D images to evaluate")
    t0 = time.perf_counter()
    n = len(data)
    boxes = data.boxes
    detected = np.ones(n, bool)
    landmarks = np.full((n, 68, 3), np.nan, np.float32)
    yaw_pred = np.full(n, np.nan)
    with_pose = isinstance(predictor, PosePredictor)
    bar = tqdm(total=n, desc=f"AFLW2000-3D ({name or type(predictor).__name__})", unit="img", disable=not progress)
    for start, images in zip(range(0, n, batch_size), iter_image_batches(data.image_paths, batch_size)):
        idx = np.arange(start, start + len(images))
        bar_step = len(images)
        if detector is not None:
            for i, im in zip(idx, images):
                box = _best_box(detector, im)
                detected[i] = box is not None
                boxes[i] = box if box is not None else np.nan
            keep = detected[idx]
            idx, images = idx[keep], [im for im, k in zip(images, keep) if k]
        if len(idx):
            if with_pose:
                pts, angles = predictor.predict_with_pose(images, boxes[idx])
                yaw_pred[idx] = angles[:, 0]
            else:
                pts = predictor.predict(images, boxes[idx])
            pts = np.asarray(pts, dtype=np.float32)
            if pts.shape != (len(idx), 68, 3) or not np.all(np.isfinite(pts)):
                raise InputError(f"the predictor must return finite ({len(idx)}, 68, 3) landmarks, "
                                 f"got shape {pts.shape}")
            landmarks[idx] = pts
        bar.update(bar_step)
    bar.close()

    bins = yaw_bin(data.yaw_deg)
    norm, norm_re = box_size(data.points), box_size(data.points_re)
    per_image = {
        "names": data.names, "yaw_deg": data.yaw_deg, "exact": data.exact, "box": boxes, "detected": detected,
        "landmarks": landmarks,
        "nme": nme(landmarks, data.points, norm),
        "nme_aligned": nme(align_scale_shift(landmarks, data.points), data.points, norm),
        "nme_re": nme(landmarks, data.points_re, norm_re),
        "nme_aligned_re": nme(align_scale_shift(landmarks, data.points_re), data.points_re, norm_re),
        "yaw_error": angle_error(yaw_pred, data.yaw),
    }
    everyone = np.ones(n, bool)
    scores = {key: BinnedScore.of(per_image[proto.key], bins, data.exact if proto.exact_only else everyone)
              for key, proto in PROTOCOLS.items()}
    yaw_score = BinnedScore.of(per_image["yaw_error"], bins, everyone) if with_pose else None
    return AflwReport(
        predictor=name or type(predictor).__name__, boxes="gt" if detector is None else "detector",
        nme=scores, yaw_error=yaw_score, per_image=per_image, seconds=time.perf_counter() - t0,
    )
