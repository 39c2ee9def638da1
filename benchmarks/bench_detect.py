"""Benchmark the RetinaFace detector: CPU latency on the media photos and recall on AFLW2000-3D.

Usage: python benchmarks/bench_detect.py [--threads 1 2] [--repeats 7] [--max-size 640]

Prints markdown tables:
1. median milliseconds per ``detect`` call (network input size in brackets) for
   every image in ../shared/data/media/images, per onnxruntime thread count;
2. on the 199 ``exact`` crops of ../shared/data/aflw2000-3d (one face each):
   recall = share of crops whose highest-scoring box has IoU > 0.3 with the
   ground-truth 68-point box, the same with any returned box, the median IoU of
   the top box, and the median milliseconds per crop.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path

import numpy as np

from ddfa.detect import RetinaFaceDetector
from ddfa.io import iter_image_paths, load_image

DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data"


def box_iou(a: np.ndarray, b: np.ndarray) -> float:
    inter = np.prod(np.clip(np.minimum(a[2:], b[2:]) - np.maximum(a[:2], b[:2]), 0, None))
    return float(inter / (np.prod(a[2:] - a[:2]) + np.prod(b[2:] - b[:2]) - inter))


def median_ms(detector: RetinaFaceDetector, image: np.ndarray, repeats: int) -> float:
    detector.detect(image)  # warm-up
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        detector.detect(image)
        times.append(time.perf_counter() - t0)
    return 1e3 * statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--max-size", type=int, default=640)
    ap.add_argument("--score-threshold", type=float, default=0.5)
    args = ap.parse_args()

    detectors = {
        t: RetinaFaceDetector(threads=t, max_size=args.max_size, score_threshold=args.score_threshold)
        for t in args.threads
    }
    print(f"RetinaFace-MobileNet0.25, max_size={args.max_size}, score_threshold={args.score_threshold}; "
          f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f} at start\n")

    paths = iter_image_paths(DATA / "media" / "images") if (DATA / "media" / "images").is_dir() else []
    if paths:
        print("| image | size | net input | faces | " + " | ".join(f"ms, {t} thr" for t in args.threads) + " |")
        print("|---|---|---|---|" + "---|" * len(args.threads))
        per_thread: dict[int, list[float]] = {t: [] for t in args.threads}
        for path in paths:
            image = load_image(path)
            h, w = image.shape[:2]
            s = min(1.0, args.max_size / max(h, w))
            faces = len(detectors[args.threads[0]].detect(image))
            row = []
            for t, det in detectors.items():
                ms = median_ms(det, image, args.repeats)
                per_thread[t].append(ms)
                row.append(f"{ms:.1f}")
            print(f"| {path.name} | {w}x{h} | {round(w * s)}x{round(h * s)} | {faces} | " + " | ".join(row) + " |")
        medians = " | ".join(f"**{statistics.median(v):.1f}**" for v in per_thread.values())
        print(f"| **median** | | | | {medians} |\n")
    else:
        print("(media images not found under ../shared/data/media/images)\n")

    npz = DATA / "aflw2000-3d" / "aflw2000_3d.npz"
    if not npz.exists():
        print("(AFLW2000-3D not found under ../shared/data/aflw2000-3d)")
        return
    z = np.load(npz)
    exact = np.flatnonzero(z["exact"])
    crops = [load_image(DATA / "aflw2000-3d" / "images" / str(z["names"][i])) for i in exact]
    gts = [np.r_[z["pts68"][i, :2].min(1), z["pts68"][i, :2].max(1)] for i in exact]

    print(f"| AFLW2000-3D exact ({len(exact)} crops) | recall, top box | recall, any box "
          "| median IoU, top box | ms/crop |")
    print("|---|---|---|---|---|")
    for t, det in detectors.items():
        det.detect(crops[0])
        top_hits = any_hits = 0
        top_ious, times = [], []
        for image, gt in zip(crops, gts):
            t0 = time.perf_counter()
            dets = det.detect(image)
            times.append(time.perf_counter() - t0)
            ious = [box_iou(d.box, gt) for d in dets]
            top_ious.append(ious[0] if ious else 0.0)
            top_hits += bool(ious) and ious[0] > 0.3
            any_hits += bool(ious) and max(ious) > 0.3
        n = len(crops)
        print(f"| {t} thread(s) | {top_hits}/{n} ({100 * top_hits / n:.1f} %) | {any_hits}/{n} | "
              f"{statistics.median(top_ious):.3f} | {1e3 * statistics.median(times):.1f} |")


if __name__ == "__main__":
    main()
