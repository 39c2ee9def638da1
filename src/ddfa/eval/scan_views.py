"""Rendered views of a real textured 3D face scan at known head poses: a held-out landmark check that
is neither 300-W-like nor AFLW2000-3D.

The scan is menpo3d's ``james`` (``../shared/data/media/scan3d/james.{obj,jpg,ljson}``, BSD-3): 6,393
vertices, a texture photograph, and 68 3D landmarks on its surface. :func:`render_scan_views` turns it
to a grid of yaw / pitch / roll angles and renders each view (orthographic projection, texture only,
over a face-free photograph) with the scan's landmarks projected as the ground truth: 3D points on
the surface, as AFLW2000-3D's, so the jaw of a turned head is not its silhouette.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from ddfa.errors import InputError
from ddfa.eval.metrics import nme
from ddfa.eval.plot import draw_ced
from ddfa.eval.predictors import LandmarkPredictor
from ddfa.eval.report import save_report
from ddfa.io import load_image
from ddfa.morphable import rotation_from_euler

__all__ = ["DEFAULT_SCAN", "Scan", "ScanReport", "ScanViews", "evaluate_scan_views", "load_scan", "render_scan_views"]

DEFAULT_SCAN = Path("../shared/data/media/scan3d/james.obj")
DEFAULT_BACKGROUND = Path("../shared/data/media/images/free-mountain-vector-01.jpg")
# the scan's landmark groups, in the iBUG 68-point order (image-left brow and eye first: menpo's "l" side)
_IBUG_GROUPS = ("chin", "leyebrow", "reyebrow", "nose", "leye", "reye", "mouth")
YAWS = (-60, -45, -30, -15, 0, 15, 30, 45, 60)
PITCHES = (-20, 0, 20)
ROLLS = (-20, 0, 20)
YAW_BINS = ((0, 15), (30, 45), (60, 90))  # |yaw| degrees, both ends included


@dataclass(frozen=True)
class Scan:
    """A textured mesh in its own units, y up, facing +z.

    Attributes:
        vertices: float64 ``(V, 3)``.
        triangles: int32 ``(F, 3)`` vertex ids.
        corner_uv: float32 ``(F, 3, 2)`` texture coordinates of each triangle corner (u right, v up, 0..1).
        texture: uint8 ``(H, W, 3)`` RGB.
        landmarks: float64 ``(68, 3)`` surface points in the iBUG order.
    """

    vertices: np.ndarray
    triangles: np.ndarray
    corner_uv: np.ndarray
    texture: np.ndarray
    landmarks: np.ndarray


@dataclass(frozen=True)
class ScanViews:
    """Rendered views: ``images`` uint8 ``(N, S, S, 3)`` RGB, ``landmarks`` float32 ``(N, 68, 2)`` image
    pixels (ground truth), ``boxes`` float32 ``(N, 4)`` their bounding boxes, ``angles`` float32 ``(N, 3)``
    yaw, pitch, roll in degrees (:func:`ddfa.morphable.rotation_from_euler`)."""

    images: np.ndarray
    landmarks: np.ndarray
    boxes: np.ndarray
    angles: np.ndarray

    def __len__(self) -> int:
        return len(self.images)


def load_scan(obj: str | Path = DEFAULT_SCAN) -> Scan:
    """Read a Wavefront ``.obj`` (``v``, ``vt``, triangular ``f v/vt``) with its texture ``<stem>.jpg``
    and menpo landmarks ``<stem>.ljson`` beside it.

    Raises:
        InputError: a file is missing or malformed.
        ImageError: the texture cannot be decoded.
    """
    obj = Path(obj)
    texture_path, ljson = obj.with_suffix(".jpg"), obj.with_suffix(".ljson")
    for path in (obj, texture_path, ljson):
        if not path.is_file():
            raise InputError(f"scan file not found: '{path}'")
    v, vt, faces = [], [], []
    for line in obj.read_text().splitlines():
        parts = line.split()
        if not parts:
            continue
        if parts[0] == "v":
            v.append([float(x) for x in parts[1:4]])
        elif parts[0] == "vt":
            vt.append([float(x) for x in parts[1:3]])
        elif parts[0] == "f":
            corners = [p.split("/") for p in parts[1:]]
            if len(corners) != 3 or any(len(c) < 2 or not c[1] for c in corners):
                raise InputError(f"'{obj}': only triangles with texture coordinates are supported, got '{line}'")
            faces.append([[int(c[0]) - 1, int(c[1]) - 1] for c in corners])
    f = np.array(faces, np.int64).reshape(-1, 3, 2)
    vertices, uv = np.array(v, np.float64).reshape(-1, 3), np.array(vt, np.float32).reshape(-1, 2)
    if not len(f) or f[..., 0].max() >= len(vertices) or f[..., 1].max() >= len(uv) or f.min() < 0:
        raise InputError(f"'{obj}' has no faces or faces that index missing vertices")
    groups = json.loads(ljson.read_text())["groups"]["LJSON"]
    points = np.array(groups["landmarks"]["points"], np.float64)
    masks = {label["label"]: label["mask"] for label in groups["labels"]}
    order = [i for name in _IBUG_GROUPS for i in masks.get(name, [])]
    if len(order) != 68:
        raise InputError(f"'{ljson}' does not hold the 68 points in the groups {_IBUG_GROUPS}")
    return Scan(vertices, f[..., 0].astype(np.int32), uv[f[..., 1]], load_image(texture_path), points[order])


def render_scan_views(scan: Scan, yaws=YAWS, pitches=PITCHES, rolls=ROLLS, size: int = 256,
                      face_share: float = 0.45, background: str | Path | np.ndarray | None = DEFAULT_BACKGROUND
                      ) -> ScanViews:
    """Render ``scan`` at every (yaw, pitch, roll) of the grid, landmarks centred, the longer side of the
    frontal 68-point box ``face_share`` of the ``size``-pixel square image.

    ``background``: an RGB image (array or path; resized to cover the view), or None for mid-grey.
    """
    from ddfa.render.raster import rasterize

    if background is None:
        back = np.full((size, size, 3), 128, np.uint8)
    else:
        back = cv2.resize(load_image(background), (size, size), interpolation=cv2.INTER_AREA)
    centre = scan.landmarks.mean(0)
    extent = np.ptp(scan.landmarks[:, :2], axis=0).max()
    scale = face_share * size / extent
    corners = scan.vertices[scan.triangles].reshape(-1, 3) - centre  # one vertex per triangle corner
    tris = np.arange(len(corners), dtype=np.int32).reshape(-1, 3)
    uv = scan.corner_uv.reshape(-1, 2)
    th, tw = scan.texture.shape[:2]
    shift = np.array([(size - 1) / 2, (size - 1) / 2, 0.0])
    images, points, angles = [], [], []
    for yaw in yaws:
        for pitch in pitches:
            for roll in rolls:
                R = rotation_from_euler(yaw, pitch, roll)
                to_image = np.diag([scale, -scale, scale]) @ R  # y up -> image y down; z stays towards the viewer
                lit = rasterize(corners @ to_image.T + shift, tris, uv, size, size)
                u, v = lit.image[..., 0] * (tw - 1), (1 - lit.image[..., 1]) * (th - 1)
                colour = cv2.remap(scan.texture, u, v, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
                images.append(np.where(lit.mask[..., None], colour, back))
                points.append(((scan.landmarks - centre) @ to_image.T + shift)[:, :2])
                angles.append((yaw, pitch, roll))
    pts = np.array(points, np.float32)
    boxes = np.concatenate([pts.min(1), pts.max(1)], 1)
    return ScanViews(np.stack(images), pts, boxes, np.array(angles, np.float32))


@dataclass(frozen=True)
class ScanReport:
    """Per-view 68-point NME (% of the ground-truth box) of one predictor on :class:`ScanViews`."""

    predictor: str
    nme: np.ndarray
    angles: np.ndarray

    @property
    def mean(self) -> float:
        return float(self.nme.mean())

    def by_yaw(self) -> list[tuple[str, int, float]]:
        """(|yaw| bin, views, mean NME) for each bin of ``YAW_BINS`` that holds views."""
        yaw = np.abs(self.angles[:, 0])
        out = []
        for lo, hi in YAW_BINS:
            inside = (yaw >= lo) & (yaw <= hi)
            if inside.any():
                out.append((f"{lo}-{hi}", int(inside.sum()), float(self.nme[inside].mean())))
        return out

    def to_markdown(self) -> str:
        bins = self.by_yaw()
        return "\n".join([
            f"### Scan views — `{self.predictor}` (ground-truth 68-point boxes)", "",
            f"68-point NME (%) on {len(self.nme)} renders of the scan, by |yaw| (degrees).", "",
            "| | " + " | ".join(f"{name} ({n} views)" for name, n, _ in bins) + " | all |",
            "|---" * (len(bins) + 2) + "|",
            f"| {self.predictor} | " + " | ".join(f"{v:.2f}" for *_, v in bins) + f" | **{self.mean:.2f}** |", ""])

    def to_dict(self) -> dict:
        return {"predictor": self.predictor, "views": len(self.nme), "nme_mean": self.mean,
                "nme_by_abs_yaw": {name: {"views": n, "nme": v} for name, n, v in self.by_yaw()}}

    def save(self, outdir: str | Path) -> dict[str, Path]:
        """Write ``report.md``, ``report.json``, ``per_view.npz`` (nme, angles) and ``ced.png`` into ``outdir``."""
        curve = draw_ced({f"{len(self.nme)} views, mean {self.mean:.2f}": self.nme},
                         title=f"Scan views CED, {self.predictor}")
        return save_report(outdir, self.to_markdown(), self.to_dict(), "per_view",
                           {"nme": self.nme, "angles": self.angles}, curve)


def evaluate_scan_views(predictor: LandmarkPredictor, views: ScanViews | None = None, name: str | None = None
                        ) -> ScanReport:
    """Score ``predictor`` on ``views`` (default: :func:`render_scan_views` of :func:`load_scan`)."""
    views = render_scan_views(load_scan()) if views is None else views
    points = np.asarray(predictor.predict(list(views.images), views.boxes), np.float32)
    return ScanReport(name or type(predictor).__name__, nme(points, views.landmarks), views.angles)
