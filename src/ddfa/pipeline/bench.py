"""Stage-by-stage timing of the image pipeline (used by ``ddfa bench`` and ``benchmarks/bench_pipeline.py``).

For each configuration (backend x threads) every image is run ``repeats``
times in one process after one warm-up pass. Each stage is timed on its own:

- ``decode``: read and decode the file (:func:`ddfa.io.load_image`);
- ``detect``: the face detector;
- ``crop``: the 120 x 120 crops of all faces;
- ``regress``: the network, all faces of the image in one batch;
- ``sparse`` / ``dense``: the 68 landmarks / the dense vertices, image frame;
- ``pose``: pose decomposition, Euler angles, image-frame pose matrix;
- ``draw``: the overlay drawings (``draw_kinds``) of all faces;
- ``end_to_end``: ``load_image`` + ``FaceAligner.align`` + drawing, as a user runs it
  (the dense mesh is built only if a drawing needs it).

Reported numbers are milliseconds per image: the median over repeats of the
mean over images.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ddfa.io import load_image
from ddfa.morphable import layout
from ddfa.morphable.frames import vertex_to_image
from ddfa.morphable.pose import decompose, euler_from_rotation
from ddfa.pipeline.aligner import FaceAligner
from ddfa.pipeline.crop import crop_faces, roi_from_box
from ddfa.pipeline.face import build_faces, image_pose_matrix
from ddfa.pipeline.visualize import draw_faces

__all__ = ["STAGES", "BenchResult", "benchmark", "format_table"]

STAGES = ("decode", "detect", "crop", "regress", "sparse", "dense", "pose", "draw", "end_to_end")


@dataclass(frozen=True)
class BenchResult:
    """Median ms per image of each stage for one configuration."""

    backend: str
    threads: int
    ms: dict[str, float]
    images: int
    faces: int

    @property
    def label(self) -> str:
        return f"{self.backend} x{self.threads}"


def _clock(fn, *args, **kwargs):
    t = time.perf_counter()
    out = fn(*args, **kwargs)
    return out, (time.perf_counter() - t) * 1e3


def benchmark(
    paths: Sequence[str | os.PathLike],
    backend: str = "onnxruntime",
    threads: int = 1,
    repeats: int = 5,
    draw_kinds: Sequence[str] = ("landmarks", "mesh", "pose"),
    progress: bool = False,
    **aligner_options,
) -> BenchResult:
    """Time every stage on ``paths``; ``aligner_options`` go to :class:`FaceAligner` (model, weights).
    ``progress`` shows a bar on stderr (one step per image and pass, warm-up included)."""
    import sys

    from tqdm import tqdm

    aligner = FaceAligner(backend=backend, threads=threads, **aligner_options)
    bar = tqdm(total=(repeats + 1) * len(paths), unit="image", file=sys.stderr, disable=not progress,
               desc=f"{backend} x{threads}", leave=False)
    model = aligner.face_model
    times = {s: np.zeros((repeats, len(paths))) for s in STAGES}
    faces_seen = 0
    for r in range(-1, repeats):  # r = -1: warm-up (lazy initialisation, caches), not recorded
        for j, path in enumerate(paths):
            t = {}
            image, t["decode"] = _clock(load_image, path)
            dets, t["detect"] = _clock(aligner.detect, image)
            boxes = np.array([d.box for d in dets], np.float32).reshape(-1, 4)
            rois = [roi_from_box(b) for b in boxes]
            (crops, affines), t["crop"] = _clock(crop_faces, image, rois)
            params, t["regress"] = _clock(aligner.regressor, crops)
            t["sparse"] = t["dense"] = t["pose"] = 0.0  # nothing to reconstruct without a face
            if len(params):
                _, t["sparse"] = _clock(lambda: vertex_to_image(model.vertices(params, dense=False), affines))
                _, t["dense"] = _clock(lambda: vertex_to_image(model.vertices(params, dense=True), affines))
                _, t["pose"] = _clock(lambda: (euler_from_rotation(decompose(layout.pose_matrix(params))[1]),
                                               image_pose_matrix(params, affines)))
            faces = build_faces(model, params, rois, boxes, np.ones(len(rois)), dense=True)
            _, t["draw"] = _clock(draw_faces, image, faces, draw_kinds)
            t0 = time.perf_counter()
            image = load_image(path)
            draw_faces(image, aligner.align(image), draw_kinds)
            t["end_to_end"] = (time.perf_counter() - t0) * 1e3
            if r >= 0:
                for s in STAGES:
                    times[s][r, j] = t[s]
                faces_seen += len(faces) if r == 0 else 0
            bar.update(1)
    bar.close()
    ms = {s: float(np.median(times[s].mean(1))) for s in STAGES}
    return BenchResult(backend, threads, ms, len(paths), faces_seen)


def format_table(results: Sequence[BenchResult]) -> str:
    """Markdown table: one row per stage, one column per configuration."""
    head = "| stage (ms/image) | " + " | ".join(r.label for r in results) + " |"
    rule = "|---|" + "---:|" * len(results)
    rows = [f"| {s} | " + " | ".join(f"{r.ms[s]:.1f}" for r in results) + " |" for s in STAGES]
    return "\n".join([head, rule, *rows])
