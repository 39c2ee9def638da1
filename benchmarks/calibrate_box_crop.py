"""Re-measure the detector-box -> 68-landmark-box calibration of ``ddfa.pipeline.crop``.

Usage: python benchmarks/calibrate_box_crop.py [--every 1] [--threads 2]

Runs the default RetinaFace detector on the 300-W training crops
(../shared/data/300w; never the AFLW2000-3D evaluation set), matches each
annotated face to the detection whose box contains its landmark-box centre,
and prints the medians (and spreads) of the three constants next to the ones in
``BOX_CALIBRATION``, plus how well the resulting crops match the training crops
made from the annotations.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from ddfa.data.readers import read_300w
from ddfa.detect import RetinaFaceDetector
from ddfa.io import load_image
from ddfa.morphable.frames import roi_from_landmarks
from ddfa.pipeline.crop import BOX_CALIBRATION, fit_box_calibration, match_detection, roi_from_box

DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--every", type=int, default=1, help="use every n-th face (default: all)")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()

    items = read_300w(DATA / "300w")[:: args.every]
    det = RetinaFaceDetector(threads=args.threads)
    boxes, points, missed = [], [], 0
    t0 = time.perf_counter()
    for it in items:
        match = match_detection(det.detect(load_image(it.image_path)), it.points)
        if match is None:
            missed += 1
            continue
        boxes.append(match.box)
        points.append(it.points)
    b, p = np.array(boxes, np.float64), np.array(points, np.float64)
    fit = fit_box_calibration(b, p)
    w, h = b[:, 2] - b[:, 0], b[:, 3] - b[:, 1]
    lo, hi = p.min(1), p.max(1)
    off = 0.5 * (lo + hi) - 0.5 * (b[:, :2] + b[:, 2:])
    side = (hi - lo).max(1) / np.sqrt(w * h)
    print(f"{len(items)} faces, {missed} without a matching detection, {time.perf_counter() - t0:.0f} s")
    print("| constant | measured median | std | in code |")
    print("|---|---:|---:|---:|")
    print(f"| dx (x offset / w) | {fit.dx:.4f} | {np.std(off[:, 0] / w):.4f} | {BOX_CALIBRATION.dx} |")
    print(f"| dy (y offset / h) | {fit.dy:.4f} | {np.std(off[:, 1] / h):.4f} | {BOX_CALIBRATION.dy} |")
    print(f"| side (edge / sqrt(w h)) | {fit.side:.4f} | {np.std(side / fit.side):.4f} (rel.) | "
          f"{BOX_CALIBRATION.side} |")
    est = [roi_from_box(x) for x in b]
    ref = [roi_from_landmarks(x) for x in p]
    centre = np.array([np.hypot(e.cx - r.cx, e.cy - r.cy) / r.side for e, r in zip(est, ref)])
    ratio = np.array([e.side / r.side for e, r in zip(est, ref)])
    print(f"box crop vs training crop: centre error median {np.median(centre):.3f}, 90th pct "
          f"{np.percentile(centre, 90):.3f} (x side); side ratio median {np.median(ratio):.3f}, "
          f"5-95th pct {np.percentile(ratio, 5):.3f}-{np.percentile(ratio, 95):.3f}")


if __name__ == "__main__":
    main()
