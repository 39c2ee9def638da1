"""Speed of the photo and video pipelines against the pipeline before the speed work, in one run.

Usage: python benchmarks/bench_speed.py [--rounds 7] [--baseline c59c7eb|options] [--video V.mp4 ...]
    [--video-frames 120] [--profile]

One thread (set OMP_NUM_THREADS=1 too). The 12 media photos are decoded once; every row runs the
new pipeline (``FaceAligner()``) and the baseline on the same data, in alternating order, for
``--rounds`` paired rounds; the ratio is the median of the per-round ratios. The baseline is, by
default, the default ``FaceAligner()`` of commit c59c7eb, the pipeline issue 20 measured 3DDFA_V2's
ONNX path against (its parent of the first speed change; ``git archive`` of its ``src/ddfa``,
imported beside this tree as ``ddfa_then``, as ``bench_versus_commit.py`` does), so the 3DDFA_V2
column converts each ratio with that issue's side-by-side figures: photo 0.94, detector 0.85, per
face 1.77 (one per call) and 1.43 (all in one call), network 1.11. ``--baseline options`` rebuilds
the old settings from this tree's options instead (``FaceAligner(detector=RetinaFaceDetector(
**BASELINE_OPTIONS), prerotate=False, precision="float32", flip_test=False)``: the 640 px one-pass
detector with numpy pre-processing, the float32 network, no flip test in video); it shares every
later code-level saving, so its 3DDFA_V2 column errs on the slow side. Any other git revision is
taken as a commit.

Rows: photo pipeline (``align(image)``, ms/image); detector alone (ms/image); per face, one face
per call (``align(image, boxes=[box])``) and all faces of an image in one call (ms/face, the
baseline detector's boxes for both); network alone, batch 1 (ms/face); dense mesh (ms/face).
Video: frames per second of ``track()`` (new: the Lite0 video model, int8; baseline; and the 0.5's
video default, ``FaceAligner(model="mobilenet_v1_0.5")``: float32 with the flip test, the default
before the Lite0) and of a 3DDFA_V2-demo-style loop
(detect on the first frame, then crop every frame from the last frame's landmarks), on the
first ``--video-frames`` frames of each media video (or ``--video``), decoded once. ``--profile`` adds the
per-stage profile of the photo pipeline (docs/speed.md).
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from ddfa.detect.retinaface import BASELINE_OPTIONS, RetinaFaceDetector
from ddfa.io import iter_image_paths, load_image
from ddfa.morphable.frames import vertex_to_image
from ddfa.pipeline import FaceAligner
from ddfa.pipeline.crop import crop_faces, roi_from_box

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_versus_commit import aligner_of_commit, alternating, paired  # noqa: E402

DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "media"
BASELINE_COMMIT = "c59c7eb"  # the pipeline of issue 20's side-by-side figures
REFERENCE = {"photo pipeline": 0.94, "detector alone": 0.85, "per face, one per call": 1.77,
             "per face, all in one call": 1.43, "network alone, batch 1": 1.11}


def baseline_aligner(revision: str, where: Path):
    """The pipeline before the speed work: ``"options"`` rebuilds it from this tree's options, any other
    revision is that commit's default ``FaceAligner()``, unpacked under ``where``."""
    if revision == "options":
        return FaceAligner(model="mobilenet_v1_0.5", detector=RetinaFaceDetector(**BASELINE_OPTIONS),
                           prerotate=False, precision="float32", flip_test=False)
    return aligner_of_commit(revision, where)


def _module(aligner, name: str):
    """Module ``name`` of the package the aligner comes from (this tree's ``ddfa`` or ``ddfa_then``)."""
    return importlib.import_module(f"{type(aligner).__module__.split('.')[0]}.{name}")


def rows(aligner: FaceAligner, images, items, per_image, crops) -> dict:
    """name -> (function running one round, number of units it covers)."""
    inner = getattr(aligner.regressor, "regressor", aligner.regressor)
    model = aligner.face_model
    params = inner(np.concatenate(crops))

    def dense():
        for p, (_, box) in zip(params, items):
            vertex_to_image(model.vertices(p[None], dense=True), roi_from_box(box).affine()[None])

    return {
        "photo pipeline": (lambda: [aligner.align(im) for im in images], len(images)),
        "detector alone": (lambda: [aligner.detect(im) for im in images], len(images)),
        "per face, one per call": (lambda: [aligner.align(im, boxes=b[None]) for im, b in items], len(items)),
        "per face, all in one call": (lambda: [aligner.align(im, boxes=b) for im, b in per_image], len(items)),
        "network alone, batch 1": (lambda: [inner(c) for c in crops], len(items)),
        "dense mesh": (dense, len(items)),
    }


def paired_rows(new: dict, base: dict, rounds: int) -> list[tuple[str, float, float, float]]:
    """(row, new ms/unit, baseline ms/unit, median ratio) of each row, in paired rounds after one warm-up."""
    out = []
    for name, (f_new, n) in new.items():
        t_new, t_base, ratio = paired(f_new, base[name][0], rounds)
        out.append((name, 1e3 * t_new / n, 1e3 * t_base / n, ratio))
    return out


def demo_loop(aligner: FaceAligner, frames) -> None:
    """3DDFA_V2's demo: detect on the first frame, then crop each frame from the last landmarks (detecting
    again when there is no face, or when the landmarks collapsed to a point as the face left)."""
    input_error = _module(aligner, "errors").InputError
    faces = aligner.align(frames[0])
    for frame in frames[1:]:
        try:
            faces = aligner.align(frame, landmarks=[f.landmarks for f in faces]) if faces else aligner.align(frame)
        except input_error:
            faces = aligner.align(frame)


def video_fps(new: FaceAligner, base: FaceAligner, previous: FaceAligner, frames,
              rounds: int) -> list[tuple[str, float, float]]:
    """(loop, median fps, median of the per-round ratios of its fps to the first loop's), loops alternating."""
    runs = {"track(), new": lambda: sum(1 for _ in new.track(frames)),
            "track(), baseline": lambda: sum(1 for _ in base.track(frames)),
            "track(), 0.5 video default": lambda: sum(1 for _ in previous.track(frames)),
            "demo-style loop, new aligner": lambda: demo_loop(new, frames),
            "demo-style loop, baseline aligner": lambda: demo_loop(base, frames)}
    for aligner in (new, base, previous):  # warm-up: builds the video regressor and the detector sessions
        sum(1 for _ in aligner.track(frames[:2]))
    times = alternating(runs, max(1, rounds // 2))
    first = times["track(), new"]
    return [(k, len(frames) / float(np.median(v)), float(np.median(first / v))) for k, v in times.items()]


def profile(aligner: FaceAligner, images) -> dict[str, float]:
    """ms per image of each stage of ``align(image)``, stage by stage, over one round of ``images`` (each
    stage by the functions of the aligner's own package)."""
    crop, build_faces = _module(aligner, "pipeline.crop"), _module(aligner, "pipeline.face").build_faces
    prerotate = getattr(aligner, "prerotate", False)  # pre-rotated crops came with the speed work
    det = aligner.detector
    inner = getattr(aligner.regressor, "regressor", aligner.regressor)
    acc: dict[str, float] = {}
    for im in images:
        t = {}
        t0 = time.perf_counter()
        dets = det.detect(im)
        t["detect"] = time.perf_counter() - t0
        boxes = np.array([d.box for d in dets], np.float32).reshape(-1, 4)
        t0 = time.perf_counter()
        rois = [crop.roi_from_box(b) for b in boxes]
        turns = crop.eye_turns(dets) if prerotate else None
        crops, _ = crop.crop_faces(im, rois) if turns is None else crop.crop_faces(im, rois, turns=turns)
        t["crop"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        inner(crops)
        t["network, first pass"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        params = aligner.regressor(crops)
        params = params if turns is None else crop.unturn_params(params, turns)
        t["network + upright pass"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        build_faces(aligner.face_model, params, rois, boxes, np.ones(len(rois)))
        t["68 points, pose, expression"] = time.perf_counter() - t0
        for k, v in t.items():
            acc[k] = acc.get(k, 0.0) + 1e3 * v / len(images)
    return acc


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--images", type=Path, default=DATA / "images")
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--baseline", default=BASELINE_COMMIT,
                    help=f"a git revision, or 'options' (default {BASELINE_COMMIT}, issue 20's pipeline)")
    ap.add_argument("--video", type=Path, nargs="*", default=None,
                    help="videos for the fps table (default: every media video)")
    ap.add_argument("--video-frames", type=int, default=120)
    ap.add_argument("--profile", action="store_true")
    args = ap.parse_args()

    images = [load_image(p) for p in iter_image_paths(args.images)]
    where = tempfile.TemporaryDirectory()
    new, base = FaceAligner(), baseline_aligner(args.baseline, Path(where.name))
    boxes = [np.array([d.box for d in base.detect(im)], np.float32).reshape(-1, 4) for im in images]
    per_image = [(im, b) for im, b in zip(images, boxes) if len(b)]
    items = [(im, box) for im, b in per_image for box in b]
    crops = [crop_faces(im, [roi_from_box(box)])[0] for im, box in items]
    print(f"baseline {args.baseline}: {len(images)} photos, {len(items)} faces (baseline detector), "
          f"{args.rounds} paired rounds, {os.cpu_count()} CPUs, OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}\n")
    print("| row | new (ms) | baseline (ms) | new / baseline | new / 3DDFA_V2 ONNX (issue 20 reference) |")
    print("|---|---:|---:|---:|---:|")
    for name, t_new, t_base, ratio in paired_rows(rows(new, images, items, per_image, crops),
                                                  rows(base, images, items, per_image, crops), args.rounds):
        ref = f"{ratio * REFERENCE[name]:.2f}" if name in REFERENCE else "—"
        unit = "image" if name in ("photo pipeline", "detector alone") else "face"
        print(f"| {name} (ms/{unit}) | {t_new:.2f} | {t_base:.2f} | {ratio:.2f} | {ref} |", flush=True)

    videos = [v for v in (args.video or sorted((DATA / "videos").glob("*.*"))) if v.is_file()]
    if args.video_frames and videos:
        from ddfa.pipeline.video import VideoReader

        print(f"\nVideo, the first {args.video_frames} frames of each: frames per second (median of rounds), and in "
              "brackets the median of the per-round ratios to track() of the new pipeline:\n")
        print("| video | frames | track(), new | track(), baseline | track(), the 0.5's video default | "
              "demo-style loop, new aligner | demo-style loop, baseline aligner |\n|---|---|---:|---:|---:|---:|---:|")
        previous = FaceAligner(model="mobilenet_v1_0.5")  # float32 + flip test: the video default before the Lite0
        for path in videos:
            with VideoReader.open(path) as reader:
                frames = list(reader.frames(args.video_frames))
            if not frames:
                continue
            cells = [f"{fps:.1f}" + ("" if i == 0 else f" ({ratio:.2f})")
                     for i, (_, fps, ratio) in enumerate(video_fps(new, base, previous, frames, args.rounds))]
            print(f"| {path.name} | {len(frames)} at {frames[0].shape[1]}x{frames[0].shape[0]} | "
                  + " | ".join(cells) + " |", flush=True)

    if args.profile:
        runs = []
        for r in range(args.rounds):  # paired: the two pipelines alternate
            pair = (profile(new, images), profile(base, images)) if r % 2 == 0 else \
                tuple(reversed((profile(base, images), profile(new, images))))
            runs.append(pair)
        print("\nPer-stage profile of align(image), ms/image (medians of paired rounds):\n")
        print("| stage | new | baseline | new / baseline |\n|---|---:|---:|---:|")
        for stage in runs[0][0]:
            a, b = (np.array([run[i][stage] for run in runs]) for i in (0, 1))
            print(f"| {stage} | {np.median(a):.2f} | {np.median(b):.2f} | {np.median(a / np.maximum(b, 1e-9)):.2f} |")


if __name__ == "__main__":
    main()
